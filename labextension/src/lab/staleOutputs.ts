/**
 * Live jupyter_futures outputs (a future, a progress bar, a client) whose kernel can no longer
 * update them become static records: the last state they showed, marked "no longer live".
 *
 * The kernel does this itself when it is asked to shut down, but a restart from JupyterLab drops
 * the kernel's message handlers before the kernel hears of it, and a notebook opened later may
 * hold live outputs of a kernel that is gone: their widget views would say "Error displaying
 * widget". Same markup and metadata as the kernel's (see jupyter_futures/notebook/).
 */
import type { IChangedArgs } from '@jupyterlab/coreutils';
import type { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import type { Kernel } from '@jupyterlab/services';
import type { PartialJSONObject, ReadonlyPartialJSONObject } from '@lumino/coreutils';
import type { Widget } from '@lumino/widgets';
import { escapeXml } from '../core/flame';

export const REASON_RESTARTED = 'the kernel restarted';
export const REASON_STOPPED = 'the kernel stopped';
export const REASON_CHANGED = 'the kernel changed';
export const REASON_GONE = 'its kernel is gone';

const WIDGET_VIEW = 'application/vnd.jupyter.widget-view+json';
/** The root element of a future's, a progress bar's or a client's rendered HTML. */
const ROOT_SELECTOR = '.jf-future, .jf-progress, .jf-client';
/**
 * The note's own style, the kernel's (render.not_live_html), so the record reads the same outside
 * JupyterLab; base.css adds the frame.
 */
const NOTE_STYLE =
  "font-family: var(--jp-ui-font-family, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif); " +
  'font-size:11.5px; color: var(--jp-content-font-color2, #666); padding:0 10px';

/** An output's `metadata.jupyter_futures` when it has one (an object), else null. */
export function futuresMetadata(metadata: ReadonlyPartialJSONObject | undefined | null): ReadonlyPartialJSONObject | null {
  const meta = metadata?.jupyter_futures;
  return meta && typeof meta === 'object' && !Array.isArray(meta) ? (meta as ReadonlyPartialJSONObject) : null;
}

/** Whether an output's metadata says it is a live jupyter_futures display (`live === true`). */
export function isLiveOutput(metadata: ReadonlyPartialJSONObject | undefined | null): boolean {
  return futuresMetadata(metadata)?.live === true;
}

/**
 * Whether a live output is stale for a notebook whose kernel is `kernelId` (null: no kernel):
 * made by another kernel, or there is no kernel at all.
 */
export function isStaleFor(metadata: ReadonlyPartialJSONObject | undefined | null, kernelId: string | null): boolean {
  return isLiveOutput(metadata) && (kernelId === null || futuresMetadata(metadata)?.kernel_id !== kernelId);
}

/** The reason a kernel status ends the live displays ('restarting', 'autorestarting', 'dead'), or null. */
export function reasonForStatus(status: string): string | null {
  switch (status) {
    case 'restarting':
    case 'autorestarting':
      return REASON_RESTARTED;
    case 'dead':
      return REASON_STOPPED;
    default:
      return null;
  }
}

/**
 * The static bundle of a display that is no longer live, marked up exactly like the kernel's:
 * `html` (the kernel's own, already escaped markup) inside a `.jf-not-live` frame with a note;
 * `text` prefixed with "(no longer live: REASON)". Only `reason` is interpolated, escaped.
 */
export function staleBundle(html: string, text: string, reason: string): { 'text/html': string; 'text/plain': string } {
  const r = escapeXml(reason);
  return {
    'text/html':
      `<div class="jf-not-live" data-reason="${r}"><div class="jf-not-live-note" style="${NOTE_STYLE}">` +
      `no longer live: ${r}</div>${html}</div>`,
    'text/plain': `(no longer live: ${reason})\n${text}`
  };
}

/** A mimebundle value as a string (nbformat allows a list of lines). */
export function bundleText(value: unknown): string {
  if (Array.isArray(value)) {
    return value.join('');
  }
  return typeof value === 'string' ? value : '';
}

/** What a live output last showed, read from its rendered view when there is one. */
export interface Snapshot {
  html: string | null;
  text: string | null;
}

/**
 * The static output replacing a live one: display_data with the latest HTML and text (from the
 * rendered view, else the output's own text/html and text/plain) framed by `staleBundle`, the
 * widget view dropped, and `metadata.jupyter_futures` saying `live: false, stale: reason`.
 */
export function staleOutput(
  output: { data: ReadonlyPartialJSONObject; metadata: ReadonlyPartialJSONObject },
  rendered: Snapshot | null,
  reason: string
): { output_type: 'display_data'; data: PartialJSONObject; metadata: PartialJSONObject } {
  const html = rendered?.html ?? bundleText(output.data['text/html']);
  const text = rendered?.text ?? bundleText(output.data['text/plain']);
  const metadata = { ...(output.metadata as PartialJSONObject) };
  metadata.jupyter_futures = { ...(futuresMetadata(output.metadata) as PartialJSONObject), live: false, stale: reason };
  return { output_type: 'display_data', data: staleBundle(html, text, reason), metadata };
}

/** Tidies the text of a rendered view: no trailing spaces, no runs of blank lines. */
export function tidyText(text: string): string {
  return text
    .split('\n')
    .map(line => line.replace(/[ \t\u00a0]+$/, ''))
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** The latest HTML and text of the view rendered in an output's node (null when none is). */
function renderedSnapshot(node: HTMLElement | undefined): Snapshot | null {
  const root = node?.querySelector<HTMLElement>(ROOT_SELECTOR);
  if (!root) {
    return null;
  }
  // innerText follows the layout (rows, cells) when the element is rendered; textContent does not.
  const text = root.isConnected && root.getClientRects().length ? tidyText(root.innerText) : null;
  return { html: root.outerHTML, text };
}

interface OutputModelLike {
  readonly type: string;
  readonly data: ReadonlyPartialJSONObject;
  readonly metadata: ReadonlyPartialJSONObject;
}
interface OutputListLike {
  readonly length: number;
  get(index: number): OutputModelLike;
  set(index: number, value: PartialJSONObject): void;
}

/**
 * Turns the live jupyter_futures outputs of a notebook for which `stale(metadata)` holds into
 * static records (see `staleOutput`); returns how many it turned.
 */
export function retireOutputs(
  panel: NotebookPanel,
  reason: string,
  stale: (metadata: ReadonlyPartialJSONObject) => boolean
): number {
  let count = 0;
  const cells = panel.content.widgets;
  for (const cell of cells) {
    if (cell.model.type !== 'code') {
      continue;
    }
    const outputs = (cell.model as unknown as { outputs: OutputListLike }).outputs;
    const views = (cell as unknown as { outputArea?: { widgets: ReadonlyArray<Widget> } }).outputArea?.widgets ?? [];
    for (let i = 0; i < outputs.length; i++) {
      const output = outputs.get(i);
      if (output.type !== 'display_data' || !stale(output.metadata)) {
        continue;
      }
      // The widget view, when rendered, shows the latest state; the output's own HTML may be older.
      const rendered = output.data[WIDGET_VIEW] !== undefined ? renderedSnapshot(views[i]?.node) : null;
      outputs.set(i, staleOutput(output, rendered, reason));
      count++;
    }
  }
  return count;
}

/**
 * Watches every notebook of the tracker: its live jupyter_futures outputs become records when its
 * kernel restarts or stops, when it changes kernel, and, when it is opened, if they were made by
 * a kernel other than its own (or it has none).
 */
export function watchStaleOutputs(tracker: INotebookTracker): void {
  const watch = (panel: NotebookPanel) => {
    const session = panel.sessionContext;
    const onStatus = (_: unknown, status: Kernel.Status) => {
      const reason = reasonForStatus(status);
      if (reason) {
        retireOutputs(panel, reason, isLiveOutput);
      }
    };
    const onKernel = (_: unknown, change: IChangedArgs<Kernel.IKernelConnection | null, Kernel.IKernelConnection | null, 'kernel'>) => {
      const { oldValue, newValue } = change;
      if (oldValue && oldValue.id !== newValue?.id) {
        const id = newValue?.id ?? null;
        retireOutputs(panel, newValue ? REASON_CHANGED : REASON_STOPPED, m => isStaleFor(m, id));
      }
    };
    session.statusChanged.connect(onStatus);
    session.kernelChanged.connect(onKernel);
    panel.disposed.connect(() => {
      session.statusChanged.disconnect(onStatus);
      session.kernelChanged.disconnect(onKernel);
    });
    void Promise.all([panel.context.ready, session.ready]).then(() => {
      if (panel.isDisposed || !panel.context.model) {
        return;
      }
      const model = panel.context.model;
      const wasDirty = model.dirty;
      const id = session.session?.kernel?.id ?? null;
      // Showing what the outputs said is no edit of the user's: a clean notebook stays clean.
      if (retireOutputs(panel, REASON_GONE, m => isStaleFor(m, id)) && !wasDirty) {
        model.dirty = false;
      }
    }, () => undefined); // disposed before it was ready
  };
  tracker.forEach(watch);
  tracker.widgetAdded.connect((_, panel) => watch(panel));
}
