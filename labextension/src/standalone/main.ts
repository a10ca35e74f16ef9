/**
 * The standalone dashboard page (served by the scheduler's dashboard): the same panes as in
 * JupyterLab on a feed at ws://<this host>/ws, in a read-only grid.
 */
import { FeedClient, type Feed, type SocketLike } from '../core/feed';
import type { Cluster } from '../core/types';
import { h } from '../panes/dom';
import { LogsPane } from '../panes/logsPane';
import type { Pane, PaneContext } from '../panes/pane';
import { ProfilePane } from '../panes/profilePane';
import { ProgressPane } from '../panes/progressPane';
import { TaskStreamPane } from '../panes/taskStream';
import { WorkersPane } from '../panes/workersPane';

// Used when the server names no cluster (a scheduler's own dashboard serves exactly one).
const DEFAULT_CLUSTER = 'scheduler';

/** The feed URL: /ws on the page's host (wss on https), or ?feed= to point elsewhere. */
export function feedUrl(loc: Location): string {
  const explicit = new URLSearchParams(loc.search).get('feed');
  if (explicit) {
    return explicit;
  }
  const base = loc.pathname.replace(/[^/]*$/, '');
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}${base}ws`;
}

/** Waits for the cluster to show: ?cluster=, else the first of the server's list, else the default. */
function whichCluster(feed: Feed, loc: Location): Promise<Cluster | { id: string; name: string; address?: string }> {
  const fromQuery = new URLSearchParams(loc.search).get('cluster');
  if (fromQuery) {
    return Promise.resolve({ id: fromQuery, name: fromQuery });
  }
  return new Promise(resolve => {
    const timer = setTimeout(() => {
      sub.dispose();
      resolve({ id: DEFAULT_CLUSTER, name: 'this scheduler' });
    }, 1500);
    const sub = feed.onClusters(clusters => {
      if (clusters.length) {
        clearTimeout(timer);
        // dispose after the current call returns (onClusters may call back synchronously)
        setTimeout(() => sub.dispose());
        resolve(clusters[0]);
      }
    });
  });
}

async function main(): Promise<void> {
  const root = document.getElementById('jf-dashboard') ?? document.body;
  const feed = new FeedClient(() => new WebSocket(feedUrl(window.location)) as unknown as SocketLike);
  const title = h('span', { className: 'jf-dash-cluster' }, 'connecting…');
  const state = h('span', { className: 'jf-pane-connection' });
  const grid = h('div', { className: 'jf-dash-grid' });
  root.append(h('header', { className: 'jf-dash-header' }, h('strong', {}, 'jupyter_futures dashboard'), title, state), grid);
  feed.onState(s => (state.textContent = s === 'open' ? '' : s === 'connecting' ? 'connecting…' : 'reconnecting…'));
  feed.connect();

  const cluster = await whichCluster(feed, window.location);
  title.textContent = `${cluster.name}${'address' in cluster && cluster.address ? ' · ' + cluster.address : ''}`;
  const ctx: PaneContext = { feed, cluster: cluster.id, clusterName: cluster.name };
  const panes: [string, Pane][] = [
    ['jf-area-stream', new TaskStreamPane(ctx)],
    ['jf-area-progress', new ProgressPane(ctx)],
    ['jf-area-workers', new WorkersPane(ctx)],
    ['jf-area-profile', new ProfilePane(ctx)],
    ['jf-area-logs', new LogsPane(ctx)]
  ];
  for (const [area, pane] of panes) {
    grid.append(h('section', { className: `jf-dash-cell ${area}` }, pane.node));
    pane.start();
  }
  const resize = () => panes.forEach(([, p]) => p.resized());
  window.addEventListener('resize', resize);
  window.matchMedia?.('(prefers-color-scheme: dark)').addEventListener?.('change', () => panes.forEach(([, p]) => p.themeChanged()));
}

void main();
