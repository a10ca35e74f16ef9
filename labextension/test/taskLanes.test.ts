import { describe, expect, it } from 'vitest';
import { TaskStreamModel, mergeLane, visibleBars, type Bar } from '../src/core/taskLanes';
import type { TaskRecord } from '../src/core/types';

const rec = (worker: string, start: number, stop: number, prefix = 'inc', status = 'finished'): TaskRecord => ({
  key: `${prefix}-${start}`,
  prefix,
  worker,
  start,
  stop,
  status
});

describe('task stream lanes', () => {
  it('puts a bar into the first lane of its worker free at its start', () => {
    const m = new TaskStreamModel();
    m.add([rec('w1', 0, 1), rec('w1', 0.5, 1.5), rec('w1', 1, 2), rec('w1', 1.6, 2.5), rec('w2', 0, 3)]);
    const lanes = m.workers.get('w1')!.lanes;
    expect(lanes.length).toBe(2);
    expect(lanes[0].map(b => b.start)).toEqual([0, 1]);
    expect(lanes[1].map(b => b.start)).toEqual([0.5, 1.6]);
    expect(m.workers.get('w2')!.lanes.length).toBe(1);
    expect(m.totalTasks).toBe(5);
  });

  it('uses as many lanes as tasks run at once (threads)', () => {
    const m = new TaskStreamModel();
    const records: TaskRecord[] = [];
    for (let i = 0; i < 100; i++) {
      for (let t = 0; t < 4; t++) {
        records.push(rec('w', i, i + 1));
      }
    }
    m.add(records);
    expect(m.workers.get('w')!.lanes.length).toBe(4);
    expect(m.rows().map(r => r.bars.length)).toEqual([100, 100, 100, 100]);
  });

  it('never lets bars of a lane overlap', () => {
    const m = new TaskStreamModel();
    const rnd = mulberry(7);
    const records: TaskRecord[] = [];
    for (let i = 0; i < 2000; i++) {
      const start = rnd() * 100;
      records.push(rec('w', start, start + rnd() * 2));
    }
    records.sort((a, b) => a.stop - b.stop);
    m.add(records);
    for (const lane of m.workers.get('w')!.lanes) {
      for (let i = 1; i < lane.length; i++) {
        expect(lane[i].start).toBeGreaterThanOrEqual(lane[i - 1].stop - 1e-4);
      }
    }
  });

  it('sorts rows by worker and keeps erred and transfer statuses', () => {
    const m = new TaskStreamModel();
    m.add([rec('b', 0, 1, 'f', 'erred'), rec('a', 0, 1, 'g', 'transfer')]);
    expect(m.rows().map(r => [r.worker, r.bars[0].status])).toEqual([
      ['a', 'transfer'],
      ['b', 'erred']
    ]);
  });
});

describe('task stream downsampling', () => {
  it('merges old bars per lane into buckets and leaves recent ones alone', () => {
    const m = new TaskStreamModel({ detailSeconds: 10, bucketSeconds: 1 });
    const records: TaskRecord[] = [];
    for (let i = 0; i < 1000; i++) {
      records.push(rec('w', i * 0.01, i * 0.01 + 0.01, i % 3 ? 'a' : 'b'));
    }
    for (let i = 0; i < 10; i++) {
      records.push(rec('w', 95 + i * 0.1, 95 + i * 0.1 + 0.1));
    }
    m.add(records);
    m.downsample(100);
    const lane = m.workers.get('w')!.lanes[0];
    // 10 s of old history in 1 s buckets, then the 10 recent bars.
    expect(lane.length).toBe(10 + 10);
    expect(lane.slice(0, 10).every(b => b.count === 100)).toBe(true);
    expect(lane[0].prefix).toBe('a');
    expect(lane.slice(10).every(b => b.count === 1)).toBe(true);
    expect(lane.reduce((s, b) => s + b.count, 0)).toBe(1010);
    expect(m.barCount).toBe(20);
    // A second pass changes nothing.
    m.downsample(100);
    expect(lane.length).toBe(20);
  });

  it('counts errors inside merged buckets', () => {
    const lane: Bar[] = [0, 0.2, 0.4].map((s, i) => ({
      start: s,
      stop: s + 0.1,
      prefix: 'f',
      status: i === 1 ? 'erred' : 'finished',
      key: 'k' + i,
      count: 1,
      erred: i === 1 ? 1 : 0
    }));
    expect(mergeLane(lane, 0, 10, 1)).toBe(1);
    expect(lane).toHaveLength(1);
    expect(lane[0]).toMatchObject({ count: 3, erred: 1, status: 'erred', start: 0, key: null });
    expect(lane[0].stop).toBeCloseTo(0.5);
  });

  it('drops history older than historySeconds and caps the number of bars', () => {
    const m = new TaskStreamModel({ detailSeconds: 1000, historySeconds: 50, maxBars: 100 });
    const records: TaskRecord[] = [];
    for (let i = 0; i < 100; i++) {
      records.push(rec('w1', i, i + 1), rec('w2', i, i + 1));
    }
    m.add(records);
    m.downsample(101);
    expect(m.barCount).toBeLessThanOrEqual(100);
    const all = m.rows().flatMap(r => r.bars);
    expect(Math.min(...all.map(b => b.stop))).toBeGreaterThanOrEqual(51);
  });

  it('stays fast at 10,000 tasks a second', () => {
    const m = new TaskStreamModel();
    const t0 = performance.now();
    for (let second = 0; second < 60; second++) {
      const records: TaskRecord[] = [];
      for (let i = 0; i < 10000; i++) {
        const worker = 'w' + (i % 8);
        const slot = Math.floor(i / 8);
        const start = second + slot * (1 / 1250);
        records.push(rec(worker, start, start + 1 / 1300, 'p' + (i % 5)));
      }
      m.add(records);
      m.downsample(second + 1);
    }
    const elapsed = performance.now() - t0;
    expect(m.totalTasks).toBe(600000);
    expect(m.barCount).toBeLessThan(50000 + 1);
    expect(elapsed).toBeLessThan(5000);
  });

  it('finds the bars visible in a time window', () => {
    const bars: Bar[] = [0, 1, 2, 3, 4].map(s => ({ start: s, stop: s + 0.5, prefix: 'f', status: 'finished', key: null, count: 1, erred: 0 }));
    expect(visibleBars(bars, 1.2, 3.1).map(b => b.start)).toEqual([1, 2, 3]);
    expect(visibleBars(bars, 1.6, 2.9).map(b => b.start)).toEqual([2]);
    expect(visibleBars(bars, 1.4, 1.45).map(b => b.start)).toEqual([1]);
  });
});

function mulberry(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
