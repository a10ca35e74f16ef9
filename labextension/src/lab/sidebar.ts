/**
 * The left sidebar: every cluster (made here, in a notebook or on the command line) with its
 * numbers and controls, the "New cluster" form, and a banner when the server side is not right.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';
import { formatBytes } from '../core/format';
import type { Cluster, WorkerInfo } from '../core/types';
import { button, clear, h } from '../panes/dom';
import { PANE_TITLES, type PaneKind } from '../panes/pane';
import { LABEXTENSION_VERSION } from '../version';
import { ClusterForm } from './clusterForm';
import type { ClusterStore } from './clusterStore';
import { clusterIcon } from './icons';

/** What the sidebar asks the rest of the extension to do. */
export interface SidebarActions {
  openPane(cluster: Cluster, kind: PaneKind): void;
  openLayout(cluster: Cluster): void;
  connectNotebook(cluster: Cluster): string | null;
  openWorkerConsole(cluster: Cluster, worker: WorkerInfo): Promise<void>;
}

const PANES: PaneKind[] = ['task-stream', 'progress', 'workers', 'futures', 'profile', 'logs'];

/** The sidebar widget (id "jupyter-futures-sidebar"). */
export class ClusterSidebar extends Widget {
  private banner: HTMLElement;
  private list: HTMLElement;
  private empty: HTMLElement;
  private formBox: HTMLElement;
  private form: ClusterForm;
  private newButton: HTMLButtonElement;
  /** Per cluster: whether its worker list is open, and messages to show on its card. */
  private openWorkers = new Set<string>();
  private messages = new Map<string, { text: string; error: boolean }>();
  /** Scale inputs being edited are not overwritten by live updates. */
  private editing = new Map<string, { [field: string]: string }>();

  constructor(
    private store: ClusterStore,
    private actions: SidebarActions
  ) {
    super();
    this.id = 'jupyter-futures-sidebar';
    this.addClass('jf-sidebar');
    this.title.icon = clusterIcon;
    this.title.caption = 'jupyter_futures clusters';
    this.node.dataset.state = 'checking';
    this.newButton = button('New cluster', () => this.toggleForm(), { className: 'jf-button jf-mod-accept jf-new-cluster' });
    this.banner = h('div', { className: 'jf-banner', role: 'alert', hidden: true });
    this.form = new ClusterForm(
      store.api,
      cluster => {
        this.formBox.hidden = true;
        this.store.update(cluster);
        this.say(cluster.id, `Started ${cluster.name}.`, false);
      },
      () => (this.formBox.hidden = true)
    );
    this.formBox = h('div', { className: 'jf-form-box', hidden: true }, this.form.node);
    this.list = h('div', { className: 'jf-cluster-list' });
    this.empty = h('div', { className: 'jf-empty jf-sidebar-empty', hidden: true });
    this.node.append(
      h(
        'div',
        { className: 'jf-sidebar-header' },
        h('span', { className: 'jf-sidebar-title' }, 'jupyter_futures clusters'),
        this.newButton,
        button('↻', () => void this.store.start(), { title: 'Refresh', className: 'jf-button jf-icon-button', 'aria-label': 'Refresh' })
      ),
      this.banner,
      this.formBox,
      this.empty,
      this.list
    );
    store.changed.connect(this.render, this);
    this.render();
  }

  private toggleForm(): void {
    this.formBox.hidden = !this.formBox.hidden;
    if (!this.formBox.hidden) {
      void this.form.load();
    }
  }

  private render(): void {
    const s = this.store.server;
    this.renderBanner();
    const usable = s.kind === 'ok' || s.kind === 'mismatch';
    this.newButton.disabled = !usable;
    this.node.dataset.state = s.kind === 'checking' ? 'checking' : !usable ? 'unavailable' : this.store.loaded ? 'loaded' : 'loading';
    this.empty.hidden = !(usable && this.store.loaded && this.store.clusters.length === 0);
    clear(this.empty);
    this.empty.append(
      'No clusters yet. Start one with ',
      h('strong', {}, 'New cluster'),
      ', or run ',
      h('code', {}, 'client = Client()'),
      ' in a notebook.'
    );
    if (!usable) {
      clear(this.list);
      return;
    }
    const existing = new Map<string, HTMLElement>();
    for (const el of [...this.list.children] as HTMLElement[]) {
      existing.set(el.dataset.id!, el);
    }
    const focused = document.activeElement;
    for (const c of this.store.clusters) {
      const old = existing.get(c.id);
      existing.delete(c.id);
      // Rebuild a card only when what its controls show changed: live numbers are updated in
      // place, so a click or a worker count being typed is never lost to a rebuild.
      const signature = cardSignature(c, this.messages.get(c.id));
      const typing = focused instanceof HTMLInputElement && focused.type !== 'checkbox' && old?.contains(focused);
      if (old && (old.dataset.signature === signature || typing)) {
        this.fillStats(old, c);
        continue;
      }
      const card = this.card(c);
      if (old) {
        old.replaceWith(card);
      } else {
        this.list.append(card);
      }
    }
    existing.forEach(el => el.remove());
    this.node.dataset.clusters = String(this.store.clusters.length);
  }

  private renderBanner(): void {
    const s = this.store.server;
    clear(this.banner);
    this.banner.hidden = true;
    this.banner.className = 'jf-banner';
    const show = (cls: string, ...parts: (string | Node)[]) => {
      this.banner.hidden = false;
      this.banner.classList.add(cls);
      this.banner.append(...parts);
    };
    if (s.kind === 'missing') {
      show(
        'jf-mod-error',
        h('strong', {}, 'The jupyter_futures server extension is not running in this Jupyter server. '),
        'It is either not installed in the server’s Python environment or not enabled. Install it there (',
        h('code', {}, 'pip install jupyter_futures'),
        '), check ',
        h('code', {}, 'jupyter server extension list'),
        ', enable it with ',
        h('code', {}, 'jupyter server extension enable jupyter_futures'),
        ', then restart Jupyter.'
      );
      this.banner.dataset.kind = 'missing';
    } else if (s.kind === 'mismatch') {
      show(
        'jf-mod-warn',
        h('strong', {}, 'Version mismatch. '),
        `This page has the jupyter_futures labextension ${LABEXTENSION_VERSION}, but the server extension is ${s.status.version}. ` +
          'Reinstall jupyter_futures in one environment, restart Jupyter and reload this page.'
      );
      this.banner.dataset.kind = 'mismatch';
    } else if (s.kind === 'error') {
      show(
        'jf-mod-error',
        h('strong', {}, 'The jupyter_futures server extension does not answer. '),
        `${s.detail}. Retrying every few seconds.`
      );
      this.banner.dataset.kind = 'error';
    } else if (s.kind === 'ok' && s.status.problems?.length) {
      show('jf-mod-warn', h('strong', {}, 'Problems: '), s.status.problems.join(' · '));
      this.banner.dataset.kind = 'problems';
    }
  }

  private card(c: Cluster): HTMLElement {
    const msg = this.messages.get(c.id);
    const card = h(
      'div',
      { className: `jf-cluster jf-status-${c.status}`, 'data-id': c.id, 'data-name': c.name, 'data-workers': c.workers },
      h(
        'div',
        { className: 'jf-cluster-head' },
        h('span', { className: 'jf-cluster-dot', title: c.status }),
        h('span', { className: 'jf-cluster-name', title: c.id }, c.name || c.id),
        h('span', { className: 'jf-cluster-madeby', title: 'made by' }, c.made_by),
        c.selected ? h('span', { className: 'jf-badge', title: 'new kernels’ Client() joins it' }, 'selected') : null
      ),
      h('div', { className: 'jf-cluster-address', title: 'scheduler address' }, c.address),
      h('div', { className: 'jf-cluster-stats' }),
      c.status === 'unreachable'
        ? h('div', { className: 'jf-error' }, 'The scheduler does not answer. It may be starting, or its process hangs; stop it if it does not recover.')
        : null,
      this.scaleControls(c),
      h(
        'div',
        { className: 'jf-cluster-buttons' },
        button('Connect notebook', () => this.connect(c), {
          className: 'jf-button jf-connect',
          title: 'Insert a cell that connects the active notebook to this cluster'
        }),
        this.selectToggle(c),
        button('Restart', () => void this.run(c, 'Restarting…', async () => this.store.update(await this.store.api.restart(c.id))), {
          className: 'jf-button jf-restart',
          title: 'Restart all workers (their data is lost)'
        }),
        button('Stop', () => void this.stop(c), { className: 'jf-button jf-mod-warn jf-stop', title: 'Stop this cluster' })
      ),
      h(
        'div',
        { className: 'jf-cluster-panes' },
        ...PANES.map(kind =>
          button(PANE_TITLES[kind], () => this.actions.openPane(c, kind), {
            className: 'jf-button jf-pane-button',
            'data-pane': kind
          })
        ),
        button('Layout', () => this.actions.openLayout(c), {
          className: 'jf-button jf-pane-button',
          'data-pane': 'layout',
          title: 'Task stream, progress and workers side by side'
        })
      ),
      this.workerList(c),
      h('div', { className: `jf-cluster-message${msg?.error ? ' jf-error' : ''}`, role: 'status' }, msg?.text ?? '')
    );
    this.fillStats(card, c);
    card.dataset.signature = cardSignature(c, msg);
    return card;
  }

  private fillStats(card: HTMLElement, c: Cluster): void {
    const stats = card.querySelector('.jf-cluster-stats')!;
    clear(stats);
    const item = (label: string, value: string, cls: string) =>
      h('span', { className: `jf-stat ${cls}` }, h('span', { className: 'jf-stat-value' }, value), ' ', label);
    stats.append(
      item(c.workers === 1 ? 'worker' : 'workers', String(c.workers ?? 0), 'jf-stat-workers'),
      item('threads', String(c.threads ?? 0), 'jf-stat-threads'),
      item('memory', `${formatBytes(c.memory)}${c.memory_limit ? ' / ' + formatBytes(c.memory_limit) : ''}`, 'jf-stat-memory'),
      item('processing', String(c.tasks?.processing ?? 0), 'jf-stat-processing')
    );
    card.dataset.workers = String(c.workers ?? 0);
    for (const w of c.worker_list ?? []) {
      const line = card.querySelector(`.jf-worker-item[data-address="${CSS.escape(w.address)}"] .jf-muted`);
      if (line) {
        line.textContent = workerLine(w);
      }
    }
  }

  private scaleControls(c: Cluster): HTMLElement {
    const edits = this.editing.get(c.id) ?? {};
    const remember = (field: string, input: HTMLInputElement) =>
      input.addEventListener('input', () => this.editing.set(c.id, { ...(this.editing.get(c.id) ?? {}), [field]: input.value }));
    const workers = h('input', { className: 'jf-input jf-scale-input', type: 'number', min: 0, 'aria-label': 'Workers' });
    workers.value = edits.workers ?? String(c.workers ?? 0);
    remember('workers', workers);
    const min = h('input', { className: 'jf-input jf-adapt-min', type: 'number', min: 0, 'aria-label': 'Adapt minimum' });
    const max = h('input', { className: 'jf-input jf-adapt-max', type: 'number', min: 1, 'aria-label': 'Adapt maximum' });
    min.value = edits.min ?? String(c.adapt?.minimum ?? Math.max(0, c.workers ?? 0));
    max.value = edits.max ?? String(c.adapt?.maximum ?? Math.max(1, (c.workers ?? 0) * 2));
    remember('min', min);
    remember('max', max);
    const disabled = !c.scalable;
    for (const i of [workers, min, max]) {
      i.disabled = disabled;
    }
    const scale = button(
      'Scale',
      () =>
        void this.run(c, `Scaling to ${workers.value} workers…`, async () => {
          const n = Number(workers.value);
          if (!Number.isInteger(n) || n < 0) {
            throw new Error('The number of workers must be a whole number, 0 or more.');
          }
          this.editing.delete(c.id);
          this.store.update(await this.store.api.scale(c.id, n));
        }),
      { className: 'jf-button jf-scale' }
    );
    const adapt = button(
      c.adapt ? 'Update' : 'Adapt',
      () =>
        void this.run(c, 'Adapting…', async () => {
          const a = Number(min.value);
          const b = Number(max.value);
          if (!Number.isInteger(a) || !Number.isInteger(b) || a < 0 || b < Math.max(1, a)) {
            throw new Error('Adapt needs whole numbers with 0 ≤ minimum ≤ maximum and maximum ≥ 1.');
          }
          this.editing.delete(c.id);
          this.store.update(await this.store.api.adapt(c.id, { minimum: a, maximum: b }));
        }),
      { className: 'jf-button jf-adapt' }
    );
    const stopAdapt = c.adapt
      ? button('Stop adapting', () => void this.run(c, 'Stopping adaptive scaling…', async () => this.store.update(await this.store.api.adapt(c.id, null))), {
          className: 'jf-button jf-adapt-off'
        })
      : null;
    scale.disabled = adapt.disabled = disabled;
    return h(
      'div',
      { className: 'jf-scale-controls', title: disabled ? 'Its workers were started by hand: scale it where they run.' : '' },
      h('span', { className: 'jf-scale-row' }, 'Workers ', workers, scale),
      h(
        'span',
        { className: 'jf-scale-row' },
        c.adapt ? `Adapting ${c.adapt.minimum}–${c.adapt.maximum}: ` : 'or adapt ',
        min,
        '–',
        max,
        adapt,
        stopAdapt
      )
    );
  }

  private selectToggle(c: Cluster): HTMLElement {
    const box = h('input', { type: 'checkbox', className: 'jf-select-toggle' });
    box.checked = !!c.selected;
    box.addEventListener('change', () => {
      void this.run(c, box.checked ? 'Selecting…' : 'Unselecting…', async () => {
        await this.store.api.select(box.checked ? c.id : null);
        await this.store.refresh();
      });
    });
    return h('label', { className: 'jf-check', title: 'Client() with no address in new kernels joins this cluster' }, box, 'use for new kernels');
  }

  private workerList(c: Cluster): HTMLElement {
    const details = h('details', { className: 'jf-worker-list' });
    details.open = this.openWorkers.has(c.id);
    details.addEventListener('toggle', () => (details.open ? this.openWorkers.add(c.id) : this.openWorkers.delete(c.id)));
    details.append(h('summary', {}, `Workers (${c.worker_list?.length ?? 0})`));
    for (const w of c.worker_list ?? []) {
      details.append(
        h(
          'div',
          { className: 'jf-worker-item', 'data-address': w.address },
          h(
            'span',
            { className: 'jf-worker-item-name', title: w.address },
            w.name && w.name !== w.address ? `${w.name} · ${w.address.replace(/^tcp:\/\//, '')}` : w.address.replace(/^tcp:\/\//, '')
          ),
          h('span', { className: 'jf-muted' }, workerLine(w)),
          button(
            'Console',
            () => void this.run(c, `Opening a console on ${w.name}…`, () => this.actions.openWorkerConsole(c, w), 'Console opened.'),
            { className: 'jf-button jf-worker-console', title: 'Open a console running inside this worker process' }
          )
        )
      );
    }
    if (!c.worker_list?.length) {
      details.append(h('div', { className: 'jf-muted' }, 'No workers. Scale up to add some.'));
    }
    return details;
  }

  private connect(c: Cluster): void {
    const result = this.actions.connectNotebook(c);
    this.say(c.id, result ?? 'Inserted a cell that connects the active notebook; run it.', result !== null);
  }

  private async stop(c: Cluster): Promise<void> {
    const answer = await showDialog({
      title: 'Stop cluster?',
      body: `Stop “${c.name}” (${c.address})? Its workers stop and the results they hold are lost; clients using it lose their connection.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Stop' })]
    });
    if (!answer.button.accept) {
      return;
    }
    await this.run(c, 'Stopping…', async () => {
      await this.store.api.stop(c.id);
      this.store.remove(c.id);
    });
  }

  /** Runs an action of a card, showing progress, then success or the server's error on the card. */
  private async run(c: Cluster, busy: string, fn: () => Promise<unknown>, done = ''): Promise<void> {
    this.say(c.id, busy, false);
    try {
      await fn();
      this.say(c.id, done, false);
    } catch (err) {
      this.say(c.id, (err as Error).message, true);
    }
  }

  private say(id: string, text: string, error: boolean): void {
    const card = this.list.querySelector<HTMLElement>(`.jf-cluster[data-id="${CSS.escape(id)}"]`);
    if (text) {
      this.messages.set(id, { text, error });
    } else {
      this.messages.delete(id);
    }
    const el = card?.querySelector('.jf-cluster-message');
    if (card && el) {
      el.textContent = text;
      el.classList.toggle('jf-error', error);
      const c = this.store.get(id);
      if (c) {
        card.dataset.signature = cardSignature(c, this.messages.get(id));
      }
    }
  }
}

/** What a card's structure depends on (not its live numbers). */
function cardSignature(c: Cluster, msg: { text: string; error: boolean } | undefined): string {
  return JSON.stringify([
    c.name,
    c.address,
    c.made_by,
    c.status,
    c.selected,
    c.scalable,
    c.adapt,
    c.workers,
    (c.worker_list ?? []).map(w => [w.address, w.name, w.nthreads]),
    msg ?? null
  ]);
}

/** A worker's live line in the card. */
function workerLine(w: WorkerInfo): string {
  return `${w.nthreads} thr · ${formatBytes(w.memory)} · ${w.processing ?? 0} running`;
}
