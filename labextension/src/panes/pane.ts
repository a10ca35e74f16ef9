/**
 * The base of every dashboard pane: pure DOM on a Feed (no JupyterLab), with a toolbar, an
 * empty state that says what to do, and a "cluster gone" state that ends its subscriptions.
 */
import type { Disposer, Feed } from '../core/feed';
import type { Topic } from '../core/types';
import { clear, h } from './dom';

export type PaneKind = 'task-stream' | 'progress' | 'workers' | 'futures' | 'profile' | 'logs';

/** Titles of the pane kinds. */
export const PANE_TITLES: { [k in PaneKind]: string } = {
  'task-stream': 'Task stream',
  progress: 'Progress',
  workers: 'Workers',
  futures: "This notebook's futures",
  profile: 'Profile',
  logs: 'Logs'
};

export interface PaneContext {
  feed: Feed;
  /** The cluster id the pane shows. */
  cluster: string;
  /** A readable cluster name for messages. */
  clusterName?: string;
}

/** Subclasses implement onStart() (subscribe, first draw). */
export abstract class Pane {
  readonly node: HTMLElement;
  protected readonly toolbar: HTMLElement;
  protected readonly body: HTMLElement;
  private readonly emptyNode: HTMLElement;
  private readonly statusNode: HTMLElement;
  private disposers: Disposer[] = [];
  private scheduledFrame = 0;
  private started = false;
  private _gone = false;
  private _disposed = false;

  constructor(
    readonly kind: PaneKind,
    protected ctx: PaneContext
  ) {
    this.statusNode = h('span', { className: 'jf-pane-connection' });
    this.toolbar = h('div', { className: 'jf-pane-toolbar' });
    this.emptyNode = h('div', { className: 'jf-empty', role: 'status' });
    this.body = h('div', { className: 'jf-pane-body' });
    this.node = h(
      'div',
      { className: `jf-pane jf-pane-${kind}`, 'data-pane': kind, 'data-cluster': ctx.cluster, 'data-state': 'empty' },
      h('div', { className: 'jf-pane-header' }, this.toolbar, this.statusNode),
      this.emptyNode,
      this.body
    );
  }

  /** Starts subscribing; call once the node is in the page. */
  start(): void {
    if (this.started || this._disposed) {
      return;
    }
    this.started = true;
    this.disposers.push(this.ctx.feed.onGone(this.ctx.cluster, () => this.markGone()));
    this.disposers.push(
      this.ctx.feed.onProblem(this.ctx.cluster, message => {
        this.statusNode.textContent = message;
        this.statusNode.dataset.state = 'problem';
      })
    );
    this.disposers.push(
      this.ctx.feed.onState(state => {
        this.statusNode.textContent = state === 'open' ? '' : state === 'connecting' ? 'connecting…' : 'reconnecting…';
        this.statusNode.dataset.state = state;
      })
    );
    this.onStart();
  }

  /** Subscribes the pane to a topic of its cluster until it stops. */
  protected listen(topic: Topic, onData: (data: any) => void): void {
    if (!this._gone) {
      this.disposers.push(this.ctx.feed.subscribe(this.ctx.cluster, topic, onData));
    }
  }

  /** Sends a feed request for the pane's cluster. */
  protected request<T>(what: string, args: { [k: string]: unknown } = {}): Promise<T> {
    if (this._gone) {
      return Promise.reject(new Error('The cluster has stopped.'));
    }
    return this.ctx.feed.request<T>(this.ctx.cluster, what, args);
  }

  /** Asks for one renderFrame() at the next animation frame (many calls in a frame draw once). */
  protected schedule(): void {
    if (!this.scheduledFrame && !this._disposed) {
      this.scheduledFrame = requestAnimationFrame(() => {
        this.scheduledFrame = 0;
        this.renderFrame();
      });
    }
  }

  /** Draws what schedule() asked for; panes that call schedule() override it. */
  protected renderFrame(): void {
    /* subclasses draw */
  }

  /** Shows the empty state (message says what to do), or hides it with null. */
  protected setEmpty(message: string | null): void {
    if (this._gone) {
      return;
    }
    this.emptyNode.textContent = message ?? '';
    this.emptyNode.hidden = message === null;
    this.node.dataset.state = message === null ? 'live' : 'empty';
  }

  /** The cluster stopped: say so, unsubscribe, and stop drawing. */
  markGone(): void {
    if (this._gone) {
      return;
    }
    this._gone = true;
    this.stopListening();
    const name = this.ctx.clusterName || this.ctx.cluster;
    this.emptyNode.hidden = false;
    clear(this.emptyNode);
    this.emptyNode.append(
      `The cluster “${name}” has stopped, so this pane no longer updates. ` +
        'Close it, or open the dashboard of a running cluster from the jupyter_futures sidebar.'
    );
    this.node.dataset.state = 'gone';
    this.node.classList.add('jf-mod-gone');
    this.onGone();
  }

  /** True once start() ran. */
  protected get isStarted(): boolean {
    return this.started;
  }

  /** True once the cluster has stopped. */
  get gone(): boolean {
    return this._gone;
  }

  /** The theme changed: redraw what is drawn with theme colours. */
  themeChanged(): void {
    /* canvas panes override */
  }

  /** The pane's size may have changed. */
  resized(): void {
    /* canvas panes override */
  }

  /** Unsubscribes everything and stops timers. */
  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    cancelAnimationFrame(this.scheduledFrame);
    this.scheduledFrame = 0;
    this.stopListening();
    this.onDispose();
  }

  get disposed(): boolean {
    return this._disposed;
  }

  private stopListening(): void {
    for (const d of this.disposers.splice(0)) {
      d.dispose();
    }
  }

  protected abstract onStart(): void;
  protected onGone(): void {
    /* subclasses stop their timers */
  }
  protected onDispose(): void {
    /* subclasses stop their timers */
  }
}
