/**
 * The clusters as the page knows them (GET clusters, then the feed's "clusters" messages)
 * and the state of the server extension; the sidebar, Running panel and status bar read it.
 */
import { Signal } from '@lumino/signaling';
import { FeedClient } from '../core/feed';
import type { Cluster, Status } from '../core/types';
import { LABEXTENSION_VERSION } from '../version';
import { ApiError, FuturesApi } from './api';

export type ServerState =
  | { kind: 'checking' }
  | { kind: 'ok'; status: Status }
  | { kind: 'missing'; detail: string }
  | { kind: 'mismatch'; status: Status }
  | { kind: 'error'; detail: string };

const POLL_MS = 10000;

/** Shared by the sidebar, the Running section, the status bar and the panes (its feed). */
export class ClusterStore {
  readonly changed = new Signal<this, void>(this);
  readonly api: FuturesApi;
  readonly feed: FeedClient;
  clusters: Cluster[] = [];
  server: ServerState = { kind: 'checking' };
  /** A cluster list has been received at least once. */
  loaded = false;
  private timer: any = null;
  private feedStarted = false;

  constructor(api?: FuturesApi) {
    this.api = api ?? new FuturesApi();
    this.feed = new FeedClient(() => this.api.openFeedSocket());
  }

  /** Checks the server extension, then loads the clusters and follows the feed. */
  async start(): Promise<void> {
    await this.checkServer();
    if (this.server.kind === 'ok' || this.server.kind === 'mismatch') {
      await this.refresh();
      if (!this.feedStarted) {
        this.feedStarted = true;
        this.feed.onClusters(clusters => this.setClusters(clusters));
      }
    }
    this.schedulePoll();
  }

  /** GET status, and sets `server` from the answer. */
  async checkServer(): Promise<void> {
    try {
      const status = await this.api.status();
      this.server =
        status.version && status.version !== LABEXTENSION_VERSION ? { kind: 'mismatch', status } : { kind: 'ok', status };
    } catch (err) {
      const e = err as ApiError;
      this.server =
        e.status === 404
          ? { kind: 'missing', detail: e.message }
          : { kind: 'error', detail: e.message || 'no answer' };
    }
    this.changed.emit();
  }

  /** GET clusters now. */
  async refresh(): Promise<void> {
    try {
      this.setClusters(await this.api.clusters());
    } catch (err) {
      if ((err as ApiError).status === 404) {
        await this.checkServer();
      }
    }
  }

  /** Replaces the cluster list (from REST or the feed). */
  setClusters(clusters: Cluster[]): void {
    this.clusters = [...clusters].sort((a, b) => (a.started ?? 0) - (b.started ?? 0));
    this.loaded = true;
    this.changed.emit();
  }

  /** Puts one cluster's fresh state (from a PATCH or restart answer) into the list. */
  update(cluster: Cluster): void {
    const i = this.clusters.findIndex(c => c.id === cluster.id);
    if (i >= 0) {
      this.clusters[i] = cluster;
    } else {
      this.clusters.push(cluster);
    }
    this.changed.emit();
  }

  /** Removes a cluster from the list (it was stopped). */
  remove(id: string): void {
    this.clusters = this.clusters.filter(c => c.id !== id);
    this.changed.emit();
  }

  /** The cluster with this id, if known. */
  get(id: string): Cluster | undefined {
    return this.clusters.find(c => c.id === id);
  }

  /** The selected cluster, else the first one (the status bar shows it). */
  current(): Cluster | undefined {
    return this.clusters.find(c => c.selected) ?? this.clusters[0];
  }

  /** Polls while the feed is not connected (it pushes the list otherwise), and re-checks a missing server. */
  private schedulePoll(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(async () => {
      if (this.server.kind === 'ok' || this.server.kind === 'mismatch') {
        if (this.feed.connectionState !== 'open') {
          await this.refresh();
        }
      } else {
        await this.start();
        return;
      }
      this.schedulePoll();
    }, POLL_MS);
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.feed.dispose();
  }
}
