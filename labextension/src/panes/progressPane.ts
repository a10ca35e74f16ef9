/** Progress: one bar per function (done / erred / processing / waiting out of total), live. */
import { prefixColor } from '../core/colors';
import { ProgressModel, type PrefixProgress } from '../core/progress';
import { h } from './dom';
import { Pane, type PaneContext } from './pane';
import { isDark, readPalette } from './theme';

interface Row {
  node: HTMLElement;
  done: HTMLElement;
  erred: HTMLElement;
  processing: HTMLElement;
  numbers: HTMLElement;
}

/** The progress pane (DOM bars, updated once per frame at most). */
export class ProgressPane extends Pane {
  readonly model = new ProgressModel();
  private rowsNode: HTMLElement;
  private rows = new Map<string, Row>();
  private dark = false;

  constructor(ctx: PaneContext) {
    super('progress', ctx);
    this.toolbar.append(h('span', { className: 'jf-pane-title' }, 'Progress'), legend());
    this.rowsNode = h('div', { className: 'jf-progress-rows' });
    this.body.append(this.rowsNode);
    this.setEmpty(
      'No tasks on this cluster yet. Submit work (client.map(func, items)) and a bar per function shows how much is done.'
    );
  }

  protected onStart(): void {
    this.dark = readPalette(this.node).dark;
    this.listen('progress', delta => {
      this.model.update(delta ?? {});
      this.schedule();
    });
  }

  themeChanged(): void {
    this.dark = isDark(getComputedStyle(this.node).getPropertyValue('--jp-layout-color1').trim() || '#fff');
    for (const [prefix, row] of this.rows) {
      row.done.style.background = prefixColor(prefix, this.dark);
    }
  }


  protected renderFrame(): void {
    const all = this.model.rows();
    this.setEmpty(all.length ? null : 'All tasks were forgotten. Submit more work to see progress here.');
    const seen = new Set<string>();
    for (const p of all) {
      seen.add(p.prefix);
      let row = this.rows.get(p.prefix);
      if (!row) {
        row = this.makeRow(p.prefix);
        this.rows.set(p.prefix, row);
        this.rowsNode.append(row.node);
      }
      this.fill(row, p);
    }
    for (const [prefix, row] of this.rows) {
      if (!seen.has(prefix)) {
        row.node.remove();
        this.rows.delete(prefix);
      }
    }
    const overall = this.model.overall();
    this.node.dataset.fraction = overall.fraction.toFixed(4);
  }

  private makeRow(prefix: string): Row {
    const done = h('div', { className: 'jf-progress-done' });
    done.style.background = prefixColor(prefix, this.dark);
    const erred = h('div', { className: 'jf-progress-erred' });
    const processing = h('div', { className: 'jf-progress-processing' });
    const numbers = h('span', { className: 'jf-progress-numbers' });
    const node = h(
      'div',
      { className: 'jf-progress-row', 'data-prefix': prefix },
      h('span', { className: 'jf-progress-name', title: prefix }, prefix),
      h('div', { className: 'jf-progress-track' }, done, erred, processing),
      numbers
    );
    return { node, done, erred, processing, numbers };
  }

  private fill(row: Row, p: PrefixProgress): void {
    const pct = (n: number) => (p.total ? (100 * n) / p.total : 0);
    row.done.style.width = `${pct(p.done)}%`;
    row.erred.style.width = `${pct(p.erred)}%`;
    row.processing.style.width = `${pct(p.processing)}%`;
    row.node.dataset.done = String(p.done);
    row.node.dataset.total = String(p.total);
    row.node.dataset.pct = pct(p.done).toFixed(1);
    row.node.classList.toggle('jf-mod-complete', p.total > 0 && p.done === p.total);
    row.numbers.textContent =
      `${p.done.toLocaleString()} / ${p.total.toLocaleString()}` + (p.erred ? ` · ${p.erred.toLocaleString()} erred` : '');
    row.node.title = `${p.prefix}: ${p.done} done, ${p.processing} running, ${p.waiting} waiting, ${p.erred} erred, ${p.total} in all`;
  }
}

function legend(): HTMLElement {
  return h(
    'span',
    { className: 'jf-legend' },
    h('span', { className: 'jf-legend-swatch jf-progress-processing' }),
    'running ',
    h('span', { className: 'jf-legend-swatch jf-progress-erred' }),
    'erred'
  );
}
