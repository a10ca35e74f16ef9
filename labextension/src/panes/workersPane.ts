/**
 * Workers: CPU and memory per worker; memory split into managed / unmanaged / spilled, with
 * the spill, pause and terminate thresholds marked; short time series kept in the browser.
 */
import { formatBytes } from '../core/format';
import type { WorkerMetrics } from '../core/types';
import { WorkerSeries, type SeriesPoint } from '../core/workerSeries';
import { h } from './dom';
import { Pane, type PaneContext } from './pane';
import { fitCanvas, readPalette, type Palette } from './theme';

interface Row {
  node: HTMLElement;
  cpuBar: HTMLElement;
  cpuText: HTMLElement;
  managed: HTMLElement;
  unmanaged: HTMLElement;
  spilled: HTMLElement;
  marks: { [k: string]: HTMLElement };
  memText: HTMLElement;
  state: HTMLElement;
  cpuSpark: HTMLCanvasElement;
  memSpark: HTMLCanvasElement;
}

const THRESHOLDS: [string, string][] = [
  ['spill', 'spill to disk'],
  ['pause', 'pause'],
  ['terminate', 'restart (terminate)']
];

/** The workers pane (CPU, memory, thresholds, short series). */
export class WorkersPane extends Pane {
  readonly series = new WorkerSeries(300);
  private rowsNode: HTMLElement;
  private rows = new Map<string, Row>();
  private palette: Palette | null = null;

  constructor(ctx: PaneContext) {
    super('workers', ctx);
    this.toolbar.append(
      h('span', { className: 'jf-pane-title' }, 'Workers'),
      h(
        'span',
        { className: 'jf-legend', title: 'Memory: managed (results held), unmanaged (the rest of the process), spilled to disk. Marks: the spill, pause and restart (terminate) thresholds. Graphs: the last 5 minutes.' },
        h('span', { className: 'jf-legend-swatch jf-mem-managed' }),
        'managed ',
        h('span', { className: 'jf-legend-swatch jf-mem-unmanaged' }),
        'unmanaged ',
        h('span', { className: 'jf-legend-swatch jf-mem-spilled' }),
        'spilled ',
        h('span', { className: 'jf-legend-mark' }),
        'spill / pause / restart'
      )
    );
    this.rowsNode = h('div', { className: 'jf-workers-rows' });
    this.body.append(this.rowsNode);
    this.setEmpty('No workers reported yet. Scale the cluster from the jupyter_futures sidebar (or start workers) to see them here.');
  }

  protected onStart(): void {
    this.listen('workers', (workers: WorkerMetrics[]) => {
      if (Array.isArray(workers)) {
        // Each delta is the whole list: a worker missing from it has left.
        this.series.retain(new Set(workers.map(w => w.address)));
        this.series.update(workers);
        this.schedule();
      }
    });
  }

  themeChanged(): void {
    this.palette = null;
    this.schedule();
  }

  resized(): void {
    this.schedule();
  }


  protected renderFrame(): void {
    const workers = this.series.workers();
    this.setEmpty(workers.length ? null : 'This cluster has no workers. Scale it up from the jupyter_futures sidebar.');
    const pal = (this.palette ??= readPalette(this.node));
    const seen = new Set<string>();
    workers.forEach((w, i) => {
      seen.add(w.address);
      let row = this.rows.get(w.address);
      if (!row) {
        row = this.makeRow(w);
        this.rows.set(w.address, row);
      }
      if (this.rowsNode.children[i] !== row.node) {
        this.rowsNode.insertBefore(row.node, this.rowsNode.children[i] ?? null);
      }
      this.fill(row, w, pal);
    });
    for (const [address, row] of this.rows) {
      if (!seen.has(address)) {
        row.node.remove();
        this.rows.delete(address);
      }
    }
    this.node.dataset.workers = String(workers.length);
  }

  private makeRow(w: WorkerMetrics): Row {
    const seg = (cls: string) => h('div', { className: `jf-mem-seg ${cls}` });
    const managed = seg('jf-mem-managed');
    const unmanaged = seg('jf-mem-unmanaged');
    const spilled = seg('jf-mem-spilled');
    const marks: { [k: string]: HTMLElement } = {};
    for (const [k, label] of THRESHOLDS) {
      marks[k] = h('div', { className: `jf-mem-mark jf-mem-mark-${k}`, title: label });
    }
    const cpuBar = h('div', { className: 'jf-cpu-fill' });
    const cpuText = h('span', { className: 'jf-num' });
    const memText = h('span', { className: 'jf-num' });
    const state = h('span', { className: 'jf-worker-state' });
    const cpuSpark = h('canvas', { className: 'jf-spark', 'aria-label': 'CPU, last minutes' });
    const memSpark = h('canvas', { className: 'jf-spark', 'aria-label': 'Memory, last minutes' });
    const node = h(
      'div',
      { className: 'jf-worker-row', 'data-address': w.address },
      h(
        'div',
        { className: 'jf-worker-name' },
        h('span', { className: 'jf-worker-title', title: w.address }, String(w.name ?? w.address).replace(/^tcp:\/\//, '')),
        state
      ),
      h(
        'div',
        { className: 'jf-worker-metric' },
        h('span', { className: 'jf-metric-label' }, 'CPU'),
        h('div', { className: 'jf-cpu-track' }, cpuBar),
        cpuText,
        cpuSpark
      ),
      h(
        'div',
        { className: 'jf-worker-metric' },
        h('span', { className: 'jf-metric-label' }, 'Memory'),
        h('div', { className: 'jf-mem-track' }, managed, unmanaged, spilled, ...Object.values(marks)),
        memText,
        memSpark
      )
    );
    return { node, cpuBar, cpuText, managed, unmanaged, spilled, marks, memText, state, cpuSpark, memSpark };
  }

  private fill(row: Row, w: WorkerMetrics, pal: Palette): void {
    const cpu = Math.max(0, w.cpu ?? 0);
    const cpuMax = 100 * Math.max(1, w.nthreads || 1);
    row.cpuBar.style.width = `${Math.min(100, (100 * cpu) / cpuMax)}%`;
    row.cpuText.textContent = `${cpu.toFixed(0)}%`;
    const limit = w.memory_limit || 0;
    const scale = limit || Math.max(1, (w.managed ?? 0) + (w.unmanaged ?? 0) + (w.spilled ?? 0));
    const pct = (n: number) => `${Math.max(0, Math.min(100, (100 * (n ?? 0)) / scale))}%`;
    row.managed.style.width = pct(w.managed);
    row.unmanaged.style.width = pct(w.unmanaged);
    row.spilled.style.width = pct(w.spilled);
    for (const [k, label] of THRESHOLDS) {
      const t = (w.thresholds as any)?.[k];
      const mark = row.marks[k];
      mark.hidden = !(limit && typeof t === 'number' && t > 0);
      if (!mark.hidden) {
        mark.style.left = `${Math.min(100, 100 * t)}%`;
        mark.title = `${label} at ${(100 * t).toFixed(0)}% (${formatBytes(t * limit)})`;
      }
    }
    row.memText.textContent = `${formatBytes(w.memory)}${limit ? ' / ' + formatBytes(limit) : ''}`;
    row.memText.title =
      `managed ${formatBytes(w.managed)}, unmanaged ${formatBytes(w.unmanaged)}, spilled ${formatBytes(w.spilled)}` +
      `; ${w.processing ?? 0} tasks running, ${w.in_memory ?? 0} results held`;
    row.state.textContent = w.paused ? 'paused' : `${w.processing ?? 0} running · ${w.nthreads} threads`;
    row.node.classList.toggle('jf-mod-paused', !!w.paused);
    const points = this.series.series.get(w.address) ?? [];
    drawSpark(row.cpuSpark, points, p => p.cpu, Math.max(cpuMax, ...points.map(p => p.cpu)), pal.brand, pal, null);
    const memMax = Math.max(limit, ...points.map(p => p.memory), 1);
    const spillAt = limit && typeof w.thresholds?.spill === 'number' ? w.thresholds.spill * limit : null;
    drawSpark(row.memSpark, points, p => p.memory, memMax, pal.success, pal, spillAt);
  }
}

/** A small line chart of the last minutes of one metric; `mark` draws a dashed threshold line. */
function drawSpark(
  canvas: HTMLCanvasElement,
  points: SeriesPoint[],
  value: (p: SeriesPoint) => number,
  max: number,
  color: string,
  pal: Palette,
  mark: number | null
): void {
  const fit = fitCanvas(canvas);
  if (!fit) {
    return;
  }
  const { ctx, width, height } = fit;
  ctx.clearRect(0, 0, width, height);
  ctx.strokeStyle = pal.border;
  ctx.strokeRect(0.5, 0.5, width - 1, height - 1);
  if (points.length < 1) {
    return;
  }
  const t1 = points[points.length - 1].time;
  const t0 = t1 - 300;
  const x = (t: number) => ((t - t0) / 300) * (width - 2) + 1;
  const y = (v: number) => height - 2 - (Math.max(0, v) / (max || 1)) * (height - 4);
  if (mark !== null) {
    ctx.save();
    ctx.setLineDash([3, 3]);
    ctx.strokeStyle = pal.warn;
    ctx.beginPath();
    ctx.moveTo(1, y(mark) + 0.5);
    ctx.lineTo(width - 1, y(mark) + 0.5);
    ctx.stroke();
    ctx.restore();
  }
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  points.forEach((p, i) => (i ? ctx.lineTo(x(p.time), y(value(p))) : ctx.moveTo(x(p.time), y(value(p)))));
  if (points.length === 1) {
    ctx.lineTo(width - 1, y(value(points[0])));
  }
  ctx.stroke();
}
