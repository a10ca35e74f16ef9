/**
 * Task stream: one row per worker lane, a bar per task coloured by function, errors and
 * transfers marked, a live scrolling time axis (zoom with the wheel or the window select,
 * drag to look back), drawn on a canvas with requestAnimationFrame.
 */
import { ERROR_COLOR, TRANSFER_COLOR, prefixColor } from '../core/colors';
import { formatClock, formatDuration } from '../core/format';
import { TaskStreamModel, visibleBars, type Bar } from '../core/taskLanes';
import type { TaskRecord } from '../core/types';
import { button, h, select } from './dom';
import { Pane, type PaneContext } from './pane';
import { fitCanvas, readPalette, type Palette } from './theme';

const LABEL_WIDTH = 130;
const AXIS_HEIGHT = 20;
const WINDOWS: [string, string][] = [
  ['5', 'last 5 s'],
  ['15', 'last 15 s'],
  ['30', 'last 30 s'],
  ['60', 'last 1 min'],
  ['300', 'last 5 min'],
  ['600', 'last 10 min']
];

/** The task stream pane (canvas, requestAnimationFrame). */
export class TaskStreamPane extends Pane {
  private model = new TaskStreamModel();
  private canvas: HTMLCanvasElement;
  private info: HTMLElement;
  private liveButton: HTMLButtonElement;
  private windowSelect: HTMLSelectElement;
  private windowSeconds = 15;
  /** Right edge of the view in epoch seconds when not live. */
  private frozenRight = 0;
  private live = true;
  private skew = 0;
  private frame = 0;
  private dirty = true;
  private palette: Palette | null = null;
  private lastDownsample = 0;
  private drag: { x: number; right: number } | null = null;
  private hoverBars: { x: number; y: number; w: number; h: number; bar: Bar; worker: string }[] = [];

  constructor(ctx: PaneContext) {
    super('task-stream', ctx);
    this.windowSelect = select(WINDOWS, String(this.windowSeconds), v => this.setWindow(Number(v)), {
      'aria-label': 'Time window'
    });
    this.liveButton = button('Live', () => this.goLive(), { title: 'Follow the newest tasks' });
    this.info = h('span', { className: 'jf-muted jf-task-stream-info' });
    this.toolbar.append(
      h('span', { className: 'jf-pane-title' }, 'Task stream'),
      this.windowSelect,
      this.liveButton,
      this.info
    );
    this.canvas = h('canvas', { className: 'jf-task-stream-canvas', 'data-drawn-bars': '0', 'data-total-tasks': '0' });
    this.body.append(this.canvas);
    this.setEmpty(
      'No tasks have run on this cluster yet. Submit work (client.submit(...), client.map(...)) ' +
        'and each task appears here as a bar on its worker thread.'
    );
    this.canvas.addEventListener('wheel', e => this.onWheel(e), { passive: false });
    this.canvas.addEventListener('mousedown', e => this.onMouseDown(e));
    this.canvas.addEventListener('mousemove', e => this.onMouseMove(e));
    this.canvas.addEventListener('mouseleave', () => (this.canvas.title = ''));
    window.addEventListener('mouseup', this.onMouseUp);
  }

  protected onStart(): void {
    this.listen('tasks', (records: TaskRecord[]) => this.addRecords(records));
    this.loop();
  }

  /** Adds records from a delta (exposed for tests and the standalone page). */
  addRecords(records: TaskRecord[]): void {
    if (!Array.isArray(records) || !records.length) {
      return;
    }
    this.model.add(records);
    const arrival = Date.now() / 1000;
    let newest = 0;
    for (const r of records) {
      newest = Math.max(newest, r.stop);
    }
    // Keep the newest bar at the right edge even if the workers' clocks run ahead of ours.
    this.skew = Math.max(0, newest - arrival);
    this.setEmpty(null);
    this.dirty = true;
  }

  private now(): number {
    return Date.now() / 1000 + this.skew;
  }

  private setWindow(seconds: number): void {
    this.windowSeconds = Math.min(this.model.options.historySeconds, Math.max(1, seconds));
    const match = WINDOWS.find(([v]) => Number(v) === Math.round(this.windowSeconds));
    if (match) {
      this.windowSelect.value = match[0];
    }
    this.dirty = true;
  }

  private goLive(): void {
    this.live = true;
    this.liveButton.classList.add('jf-mod-active');
    this.dirty = true;
  }

  private loop = (): void => {
    if (this.disposed) {
      return;
    }
    this.frame = requestAnimationFrame(this.loop);
    if (this.canvas.offsetParent === null) {
      return; // hidden (another tab): draw nothing
    }
    const now = this.now();
    if (now - this.lastDownsample > 1) {
      this.model.downsample(now);
      this.lastDownsample = now;
    }
    if (this.live || this.dirty) {
      this.draw();
    }
  };

  themeChanged(): void {
    this.palette = null;
    this.dirty = true;
  }

  resized(): void {
    this.dirty = true;
  }

  private draw(): void {
    this.dirty = false;
    const fit = fitCanvas(this.canvas);
    if (!fit) {
      return;
    }
    const { ctx, width, height } = fit;
    const pal = (this.palette ??= readPalette(this.node));
    const right = this.live ? this.now() : this.frozenRight;
    const left = right - this.windowSeconds;
    const plotWidth = Math.max(10, width - LABEL_WIDTH);
    const xOf = (t: number) => LABEL_WIDTH + ((t - left) / this.windowSeconds) * plotWidth;

    ctx.fillStyle = pal.background;
    ctx.fillRect(0, 0, width, height);
    const rows = this.model.rows();
    const plotHeight = height - AXIS_HEIGHT;
    const rowHeight = rows.length ? Math.max(2, Math.min(32, plotHeight / rows.length)) : 0;
    ctx.font = pal.font;
    ctx.textBaseline = 'middle';
    this.hoverBars = [];
    let drawn = 0;
    let lastWorker = '';
    rows.forEach((row, i) => {
      const y = i * rowHeight;
      if (y > plotHeight) {
        return;
      }
      if (row.worker !== lastWorker) {
        lastWorker = row.worker;
        ctx.strokeStyle = pal.border;
        ctx.beginPath();
        ctx.moveTo(0, y + 0.5);
        ctx.lineTo(width, y + 0.5);
        ctx.stroke();
        if (rowHeight >= 9) {
          ctx.fillStyle = pal.fontColor2;
          ctx.fillText(shorten(ctx, row.worker.replace(/^tcp:\/\//, ''), LABEL_WIDTH - 8), 4, y + rowHeight / 2);
        }
      }
      const barHeight = Math.max(1, rowHeight - (rowHeight > 6 ? 2 : 0));
      for (const bar of visibleBars(row.bars, left, right)) {
        const x0 = Math.max(LABEL_WIDTH, xOf(bar.start));
        const x1 = Math.min(width, xOf(bar.stop));
        const w = Math.max(1, x1 - x0);
        drawBar(ctx, bar, x0, y + 1, w, barHeight, pal);
        this.hoverBars.push({ x: x0, y: y + 1, w, h: barHeight, bar, worker: row.worker });
        drawn++;
      }
    });
    this.drawAxis(ctx, left, right, xOf, width, height, pal);
    this.canvas.dataset.drawnBars = String(drawn);
    this.canvas.dataset.totalTasks = String(this.model.totalTasks);
    this.canvas.dataset.rows = String(rows.length);
    // At high rates the scheduler sends an even sample (at most 1,000 records a quarter second):
    // say "drawn", not how many ran; the Progress pane has the exact counts.
    this.info.textContent =
      `${this.model.totalTasks.toLocaleString()} tasks drawn` +
      (this.live ? '' : ' · paused (drag/scroll); press Live to follow');
    this.info.title =
      'Above ~4,000 tasks a second the feed sends an even sample of the finished tasks; ' +
      'the Progress pane counts every task.';
    this.liveButton.classList.toggle('jf-mod-active', this.live);
  }

  private drawAxis(
    ctx: CanvasRenderingContext2D,
    left: number,
    right: number,
    xOf: (t: number) => number,
    width: number,
    height: number,
    pal: Palette
  ): void {
    const y = height - AXIS_HEIGHT;
    ctx.fillStyle = pal.background;
    ctx.fillRect(0, y, width, AXIS_HEIGHT);
    ctx.strokeStyle = pal.border;
    ctx.beginPath();
    ctx.moveTo(LABEL_WIDTH, y + 0.5);
    ctx.lineTo(width, y + 0.5);
    ctx.stroke();
    const span = right - left;
    const step = niceStep(span / Math.max(1, (width - LABEL_WIDTH) / 110));
    ctx.fillStyle = pal.fontColor2;
    ctx.textBaseline = 'middle';
    // Live: ticks at whole steps before now ("-10 s"); paused: at whole clock times.
    const first = this.live ? right - Math.floor(span / step) * step : Math.ceil(left / step) * step;
    for (let t = first; t <= right + 1e-9; t += step) {
      const x = xOf(t);
      ctx.beginPath();
      ctx.moveTo(x + 0.5, y);
      ctx.lineTo(x + 0.5, y + 4);
      ctx.stroke();
      const ago = Math.round((right - t) / step) * step;
      const label = this.live ? (ago < 1e-9 ? 'now' : `-${formatAgo(ago)}`) : formatClock(t).slice(0, step < 1 ? 12 : 8);
      const w = ctx.measureText(label).width;
      ctx.fillText(label, Math.min(x + 3, width - w - 2), y + AXIS_HEIGHT / 2 + 2);
    }
  }

  private onWheel(e: WheelEvent): void {
    e.preventDefault();
    const factor = e.deltaY > 0 ? 1.25 : 0.8;
    this.setWindow(this.windowSeconds * factor);
  }

  private onMouseDown(e: MouseEvent): void {
    this.drag = { x: e.clientX, right: this.live ? this.now() : this.frozenRight };
  }

  private onMouseUp = (): void => {
    this.drag = null;
  };

  private onMouseMove(e: MouseEvent): void {
    if (this.drag) {
      const dx = e.clientX - this.drag.x;
      if (Math.abs(dx) > 3) {
        const plotWidth = Math.max(10, this.canvas.clientWidth - LABEL_WIDTH);
        this.live = false;
        this.frozenRight = Math.min(this.now(), this.drag.right - (dx / plotWidth) * this.windowSeconds);
        this.dirty = true;
      }
      return;
    }
    const rect = this.canvas.getBoundingClientRect();
    const x = e.clientX - rect.left;
    const y = e.clientY - rect.top;
    const hit = this.hoverBars.find(b => x >= b.x && x <= b.x + b.w && y >= b.y && y <= b.y + b.h);
    // title is plain text: task keys cannot inject markup here.
    this.canvas.title = hit ? describeBar(hit.bar, hit.worker) : '';
  }

  protected onGone(): void {
    this.dirty = true;
  }

  protected onDispose(): void {
    cancelAnimationFrame(this.frame);
    window.removeEventListener('mouseup', this.onMouseUp);
  }
}

/** Draws one bar: its function's colour; errors red with a cross-hatch; transfers grey and hatched. */
function drawBar(ctx: CanvasRenderingContext2D, bar: Bar, x: number, y: number, w: number, hgt: number, pal: Palette): void {
  const erred = bar.status === 'erred' || bar.erred > 0;
  const transfer = bar.status === 'transfer';
  ctx.fillStyle = erred ? ERROR_COLOR : transfer ? TRANSFER_COLOR : prefixColor(bar.prefix, pal.dark);
  ctx.fillRect(x, y, w, hgt);
  if ((erred || transfer) && w > 3 && hgt > 3) {
    ctx.save();
    ctx.beginPath();
    ctx.rect(x, y, w, hgt);
    ctx.clip();
    ctx.strokeStyle = erred ? 'rgba(0,0,0,0.55)' : 'rgba(255,255,255,0.7)';
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let i = -hgt; i < w; i += 5) {
      ctx.moveTo(x + i, y + hgt);
      ctx.lineTo(x + i + hgt, y);
      if (erred) {
        ctx.moveTo(x + i, y);
        ctx.lineTo(x + i + hgt, y + hgt);
      }
    }
    ctx.stroke();
    ctx.restore();
  }
}

/** The tooltip text of a bar. */
function describeBar(bar: Bar, worker: string): string {
  const what = bar.count > 1 ? `${bar.count} tasks (merged history), mostly ${bar.prefix}` : bar.key ?? bar.prefix;
  const status = bar.erred ? `${bar.erred} erred` : bar.status;
  return `${what}\n${status} on ${worker}\n${formatClock(bar.start)} for ${formatDuration(bar.stop - bar.start)}`;
}

/** A time span for the axis: "500 ms", "10 s", "2 min". */
function formatAgo(s: number): string {
  if (s < 1) {
    return `${Math.round(s * 1000)} ms`;
  }
  if (s < 120) {
    return `${+s.toFixed(1)} s`;
  }
  return `${+(s / 60).toFixed(1)} min`;
}

/** A round tick step (1, 2, 5 × 10^n) near the given step. */
export function niceStep(raw: number): number {
  const exp = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1e-6))));
  const f = raw / exp;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * exp;
}

/** Cuts text to fit a width on the canvas, with an ellipsis. */
function shorten(ctx: CanvasRenderingContext2D, text: string, width: number): string {
  if (ctx.measureText(text).width <= width) {
    return text;
  }
  let s = text;
  while (s.length > 1 && ctx.measureText('…' + s).width > width) {
    s = s.slice(1);
  }
  return '…' + s;
}
