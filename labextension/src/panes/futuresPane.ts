/**
 * This notebook's futures: what the clients of the active notebook's kernel hold (status,
 * size, worker), grouped by the cell that made them; jump to the cell, cancel or release a group,
 * or open the profile of a group or of one future.
 */
import { formatBytes } from '../core/format';
import { groupByCell, holdingsActionCode, holdingsOfKernel, mergeHoldings, type CellGroup } from '../core/holdings';
import { cellScopeLabel, type ProfileScope } from '../core/profileScope';
import type { ClientHoldings } from '../core/types';
import type { Disposer } from '../core/feed';
import { button, clear, h } from './dom';
import { Pane, type PaneContext } from './pane';

/** What the pane needs of the notebook (JupyterLab provides it; tests may fake it). */
export interface NotebookBridge {
  /** The kernel id of the active notebook, or null. */
  kernelId(): string | null;
  /** The active notebook's name, for messages. */
  notebookName(): string | null;
  /** Calls cb when the active notebook or its kernel changes. */
  onChange(cb: () => void): Disposer;
  /** Scrolls to and selects the cell with this id; false when it is not in the notebook. */
  jumpToCell(cellId: string): boolean;
  /** Runs code silently in the active notebook's kernel; rejects with the error text. */
  execute(code: string): Promise<void>;
}

const SHOWN_PER_GROUP = 50;

export interface FuturesPaneOptions {
  /** Opens (or focuses) the profile pane of this cluster on a scope; no Profile buttons without it. */
  openProfile?: (scope: ProfileScope) => void;
}

/** The "This notebook's futures" pane. */
export class FuturesPane extends Pane {
  private holdings = new Map<string, ClientHoldings>();
  private list: HTMLElement;
  private header: HTMLElement;
  private message: HTMLElement;
  private changeListener: Disposer | null = null;
  private open = new Set<string>();

  constructor(
    ctx: PaneContext,
    private bridge: NotebookBridge,
    private options: FuturesPaneOptions = {}
  ) {
    super('futures', ctx);
    this.header = h('span', { className: 'jf-muted jf-futures-notebook' });
    this.toolbar.append(h('span', { className: 'jf-pane-title' }, "This notebook's futures"), this.header);
    this.message = h('div', { className: 'jf-futures-message', role: 'status' });
    this.list = h('div', { className: 'jf-futures-list' });
    this.body.append(this.message, this.list);
    this.setEmpty('Waiting for the futures of this cluster…');
  }

  protected onStart(): void {
    this.changeListener = this.bridge.onChange(() => this.render());
    this.listen('clients', (delta: ClientHoldings[]) => {
      mergeHoldings(this.holdings, Array.isArray(delta) ? delta : []);
      this.render();
    });
    this.render();
  }

  private render(): void {
    const kernel = this.bridge.kernelId();
    const name = this.bridge.notebookName();
    this.header.textContent = name ? `${name}${kernel ? '' : ' (no kernel)'}` : '';
    const mine = holdingsOfKernel([...this.holdings.values()], kernel);
    const groups = groupByCell(mine);
    this.node.dataset.kernel = kernel ?? '';
    this.node.dataset.futures = String(groups.reduce((s, g) => s + g.futures.length, 0));
    if (!name) {
      this.setEmpty('Open a notebook (and make it the active tab) to see the futures it holds on this cluster.');
    } else if (!kernel) {
      this.setEmpty(`${name} has no running kernel. Start its kernel and run \`client = Client()\`.`);
    } else if (!groups.length) {
      this.setEmpty(
        `${name} holds no futures on this cluster. Run client.submit(...) or client.map(...) in it; ` +
          'the futures appear here grouped by the cell that made them.'
      );
    } else {
      this.setEmpty(null);
    }
    clear(this.list);
    for (const g of groups) {
      this.list.append(this.groupNode(g));
    }
  }

  private groupNode(g: CellGroup): HTMLElement {
    const id = g.cell ?? '';
    const states = Object.entries(g.states)
      .map(([s, n]) => `${n} ${s}`)
      .join(', ');
    const title = h(
      'button',
      {
        className: 'jf-futures-cell',
        type: 'button',
        title: g.cell ? 'Go to the cell that made these futures' : 'Made outside a notebook cell'
      },
      g.cell ? `Cell ${g.cell.slice(0, 8)}` : 'Outside a cell',
      h('span', { className: 'jf-muted' }, ` · ${g.futures.length} futures · ${states} · ${formatBytes(g.bytes)}`)
    );
    title.addEventListener('click', () => {
      if (g.cell && !this.bridge.jumpToCell(g.cell)) {
        this.say(`That cell is no longer in the notebook (it was deleted or the notebook changed).`);
      }
      if (this.open.has(id)) {
        this.open.delete(id);
      } else {
        this.open.add(id);
      }
      this.render();
    });
    const keys = g.futures.map(f => f.key);
    const openProfile = this.options.openProfile;
    const actions = h(
      'span',
      { className: 'jf-futures-actions' },
      openProfile &&
        button(
          'Profile',
          () =>
            openProfile({
              kind: 'keys',
              id: id || '(outside)',
              label: cellScopeLabel(g.cell, keys.length),
              keys
            }),
          { title: 'Flame graph of these futures (the profiler samples tasks while they run)', className: 'jf-button jf-futures-profile' }
        ),
      button('Cancel', () => this.act('cancel', keys), { title: 'Cancel these futures (and what depends on them)' }),
      button('Release', () => this.act('release', keys), { title: 'Drop the notebook’s handles so the cluster can free the results' })
    );
    const node = h('div', { className: 'jf-futures-group', 'data-cell': id }, h('div', { className: 'jf-futures-head' }, title, actions));
    if (this.open.has(id)) {
      const table = h('div', { className: 'jf-futures-table' });
      for (const f of g.futures.slice(0, SHOWN_PER_GROUP)) {
        table.append(
          h(
            'div',
            { className: 'jf-futures-row', 'data-state': f.state },
            h('span', { className: 'jf-futures-key', title: f.key }, f.key),
            h('span', { className: `jf-futures-state jf-state-${f.state}` }, f.state),
            h('span', { className: 'jf-num' }, formatBytes(f.nbytes)),
            h('span', { className: 'jf-muted' }, (f.worker ?? '').replace(/^tcp:\/\//, '')),
            openProfile &&
              button('profile', () => openProfile({ kind: 'future', key: f.key }), {
                title: 'Flame graph of this future',
                className: 'jf-link-button jf-futures-row-profile'
              })
          )
        );
      }
      if (g.futures.length > SHOWN_PER_GROUP) {
        table.append(h('div', { className: 'jf-muted' }, `… and ${g.futures.length - SHOWN_PER_GROUP} more`));
      }
      node.append(table);
    }
    return node;
  }

  private async act(action: 'cancel' | 'release', keys: string[]): Promise<void> {
    this.say(`${action === 'cancel' ? 'Cancelling' : 'Releasing'} ${keys.length} futures…`);
    try {
      await this.bridge.execute(holdingsActionCode(action, keys));
      this.say(`${action === 'cancel' ? 'Cancelled' : 'Released'} ${keys.length} futures.`);
    } catch (err) {
      this.say(`Could not ${action} them: ${(err as Error).message}`);
    }
  }

  private say(text: string): void {
    this.message.textContent = text;
  }

  protected onDispose(): void {
    this.changeListener?.dispose();
  }
}
