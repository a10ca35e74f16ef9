/**
 * Logs: each worker's log lines and each task's stdout/stderr, searchable and filterable by
 * worker, kind and task key; follows new lines unless paused (scrolling up pauses).
 */
import { formatClock } from '../core/format';
import { LogStore, emptyFilter, passes, type LogFilter } from '../core/logs';
import type { LogRecord } from '../core/types';
import { button, clear, h, select, setOptions } from './dom';
import { Pane, type PaneContext } from './pane';

const MAX_SHOWN = 2000;

/** The logs pane. */
export class LogsPane extends Pane {
  readonly store = new LogStore(5000);
  private filter: LogFilter = emptyFilter();
  private list: HTMLElement;
  private workerSelect: HTMLSelectElement;
  private pauseButton: HTMLButtonElement;
  private countNode: HTMLElement;
  private follow = true;
  private shown = 0;
  private pendingRender = false;
  private queued: LogRecord[] = [];

  constructor(ctx: PaneContext) {
    super('logs', ctx);
    const text = h('input', { className: 'jf-input jf-logs-search', type: 'search', placeholder: 'search text…', 'aria-label': 'Search logs' });
    text.addEventListener('input', () => this.setFilter({ text: text.value }));
    const key = h('input', { className: 'jf-input jf-logs-key', type: 'search', placeholder: 'task key…', 'aria-label': 'Task key' });
    key.addEventListener('input', () => this.setFilter({ key: key.value }));
    this.workerSelect = select([['', 'all workers']], '', v => this.setFilter({ worker: v }), { 'aria-label': 'Worker' });
    const kinds = h('span', { className: 'jf-logs-kinds' });
    for (const kind of ['log', 'stdout', 'stderr']) {
      const box = h('input', { type: 'checkbox', 'data-kind': kind });
      box.checked = true;
      box.addEventListener('change', () => {
        const checked = [...kinds.querySelectorAll('input')].filter(b => b.checked).map(b => b.dataset.kind!);
        this.setFilter({ kinds: checked.length === 3 ? [] : checked.length ? checked : ['none'] });
      });
      kinds.append(h('label', { className: 'jf-check' }, box, kind));
    }
    this.pauseButton = button('Pause', () => this.setFollow(!this.follow), { className: 'jf-button jf-logs-pause' });
    this.countNode = h('span', { className: 'jf-muted' });
    this.toolbar.append(
      h('span', { className: 'jf-pane-title' }, 'Logs'),
      text,
      this.workerSelect,
      kinds,
      key,
      this.pauseButton,
      button('Clear', () => this.clearView(), { title: 'Hide the lines received so far' }),
      this.countNode
    );
    this.list = h('div', { className: 'jf-logs-list', role: 'log' });
    this.body.append(this.list);
    this.list.addEventListener('scroll', () => {
      const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 8;
      if (!atBottom && this.follow) {
        this.setFollow(false);
      } else if (atBottom && !this.follow) {
        this.setFollow(true);
      }
    });
    this.setEmpty('Loading log history…');
  }

  protected onStart(): void {
    this.listen('logs', (records: LogRecord[]) => this.add(records));
    this.request<LogRecord[]>('logs', { worker: null, since: 0 })
      .then(records => this.add(records ?? []))
      .catch(err => this.showHistoryError(err))
      .finally(() => this.updateEmpty());
  }

  private showHistoryError(err: Error): void {
    this.countNode.textContent = `history unavailable: ${err.message}`;
  }

  /** Adds records (exposed for the standalone page and tests). */
  add(records: LogRecord[]): number {
    const added = this.store.add(Array.isArray(records) ? records : []);
    if (added) {
      this.queued.push(...records);
      this.scheduleRender(false);
    }
    return added;
  }

  private setFilter(change: Partial<LogFilter>): void {
    this.filter = { ...this.filter, ...change };
    this.scheduleRender(true);
  }

  private setFollow(follow: boolean): void {
    this.follow = follow;
    this.pauseButton.textContent = follow ? 'Pause' : 'Follow';
    this.pauseButton.classList.toggle('jf-mod-active', !follow);
    this.node.dataset.follow = String(follow);
    if (follow) {
      this.list.scrollTop = this.list.scrollHeight;
    }
  }

  private clearView(): void {
    this.store.records = [];
    this.queued = [];
    this.scheduleRender(true);
  }

  private scheduleRender(full: boolean): void {
    this.pendingRender ||= full;
    this.schedule();
  }

  protected renderFrame(): void {
    const fullRender = this.pendingRender;
    this.pendingRender = false;
    this.render(fullRender);
  }

  private render(full: boolean): void {
    const workers = this.store.workers();
    setOptions(this.workerSelect, [['', 'all workers'], ...workers.map(w => [w, w] as [string, string])], this.filter.worker);
    if (full) {
      clear(this.list);
      this.shown = 0;
      const matching = this.store.records.filter(r => passes(r, this.filter));
      this.appendRows(matching.slice(-MAX_SHOWN));
    } else {
      this.appendRows(this.queued.filter(r => passes(r, this.filter)).sort((a, b) => a.time - b.time));
    }
    this.queued = [];
    while (this.shown > MAX_SHOWN && this.list.firstChild) {
      this.list.removeChild(this.list.firstChild);
      this.shown--;
    }
    this.countNode.textContent = `${this.shown} of ${this.store.records.length} lines`;
    this.list.dataset.shown = String(this.shown);
    if (this.follow) {
      this.list.scrollTop = this.list.scrollHeight;
    }
    this.updateEmpty();
  }

  private updateEmpty(): void {
    if (this.store.records.length === 0) {
      this.setEmpty('No log lines yet. Worker logs and what tasks print (print(), warnings, logging) show up here as they happen.');
    } else {
      this.setEmpty(null);
    }
  }

  private appendRows(records: LogRecord[]): void {
    const frag = document.createDocumentFragment();
    for (const r of records) {
      frag.append(
        h(
          'div',
          { className: `jf-log-row jf-log-${r.kind}`, 'data-kind': r.kind, 'data-worker': r.worker ?? '' },
          h('span', { className: 'jf-log-time' }, formatClock(r.time)),
          h('span', { className: 'jf-log-worker', title: r.worker ?? '' }, (r.worker ?? 'scheduler').replace(/^tcp:\/\//, '')),
          h('span', { className: 'jf-log-kind' }, r.kind === 'log' ? (r.level ?? 'log') : r.kind),
          r.key ? h('span', { className: 'jf-log-key', title: r.key }, r.key) : null,
          h('span', { className: 'jf-log-text' }, r.text)
        )
      );
      this.shown++;
    }
    this.list.append(frag);
  }
}
