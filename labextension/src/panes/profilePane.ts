/**
 * Profile: a sorted, zoomable, searchable flame graph of the cluster's profile (whole
 * cluster or one worker; all functions, one function, one future or one cell's futures; over a
 * time window), exportable as SVG or HTML;
 * and "what is this worker doing now" (its current stacks, as text).
 */
import { MATCH_COLOR, prefixColor } from '../core/colors';
import {
  buildFlameTree,
  findByPath,
  flameToHtml,
  flameToSvg,
  layoutFlame,
  matchedFraction,
  type FlameNode,
  type FlameRect,
  type SortOrder
} from '../core/flame';
import { formatPercent } from '../core/format';
import { describeScope, profileArgs, scopeValue, type ProfileScope } from '../core/profileScope';
import type { CallTree, StackDump, WorkerMetrics } from '../core/types';
import { button, clear, download, h, select, setOptions } from './dom';
import { Pane, type PaneContext } from './pane';
import { fitCanvas, readPalette, type Palette } from './theme';

const ROW_HEIGHT = 18;
const WINDOWS: [string, string][] = [
  ['10', 'last 10 s'],
  ['60', 'last 1 min'],
  ['600', 'last 10 min'],
  ['all', 'all time']
];

/** The profile pane (flame graph canvas and stack dumps). */
export class ProfilePane extends Pane {
  private tree: CallTree | null = null;
  private root: FlameNode | null = null;
  private focus: FlameNode | null = null;
  private rects: FlameRect[] = [];
  private order: SortOrder = 'count';
  private query = '';
  private window = '60';
  private scope: ProfileScope = { kind: 'all' };
  /** A set of futures given by setScope (one cell's), offered in the dropdown while it is current. */
  private keysScope: Extract<ProfileScope, { kind: 'keys' }> | null = null;
  private worker = '';
  private prefixes = new Set<string>();
  private workers = new Map<string, string>();
  private canvas: HTMLCanvasElement;
  private canvasBox: HTMLElement;
  private hover: HTMLElement;
  private matchInfo: HTMLElement;
  private error: HTMLElement;
  private prefixSelect: HTMLSelectElement;
  private keyInput: HTMLInputElement;
  private workerSelect: HTMLSelectElement;
  private stackWorkerSelect: HTMLSelectElement;
  private windowSelect: HTMLSelectElement;
  private stacksOut: HTMLElement;
  private autoBox: HTMLInputElement;
  private timer: any = null;
  private loading = false;
  private again = false;
  private palette: Palette | null = null;

  constructor(ctx: PaneContext) {
    super('profile', ctx);
    this.prefixSelect = select(this.scopeOptions(), '', v => this.onScopeChosen(v), {
      'aria-label': 'Function, future or cell',
      className: 'jf-select jf-profile-prefix jf-profile-scope'
    });
    this.keyInput = h('input', {
      className: 'jf-input jf-profile-key',
      type: 'text',
      placeholder: 'key of a future (type or paste)…',
      'aria-label': 'Key of a future',
      spellcheck: 'false',
      hidden: true
    });
    this.keyInput.addEventListener('change', () => this.setScope({ kind: 'future', key: this.keyInput.value }));
    this.keyInput.addEventListener('keydown', e => {
      if (e.key === 'Enter') {
        this.setScope({ kind: 'future', key: this.keyInput.value });
      }
    });
    this.workerSelect = select([['', 'whole cluster']], '', v => ((this.worker = v), this.refresh()), {
      'aria-label': 'Worker',
      className: 'jf-select jf-profile-worker'
    });
    const windowSelect = select(WINDOWS, this.window, v => ((this.window = v), this.refresh()), {
      'aria-label': 'Time window',
      className: 'jf-select jf-profile-window'
    });
    const orderSelect = select(
      [
        ['count', 'sort by time'],
        ['name', 'sort by name']
      ],
      this.order,
      v => this.setOrder(v as SortOrder),
      { 'aria-label': 'Sort', className: 'jf-select jf-profile-order' }
    );
    const search = h('input', {
      className: 'jf-input jf-profile-search',
      type: 'search',
      placeholder: 'find function…',
      'aria-label': 'Find function'
    });
    search.addEventListener('input', () => {
      this.query = search.value;
      this.redraw();
    });
    this.matchInfo = h('span', { className: 'jf-muted jf-profile-match' });
    this.autoBox = h('input', { type: 'checkbox', className: 'jf-profile-auto' });
    this.autoBox.checked = true;
    this.autoBox.addEventListener('change', () => this.scheduleAuto());
    this.toolbar.append(
      h('span', { className: 'jf-pane-title' }, 'Profile'),
      this.workerSelect,
      this.prefixSelect,
      this.keyInput,
      windowSelect,
      orderSelect,
      search,
      this.matchInfo,
      button('Refresh', () => this.refresh(), { className: 'jf-button jf-profile-refresh' }),
      h('label', { className: 'jf-check' }, this.autoBox, 'auto'),
      button('SVG', () => this.exportSvg(), { title: 'Download the flame graph as SVG' }),
      button('HTML', () => this.exportHtml(), { title: 'Download a self-contained HTML page of the flame graph' })
    );
    this.canvas = h('canvas', { className: 'jf-flame-canvas', 'data-frames': '0' });
    this.canvasBox = h('div', { className: 'jf-flame-box' }, this.canvas);
    this.hover = h('div', { className: 'jf-flame-hover jf-muted' }, this.hint());
    this.error = h('div', { className: 'jf-error', hidden: true });
    this.stackWorkerSelect = select([], '', () => {}, { 'aria-label': 'Worker for stacks', className: 'jf-select' });
    this.stacksOut = h('pre', { className: 'jf-stacks', hidden: true });
    this.body.append(
      this.error,
      this.canvasBox,
      this.hover,
      h(
        'div',
        { className: 'jf-stacks-bar' },
        h('span', {}, 'What is this worker doing now? '),
        this.stackWorkerSelect,
        button('Show stacks', () => this.showStacks(), { className: 'jf-button jf-stacks-button' })
      ),
      this.stacksOut
    );
    this.canvas.addEventListener('click', e => this.onClick(e));
    this.canvas.addEventListener('mousemove', e => this.onHover(e));
    this.windowSelect = windowSelect;
    this.setEmpty('Loading the profile…');
  }

  /** The scope dropdown: all functions, each function seen, one future…, and a cell's futures if given. */
  private scopeOptions(): [string, string][] {
    const opts: [string, string][] = [['', 'all functions'], ...[...this.prefixes].sort().map(p => [`prefix:${p}`, p] as [string, string])];
    opts.push(['future:', 'one future…']);
    if (this.keysScope) {
      opts.push([scopeValue(this.keysScope), this.keysScope.label]);
    }
    return opts;
  }

  private onScopeChosen(value: string): void {
    if (value === 'future:') {
      this.setScope({ kind: 'future', key: this.keyInput.value });
      this.keyInput.focus();
    } else if (value.startsWith('prefix:')) {
      this.setScope({ kind: 'prefix', prefix: value.slice('prefix:'.length) });
    } else if (this.keysScope && value === scopeValue(this.keysScope)) {
      this.setScope(this.keysScope);
    } else {
      this.setScope({ kind: 'all' });
    }
  }

  /** The current scope. */
  get currentScope(): ProfileScope {
    return this.scope;
  }

  /**
   * Shows the profile of a scope (the futures pane calls it for a cell's futures or one future);
   * `window` also sets the time window ('all', or seconds).
   */
  setScope(scope: ProfileScope, options: { window?: string } = {}): void {
    if (scope.kind === 'keys') {
      this.keysScope = scope;
    }
    if (scope.kind === 'future') {
      this.keyInput.value = scope.key;
    }
    this.scope = scope;
    if (options.window && WINDOWS.some(([v]) => v === options.window)) {
      this.window = options.window;
      this.windowSelect.value = options.window;
    }
    this.keyInput.hidden = scope.kind !== 'future';
    setOptions(this.prefixSelect, this.scopeOptions(), scopeValue(scope));
    this.node.dataset.scope = scope.kind;
    this.node.dataset.scopeKeys = String(scope.kind === 'keys' ? scope.keys.length : scope.kind === 'future' && scope.key.trim() ? 1 : 0);
    this.focus = null;
    void this.refresh();
  }

  protected onStart(): void {
    this.listen('progress', delta => {
      let changed = false;
      for (const p of Object.keys(delta ?? {})) {
        if (!this.prefixes.has(p)) {
          this.prefixes.add(p);
          changed = true;
        }
      }
      if (changed) {
        setOptions(this.prefixSelect, this.scopeOptions(), scopeValue(this.scope));
      }
    });
    this.listen('workers', (ws: WorkerMetrics[]) => {
      const now = new Map((ws ?? []).map(w => [w.address, String(w.name ?? w.address)] as [string, string]));
      const changed = now.size !== this.workers.size || [...now.keys()].some(a => !this.workers.has(a));
      this.workers = now;
      if (changed) {
        const list = [...this.workers.entries()].sort((a, b) => a[1].localeCompare(b[1], undefined, { numeric: true }));
        const labelled = list.map(([a, n]) => [a, n === a ? a : `${n} (${a})`] as [string, string]);
        setOptions(this.workerSelect, [['', 'whole cluster'], ...labelled], this.worker);
        setOptions(this.stackWorkerSelect, labelled, this.stackWorkerSelect.value);
      }
    });
    this.refresh();
  }

  /** Asks for the profile with the current scope and window. */
  async refresh(): Promise<void> {
    if (this.gone || !this.isStarted) {
      return;
    }
    if (this.loading) {
      // The scope or window changed while a request is out: ask again once it is answered.
      this.again = true;
      return;
    }
    const args = profileArgs(this.scope, this.window, this.worker, Date.now() / 1000);
    if (!args) {
      this.error.hidden = true;
      this.tree = null;
      this.root = this.focus = null;
      this.setEmpty('Type or paste the key of a future (as client.submit(...).key shows it) and press Enter.');
      this.redraw();
      return;
    }
    this.loading = true;
    try {
      const tree = await this.request<CallTree>('profile', { ...args });
      this.error.hidden = true;
      if (!this.again) {
        this.setTree(tree);
      }
    } catch (err) {
      if (!this.gone) {
        this.error.hidden = false;
        this.error.textContent = `Could not get the profile: ${(err as Error).message}`;
        if (!this.tree) {
          this.setEmpty('No profile yet. It loads once the live feed answers; press Refresh to try again.');
        }
      }
    } finally {
      this.loading = false;
      if (this.again) {
        this.again = false;
        void this.refresh();
      } else {
        this.scheduleAuto();
      }
    }
  }

  /** Shows a call tree (exposed for the standalone page and tests). */
  setTree(tree: CallTree | null): void {
    this.tree = tree && tree.count ? tree : null;
    const focusPath = this.focus?.path;
    this.root = this.tree ? buildFlameTree(this.tree, this.order) : null;
    this.focus = this.root && focusPath ? findByPath(this.root, focusPath) ?? this.root : this.root;
    this.setEmpty(
      this.root
        ? null
        : this.scope.kind === 'future' || this.scope.kind === 'keys'
          ? `No profile samples of ${describeScope(this.scope)} in this window. The profiler samples tasks while ` +
            'they run (very short tasks may have no sample) and keeps whole trees of the last 1000 keys per worker; ' +
            'try "all time".'
          : 'No profile samples in this window. Run some tasks (the profiler samples running tasks), ' +
            'choose a longer window or "all time", then press Refresh.'
    );
    this.redraw();
  }

  private setOrder(order: SortOrder): void {
    this.order = order;
    this.setTree(this.tree);
  }

  private scheduleAuto(): void {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.autoBox.checked && !this.gone && !this.disposed) {
      this.timer = setTimeout(() => {
        // Auto refresh keeps quiet while the pane is hidden.
        if (this.node.offsetParent !== null) {
          void this.refresh();
        } else {
          this.scheduleAuto();
        }
      }, 5000);
    }
  }

  themeChanged(): void {
    this.palette = null;
    this.redraw();
  }

  resized(): void {
    this.redraw();
  }

  private redraw(): void {
    const focus = this.focus;
    this.matchInfo.textContent = focus && this.query.trim() ? `${formatPercent(matchedFraction(focus, this.query))} matched` : '';
    if (!focus) {
      this.canvasBox.hidden = true;
      this.canvas.dataset.frames = '0';
      this.canvas.dataset.rootCount = '0';
      return;
    }
    this.canvasBox.hidden = false;
    const width = Math.max(100, this.canvasBox.clientWidth || 600);
    this.rects = layoutFlame(focus, this.query, 0.5 / width);
    const depth = this.rects.reduce((m, r) => Math.max(m, r.depth), 0) + 1;
    this.canvas.style.height = `${depth * ROW_HEIGHT}px`;
    const fit = fitCanvas(this.canvas);
    if (!fit) {
      return;
    }
    const { ctx, width: w, height } = fit;
    const pal = (this.palette ??= readPalette(this.node));
    ctx.fillStyle = pal.background;
    ctx.fillRect(0, 0, w, height);
    ctx.font = pal.font;
    ctx.textBaseline = 'middle';
    const searching = this.query.trim() !== '';
    for (const r of this.rects) {
      // Root at the bottom, callees above: a flame graph.
      const y = height - (r.depth + 1) * ROW_HEIGHT;
      const x = r.x * w;
      const rw = Math.max(1, r.width * w - 1);
      // While searching, everything but the matches fades.
      ctx.globalAlpha = searching && !r.match ? 0.3 : r.ancestor ? 0.55 : 1;
      ctx.fillStyle = r.match ? MATCH_COLOR : frameColor(r.node, pal.dark);
      ctx.fillRect(x, y, rw, ROW_HEIGHT - 1);
      ctx.globalAlpha = 1;
      if (rw > 30) {
        ctx.globalAlpha = searching && !r.match ? 0.5 : 1;
        ctx.fillStyle = '#111';
        ctx.fillText(fitText(ctx, r.node.name, rw - 6), x + 3, y + ROW_HEIGHT / 2);
        ctx.globalAlpha = 1;
      }
    }
    this.canvas.dataset.frames = String(this.rects.length);
    this.canvas.dataset.rootCount = String(this.root?.count ?? 0);
    this.canvas.dataset.zoom = focus.path;
    this.canvas.dataset.zoomName = focus.name;
    this.canvas.dataset.zoomed = String(focus !== this.root);
    this.hover.textContent = this.hint();
  }

  private rectAt(e: MouseEvent): FlameRect | null {
    const box = this.canvas.getBoundingClientRect();
    const x = (e.clientX - box.left) / box.width;
    const depth = Math.floor((box.bottom - e.clientY) / ROW_HEIGHT);
    return this.rects.find(r => r.depth === depth && x >= r.x && x <= r.x + r.width) ?? null;
  }

  private onClick(e: MouseEvent): void {
    const r = this.rectAt(e);
    if (!r || !this.root) {
      return;
    }
    // Clicking the zoomed frame itself (or the root) zooms out one step / to the root.
    if (r.node === this.focus) {
      this.focus = r.node.parent ?? this.root;
    } else {
      this.focus = r.node;
    }
    if (r.node === this.root) {
      this.focus = this.root;
    }
    this.redraw();
  }

  private onHover(e: MouseEvent): void {
    const r = this.rectAt(e);
    const total = this.root?.count || 1;
    this.hover.textContent = r
      ? `${r.node.name} — ${r.node.filename}:${r.node.line_number} — ${r.node.count} samples ` +
        `(${formatPercent(r.node.count / total)} of all)` +
        (r.node.line ? ` — ${r.node.line.trim()}` : '')
      : this.hint();
  }

  /** The line under the graph when the mouse is not over a frame. */
  private hint(): string {
    return this.focus && this.focus !== this.root
      ? `Zoomed into ${this.focus.name}. Click the bottom frame (root) to zoom out, or the zoomed frame to go up one level.`
      : 'Click a frame to zoom in; click the bottom frame to zoom out.';
  }

  private svg(): string | null {
    if (!this.focus) {
      return null;
    }
    return flameToSvg(this.focus, this.query, {
      colorOf: n => frameColor(n, false),
      background: '#ffffff',
      textColor: '#000000',
      title: this.title()
    });
  }

  private title(): string {
    const scope = [this.worker ? `worker ${this.worker}` : 'whole cluster', this.scope.kind === 'all' ? '' : describeScope(this.scope)];
    const win = WINDOWS.find(([v]) => v === this.window)?.[1] ?? '';
    return `jupyter_futures profile: ${this.ctx.clusterName || this.ctx.cluster}, ${scope.filter(Boolean).join(', ')}, ${win}`;
  }

  private exportSvg(): void {
    const svg = this.svg();
    if (svg) {
      download('profile.svg', svg, 'image/svg+xml');
    }
  }

  private exportHtml(): void {
    const svg = this.svg();
    if (svg) {
      download('profile.html', flameToHtml(svg, this.title()), 'text/html');
    }
  }

  private async showStacks(): Promise<void> {
    const worker = this.stackWorkerSelect.value;
    this.stacksOut.hidden = false;
    if (!worker) {
      this.stacksOut.textContent = 'No worker yet: the list fills once the cluster reports its workers.';
      return;
    }
    this.stacksOut.textContent = 'Asking the worker…';
    try {
      const stacks = await this.request<StackDump[]>('stacks', { worker });
      clear(this.stacksOut);
      this.stacksOut.textContent = formatStacks(worker, stacks);
    } catch (err) {
      this.stacksOut.textContent = `Could not get the stacks of ${worker}: ${(err as Error).message}`;
    }
  }

  protected onGone(): void {
    clearTimeout(this.timer);
  }

  protected onDispose(): void {
    clearTimeout(this.timer);
  }
}

/** Stacks as plain text, innermost frame last, like a Python traceback. */
export function formatStacks(worker: string, stacks: StackDump[]): string {
  if (!stacks?.length) {
    return `${worker} runs no task right now.`;
  }
  return stacks
    .map(s => {
      const head = `Thread ${s.thread}${s.key ? ` running ${s.key}` : ''}:`;
      const frames = (s.frames ?? []).map(
        f => `  File "${f.filename}", line ${f.line_number}, in ${f.name}` + (f.line ? `\n    ${f.line.trim()}` : '')
      );
      return [head, ...frames].join('\n');
    })
    .join('\n\n');
}

/** A frame's colour: by file, so that a library's frames look alike. */
function frameColor(node: FlameNode, dark: boolean): string {
  return prefixColor(node.filename || node.name, dark);
}

function fitText(ctx: CanvasRenderingContext2D, text: string, width: number): string {
  if (ctx.measureText(text).width <= width) {
    return text;
  }
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ctx.measureText(text.slice(0, mid) + '…').width <= width) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo ? text.slice(0, lo) + '…' : '';
}
