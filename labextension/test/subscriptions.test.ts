import { describe, expect, it } from 'vitest';
import { FeedClient, type SocketLike } from '../src/core/feed';
import { SubscriptionCounter } from '../src/core/subscriptions';

class FakeSocket implements SocketLike {
  sent: any[] = [];
  closed = false;
  onopen: ((ev: any) => void) | null = null;
  onmessage: ((ev: { data: any }) => void) | null = null;
  onclose: ((ev: any) => void) | null = null;
  onerror: ((ev: any) => void) | null = null;
  send(data: string) {
    this.sent.push(JSON.parse(data));
  }
  close() {
    this.closed = true;
  }
  open() {
    this.onopen?.({});
  }
  receive(msg: unknown) {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
  drop() {
    this.onclose?.({});
  }
}

function fakeTimers() {
  const timers: { fn: () => void; ms: number; id: number }[] = [];
  let next = 1;
  return {
    timers,
    setTimeout: (fn: () => void, ms: number) => {
      const id = next++;
      timers.push({ fn, ms, id });
      return id;
    },
    clearTimeout: (id: number) => {
      const i = timers.findIndex(t => t.id === id);
      if (i >= 0) timers.splice(i, 1);
    },
    runNext() {
      const t = timers.shift();
      t?.fn();
      return t;
    }
  };
}

function makeFeed() {
  const sockets: FakeSocket[] = [];
  const timers = fakeTimers();
  const feed = new FeedClient(
    () => {
      const s = new FakeSocket();
      sockets.push(s);
      return s;
    },
    { minDelay: 100, maxDelay: 400, setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout }
  );
  return { feed, sockets, timers };
}

describe('subscription counter', () => {
  it('reports a topic live on its first user and dead after its last', () => {
    const c = new SubscriptionCounter();
    expect(c.acquire('c1', ['tasks', 'progress'])).toEqual(['tasks', 'progress']);
    expect(c.acquire('c1', ['tasks'])).toEqual([]);
    expect(c.count('c1', 'tasks')).toBe(2);
    expect(c.release('c1', ['tasks'])).toEqual([]);
    expect(c.release('c1', ['tasks', 'progress'])).toEqual(['tasks', 'progress']);
    expect(c.release('c1', ['tasks'])).toEqual([]);
    expect(c.live()).toEqual([]);
  });
  it('drops a cluster', () => {
    const c = new SubscriptionCounter();
    c.acquire('c1', ['logs']);
    c.acquire('c2', ['logs']);
    expect(c.drop('c1')).toEqual(['logs']);
    expect(c.live()).toEqual([{ cluster: 'c2', topics: ['logs'] }]);
  });
});

describe('feed client', () => {
  it('subscribes on the wire once per (cluster, topic) and unsubscribes after the last user', () => {
    const { feed, sockets } = makeFeed();
    const a: any[] = [];
    const b: any[] = [];
    const subA = feed.subscribe('c1', 'tasks', d => a.push(d));
    sockets[0].open();
    expect(sockets[0].sent).toEqual([{ op: 'subscribe', cluster: 'c1', topics: ['tasks'] }]);
    const subB = feed.subscribe('c1', 'tasks', d => b.push(d));
    expect(sockets[0].sent).toHaveLength(1);
    sockets[0].receive({ op: 'delta', cluster: 'c1', topic: 'tasks', data: [1] });
    sockets[0].receive({ op: 'delta', cluster: 'c2', topic: 'tasks', data: [2] });
    expect(a).toEqual([[1]]);
    expect(b).toEqual([[1]]);
    subA.dispose();
    subA.dispose();
    expect(sockets[0].sent).toHaveLength(1);
    subB.dispose();
    expect(sockets[0].sent[1]).toEqual({ op: 'unsubscribe', cluster: 'c1', topics: ['tasks'] });
  });

  it('reconnects with growing backoff and resubscribes what is live', () => {
    const { feed, sockets, timers } = makeFeed();
    feed.subscribe('c1', 'progress', () => {});
    sockets[0].open();
    sockets[0].drop();
    expect(timers.timers[0].ms).toBe(100);
    timers.runNext();
    sockets[1].drop();
    expect(timers.timers[0].ms).toBe(200);
    timers.runNext();
    sockets[2].drop();
    timers.runNext();
    sockets[3].drop();
    expect(timers.timers[0].ms).toBe(400);
    timers.runNext();
    sockets[4].open();
    expect(sockets[4].sent).toEqual([{ op: 'subscribe', cluster: 'c1', topics: ['progress'] }]);
    sockets[4].drop();
    expect(timers.timers[0].ms).toBe(100);
  });

  it('routes replies to requests and fails them when the connection drops', async () => {
    const { feed, sockets } = makeFeed();
    feed.connect();
    sockets[0].open();
    const p1 = feed.request('c1', 'profile', { start: 1 });
    const p2 = feed.request('c1', 'stacks', { worker: 'w' });
    const p3 = feed.request('c1', 'logs', {});
    expect(sockets[0].sent[0]).toEqual({ op: 'request', id: 1, cluster: 'c1', what: 'profile', args: { start: 1 } });
    sockets[0].receive({ op: 'reply', id: 2, data: ['stack'] });
    sockets[0].receive({ op: 'reply', id: 1, error: 'no profile yet' });
    await expect(p2).resolves.toEqual(['stack']);
    await expect(p1).rejects.toThrow('no profile yet');
    sockets[0].drop();
    await expect(p3).rejects.toThrow(/closed/);
  });

  it('tells panes when their cluster is gone and stops counting its subscriptions', () => {
    const { feed, sockets } = makeFeed();
    let gone = 0;
    feed.onGone('c1', () => gone++);
    const seen: string[][] = [];
    feed.onClusters(cs => seen.push(cs.map(c => c.id)));
    const sub = feed.subscribe('c1', 'workers', () => {});
    sockets[0].open();
    sockets[0].receive({ op: 'clusters', clusters: [{ id: 'c1' }, { id: 'c2' }] });
    sockets[0].receive({ op: 'clusters', clusters: [{ id: 'c2' }] });
    expect(gone).toBe(1);
    expect(seen).toEqual([['c1', 'c2'], ['c2']]);
    sockets[0].receive({ op: 'gone', cluster: 'c1' });
    expect(gone).toBe(2);
    const before = sockets[0].sent.length;
    sub.dispose();
    expect(sockets[0].sent.length).toBe(before);
  });
});

describe('feed problems', () => {
  it('routes a refused subscription to its cluster', () => {
    const { feed, sockets } = makeFeed();
    const seen: string[] = [];
    feed.onProblem('c9', m => seen.push(m));
    feed.subscribe('c9', 'tasks', () => {});
    sockets[0].open();
    sockets[0].receive({ op: 'error', message: 'no cluster c9', request: JSON.stringify(sockets[0].sent[0]) });
    sockets[0].receive({ op: 'error', message: 'garbled', request: '{"op": "subscr' });
    expect(seen).toEqual(['no cluster c9']);
  });
});

describe('late subscribers', () => {
  it('get the state a live topic has sent so far, merged per topic', async () => {
    const { feed, sockets } = makeFeed();
    feed.subscribe('c1', 'progress', () => {});
    feed.subscribe('c1', 'workers', () => {});
    feed.subscribe('c1', 'tasks', () => {});
    sockets[0].open();
    sockets[0].receive({ op: 'delta', cluster: 'c1', topic: 'progress', data: { inc: { total: 2 } } });
    sockets[0].receive({ op: 'delta', cluster: 'c1', topic: 'progress', data: { add: { total: 1 }, inc: { total: 3 } } });
    sockets[0].receive({ op: 'delta', cluster: 'c1', topic: 'workers', data: [{ address: 'a', cpu: 1 }, { address: 'b', cpu: 2 }] });
    sockets[0].receive({ op: 'delta', cluster: 'c1', topic: 'workers', data: [{ address: 'a', cpu: 5 }] });
    sockets[0].receive({ op: 'delta', cluster: 'c1', topic: 'tasks', data: [{ key: 'x' }] });
    sockets[0].receive({ op: 'delta', cluster: 'c1', topic: 'tasks', data: [{ key: 'y' }] });
    const got: { [t: string]: any[] } = { progress: [], workers: [], tasks: [] };
    feed.subscribe('c1', 'progress', d => got.progress.push(d));
    feed.subscribe('c1', 'workers', d => got.workers.push(d));
    const late = feed.subscribe('c1', 'tasks', d => got.tasks.push(d));
    expect(got.progress).toEqual([]); // not inside subscribe()
    await Promise.resolve();
    expect(got.progress).toEqual([{ inc: { total: 3 }, add: { total: 1 } }]);
    expect(got.workers).toEqual([[{ address: 'a', cpu: 5 }]]); // workers come whole: b left
    expect(got.tasks).toEqual([[{ key: 'x' }, { key: 'y' }]]);
    // One subscribe on open for the three topics; the late subscribers send nothing.
    expect(sockets[0].sent.filter(m => m.op === 'subscribe')).toEqual([
      { op: 'subscribe', cluster: 'c1', topics: ['progress', 'workers', 'tasks'] }
    ]);
    late.dispose();
  });

  it('forget the state when the topic is unsubscribed or the connection drops', async () => {
    const { feed, sockets } = makeFeed();
    const first = feed.subscribe('c1', 'progress', () => {});
    sockets[0].open();
    sockets[0].receive({ op: 'delta', cluster: 'c1', topic: 'progress', data: { inc: { total: 2 } } });
    first.dispose();
    const got: any[] = [];
    feed.subscribe('c1', 'progress', d => got.push(d));
    await Promise.resolve();
    expect(got).toEqual([]);
  });
});
