/**
 * One shared connection to the live feed (docs/jupyter-api.md, "Live feed"): reconnects with
 * backoff, subscribes a (cluster, topic) on the wire only while someone listens to it, routes
 * deltas, replies, cluster lists and "gone" notices to their listeners.
 */
import { SubscriptionCounter } from './subscriptions';
import type { Cluster, Topic } from './types';

/** What the feed needs of a WebSocket (so tests can pass a fake one). */
export interface SocketLike {
  send(data: string): void;
  close(): void;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: any }) => void) | null;
  onclose: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
}

/** A handle whose dispose() undoes what made it. */
export interface Disposer {
  dispose(): void;
}

export type ConnectionState = 'connecting' | 'open' | 'closed';

/** The interface panes use: they never see the socket. */
export interface Feed {
  /** Calls onData with each delta of (cluster, topic) until the returned handle is disposed. */
  subscribe(cluster: string, topic: Topic, onData: (data: any) => void): Disposer;
  /** Sends a request (profile, stacks, logs) and resolves with its reply's data. */
  request<T = any>(cluster: string, what: string, args?: { [k: string]: unknown }): Promise<T>;
  /** Calls cb when the cluster stops (a "gone" message, or it left the cluster list). */
  onGone(cluster: string, cb: () => void): Disposer;
  /** Calls cb with every cluster list the server sends (and at once with the last one, if any). */
  onClusters(cb: (clusters: Cluster[]) => void): Disposer;
  /** Calls cb on every connection state change (and at once with the current one). */
  onState(cb: (state: ConnectionState) => void): Disposer;
  /** Calls cb with the server's message when it refuses a subscription of this cluster. */
  onProblem(cluster: string, cb: (message: string) => void): Disposer;
}

export interface FeedOptions {
  /** First reconnect delay in ms (doubles on each failure). */
  minDelay?: number;
  /** Longest reconnect delay in ms. */
  maxDelay?: number;
  /** How long a request waits for its reply, in ms. */
  requestTimeout?: number;
  /** Timer functions (tests pass fakes). */
  setTimeout?: (fn: () => void, ms: number) => any;
  clearTimeout?: (handle: any) => void;
}

// How much history a late subscriber is replayed for the append-only topics.
const REPLAY_LIMITS: { [topic: string]: number } = { tasks: 20000, logs: 2000 };
// Topics whose every delta is the whole list (the scheduler sends workers and clients whole,
// which is also how a pane learns that a worker left): the last one is the state.
const WHOLE_TOPICS = new Set(['workers', 'clients']);

/**
 * Merges a delta into what a topic has sent so far, so that a pane subscribing to a topic that
 * is already live (no new subscribe goes on the wire, so the server sends no initial state)
 * gets the state at once. Returns the new state.
 */
export function mergeDelta(topic: string, state: any, data: any): any {
  if (topic === 'progress') {
    return Object.assign(state ?? {}, data ?? {});
  }
  if (!Array.isArray(data)) {
    return state;
  }
  if (WHOLE_TOPICS.has(topic)) {
    return data;
  }
  const list: unknown[] = state ?? [];
  list.push(...data);
  const limit = REPLAY_LIMITS[topic] ?? 1000;
  if (list.length > limit) {
    list.splice(0, list.length - limit);
  }
  return list;
}

/** The delta that brings a new subscriber up to date, or null when there is nothing yet. */
export function replayOf(topic: string, state: any): any {
  if (state === undefined || state === null) {
    return null;
  }
  if (Array.isArray(state)) {
    return state.length || WHOLE_TOPICS.has(topic) ? [...state] : null;
  }
  return { ...state };
}

interface Pending {
  resolve: (v: any) => void;
  reject: (e: Error) => void;
  timer: any;
}

/** Calls every function of a set, isolating their errors from each other. */
function callAll<A extends any[]>(set: Iterable<(...args: A) => void> | undefined, ...args: A): void {
  if (!set) {
    return;
  }
  for (const fn of [...set]) {
    try {
      fn(...args);
    } catch (err) {
      console.error('jupyter_futures feed listener failed', err);
    }
  }
}

/** The Feed over a reconnecting websocket. */
export class FeedClient implements Feed {
  private socket: SocketLike | null = null;
  private state: ConnectionState = 'closed';
  private counter = new SubscriptionCounter();
  private listeners = new Map<string, Set<(data: any) => void>>();
  private snapshots = new Map<string, any>();
  private goneListeners = new Map<string, Set<() => void>>();
  private problemListeners = new Map<string, Set<(message: string) => void>>();
  private clusterListeners = new Set<(clusters: Cluster[]) => void>();
  private stateListeners = new Set<(s: ConnectionState) => void>();
  private pending = new Map<number, Pending>();
  private nextId = 1;
  private delay: number;
  private reconnectTimer: any = null;
  private disposed = false;
  private lastClusters: Cluster[] | null = null;
  private knownClusters = new Set<string>();
  private readonly opts: Required<FeedOptions>;

  /** makeSocket opens a new socket to the feed; it is called again on each reconnect. */
  constructor(private makeSocket: () => SocketLike, options: FeedOptions = {}) {
    this.opts = {
      minDelay: options.minDelay ?? 500,
      maxDelay: options.maxDelay ?? 15000,
      requestTimeout: options.requestTimeout ?? 60000,
      setTimeout: options.setTimeout ?? ((fn, ms) => setTimeout(fn, ms)),
      clearTimeout: options.clearTimeout ?? (h => clearTimeout(h))
    };
    this.delay = this.opts.minDelay;
  }

  /** Opens the connection (idempotent). */
  connect(): void {
    if (this.disposed || this.socket) {
      return;
    }
    this.setState('connecting');
    let socket: SocketLike;
    try {
      socket = this.makeSocket();
    } catch (err) {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) {
        return;
      }
      this.delay = this.opts.minDelay;
      this.setState('open');
      for (const { cluster, topics } of this.counter.live()) {
        this.send({ op: 'subscribe', cluster, topics });
      }
    };
    socket.onmessage = ev => {
      if (this.socket === socket) {
        this.handleMessage(ev.data);
      }
    };
    socket.onclose = () => {
      if (this.socket !== socket) {
        return;
      }
      this.socket = null;
      // The server sends each topic's state again when we resubscribe.
      this.snapshots.clear();
      this.failPending('the feed connection closed');
      this.setState('closed');
      this.scheduleReconnect();
    };
    socket.onerror = () => {
      /* onclose follows and reconnects */
    };
  }

  /** Closes the connection for good and fails pending requests. */
  dispose(): void {
    this.disposed = true;
    if (this.reconnectTimer !== null) {
      this.opts.clearTimeout(this.reconnectTimer);
    }
    const socket = this.socket;
    this.socket = null;
    socket?.close();
    this.failPending('the feed was closed');
    this.setState('closed');
  }

  /** The current connection state. */
  get connectionState(): ConnectionState {
    return this.state;
  }

  subscribe(cluster: string, topic: Topic, onData: (data: any) => void): Disposer {
    const key = cluster + '\u0000' + topic;
    let set = this.listeners.get(key);
    if (!set) {
      set = new Set();
      this.listeners.set(key, set);
    }
    set.add(onData);
    const added = this.counter.acquire(cluster, [topic]);
    if (added.length && this.state === 'open') {
      this.send({ op: 'subscribe', cluster, topics: added });
    }
    this.connect();
    const replay = added.length ? null : replayOf(topic, this.snapshots.get(key));
    if (replay !== null) {
      // After the caller has finished setting up (it may not expect data inside subscribe()).
      queueMicrotask(() => set!.has(onData) && onData(replay));
    }
    let disposed = false;
    return {
      dispose: () => {
        if (disposed) {
          return;
        }
        disposed = true;
        set!.delete(onData);
        if (set!.size === 0) {
          this.listeners.delete(key);
        }
        const removed = this.counter.release(cluster, [topic]);
        if (removed.length) {
          this.snapshots.delete(key);
          if (this.state === 'open') {
            this.send({ op: 'unsubscribe', cluster, topics: removed });
          }
        }
      }
    };
  }

  request<T = any>(cluster: string, what: string, args: { [k: string]: unknown } = {}): Promise<T> {
    this.connect();
    if (this.state !== 'open') {
      return Promise.reject(new Error('The live feed is not connected; try again in a moment.'));
    }
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = this.opts.setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`No answer to the ${what} request within ${this.opts.requestTimeout / 1000} s.`));
      }, this.opts.requestTimeout);
      this.pending.set(id, { resolve, reject, timer });
      this.send({ op: 'request', id, cluster, what, args });
    });
  }

  onGone(cluster: string, cb: () => void): Disposer {
    let set = this.goneListeners.get(cluster);
    if (!set) {
      set = new Set();
      this.goneListeners.set(cluster, set);
    }
    set.add(cb);
    return {
      dispose: () => {
        set!.delete(cb);
        if (set!.size === 0) {
          this.goneListeners.delete(cluster);
        }
      }
    };
  }

  onProblem(cluster: string, cb: (message: string) => void): Disposer {
    let set = this.problemListeners.get(cluster);
    if (!set) {
      set = new Set();
      this.problemListeners.set(cluster, set);
    }
    set.add(cb);
    return {
      dispose: () => {
        set!.delete(cb);
        if (set!.size === 0) {
          this.problemListeners.delete(cluster);
        }
      }
    };
  }

  onClusters(cb: (clusters: Cluster[]) => void): Disposer {
    this.clusterListeners.add(cb);
    this.connect();
    if (this.lastClusters) {
      cb(this.lastClusters);
    }
    return { dispose: () => this.clusterListeners.delete(cb) };
  }

  onState(cb: (state: ConnectionState) => void): Disposer {
    this.stateListeners.add(cb);
    cb(this.state);
    return { dispose: () => this.stateListeners.delete(cb) };
  }

  /** The last cluster list received, or null before the first. */
  get clusters(): Cluster[] | null {
    return this.lastClusters;
  }

  private handleMessage(raw: any): void {
    let msg: any;
    try {
      msg = typeof raw === 'string' ? JSON.parse(raw) : raw;
    } catch {
      return;
    }
    switch (msg?.op) {
      case 'delta': {
        const key = msg.cluster + '\u0000' + msg.topic;
        if (this.counter.count(msg.cluster, msg.topic) > 0) {
          this.snapshots.set(key, mergeDelta(msg.topic, this.snapshots.get(key), msg.data));
        }
        callAll(this.listeners.get(key), msg.data);
        break;
      }
      case 'reply': {
        const p = this.pending.get(msg.id);
        if (p) {
          this.pending.delete(msg.id);
          this.opts.clearTimeout(p.timer);
          if (msg.error !== undefined && msg.error !== null) {
            p.reject(new Error(String(msg.error)));
          } else {
            p.resolve(msg.data);
          }
        }
        break;
      }
      case 'clusters': {
        const clusters: Cluster[] = Array.isArray(msg.clusters) ? msg.clusters : [];
        this.lastClusters = clusters;
        const present = new Set(clusters.map(c => c.id));
        // A cluster seen before and now missing from the list has stopped.
        for (const id of [...this.knownClusters]) {
          if (!present.has(id)) {
            this.knownClusters.delete(id);
            this.markGone(id);
          }
        }
        present.forEach(id => this.knownClusters.add(id));
        callAll(this.clusterListeners, clusters);
        break;
      }
      case 'gone':
        this.knownClusters.delete(msg.cluster);
        this.markGone(msg.cluster);
        break;
      case 'error': {
        // The server refused a message; it echoes the message's text, so find whose it was.
        let cluster: string | null = null;
        try {
          cluster = JSON.parse(String(msg.request ?? ''))?.cluster ?? null;
        } catch {
          cluster = null;
        }
        console.warn('jupyter_futures feed: the server refused a message:', msg.message);
        if (cluster !== null) {
          callAll(this.problemListeners.get(cluster), String(msg.message ?? 'refused'));
        }
        break;
      }
    }
  }

  private markGone(cluster: string): void {
    for (const topic of this.counter.drop(cluster)) {
      this.snapshots.delete(cluster + '\u0000' + topic);
    }
    callAll(this.goneListeners.get(cluster));
  }

  private send(msg: unknown): void {
    try {
      this.socket?.send(JSON.stringify(msg));
    } catch (err) {
      console.warn('jupyter_futures feed: send failed', err);
    }
  }

  private setState(state: ConnectionState): void {
    if (state !== this.state) {
      this.state = state;
      callAll(this.stateListeners, state);
    }
  }

  private failPending(reason: string): void {
    for (const [id, p] of this.pending) {
      this.opts.clearTimeout(p.timer);
      p.reject(new Error(reason));
      this.pending.delete(id);
    }
  }

  private scheduleReconnect(): void {
    if (this.disposed || this.reconnectTimer !== null) {
      return;
    }
    const delay = this.delay;
    this.delay = Math.min(this.delay * 2, this.opts.maxDelay);
    this.reconnectTimer = this.opts.setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
  }
}
