/**
 * The task stream's data: task records laid out into lanes per worker (one lane per busy
 * thread in practice) and old history merged into coarser bars, so that drawing stays cheap
 * however many tasks ran.
 */
import type { TaskRecord } from './types';

/** One drawn bar: a task, or several old tasks merged (count > 1). */
export interface Bar {
  start: number;
  stop: number;
  prefix: string;
  status: string;
  key: string | null;
  count: number;
  erred: number;
}

/** A worker's lanes; bars of a lane never overlap and are ordered by stop time. */
export interface WorkerLanes {
  worker: string;
  lanes: Bar[][];
  /** Per lane: how many leading bars are already merged (coarse). */
  merged: number[];
}

export interface TaskStreamOptions {
  /** Bars that stopped more than this many seconds ago get merged into buckets. */
  detailSeconds?: number;
  /** Width of a merged bucket, in seconds. */
  bucketSeconds?: number;
  /** Bars older than this are dropped. */
  historySeconds?: number;
  /** Most bars kept in total; the oldest go first. */
  maxBars?: number;
}

// Clocks of different worker processes differ a little; a lane counts as free a hair early.
const EPSILON = 1e-4;

/** Task bars per worker lane, with downsampling of old history. */
export class TaskStreamModel {
  readonly workers = new Map<string, WorkerLanes>();
  /** Tasks received in total (merged or not). */
  totalTasks = 0;
  /** Bars currently kept. */
  barCount = 0;
  /** Time of the newest stop seen. */
  latest = 0;
  readonly options: Required<TaskStreamOptions>;

  constructor(options: TaskStreamOptions = {}) {
    this.options = {
      detailSeconds: options.detailSeconds ?? 30,
      bucketSeconds: options.bucketSeconds ?? 1,
      historySeconds: options.historySeconds ?? 600,
      maxBars: options.maxBars ?? 50000
    };
  }

  /** Adds task records (as a "tasks" delta brings them). */
  add(records: TaskRecord[]): void {
    for (const r of records) {
      if (!(r.stop >= r.start)) {
        continue;
      }
      this.place({
        start: r.start,
        stop: r.stop,
        prefix: r.prefix || r.key,
        status: r.status,
        key: r.key,
        count: 1,
        erred: r.status === 'erred' ? 1 : 0
      }, r.worker || '?');
      this.totalTasks++;
      if (r.stop > this.latest) {
        this.latest = r.stop;
      }
    }
  }

  /** Puts a bar into the first lane of its worker that is free at the bar's start. */
  private place(bar: Bar, worker: string): void {
    let w = this.workers.get(worker);
    if (!w) {
      w = { worker, lanes: [], merged: [] };
      this.workers.set(worker, w);
    }
    let lane = w.lanes.findIndex(l => l.length === 0 || l[l.length - 1].stop <= bar.start + EPSILON);
    if (lane < 0) {
      lane = w.lanes.length;
      w.lanes.push([]);
      w.merged.push(0);
    }
    w.lanes[lane].push(bar);
    this.barCount++;
  }

  /** Lanes in drawing order: workers sorted by address, each with its lanes. */
  rows(): { worker: string; lane: number; bars: Bar[] }[] {
    const out: { worker: string; lane: number; bars: Bar[] }[] = [];
    const names = [...this.workers.keys()].sort();
    for (const name of names) {
      const w = this.workers.get(name)!;
      w.lanes.forEach((bars, lane) => out.push({ worker: name, lane, bars }));
    }
    return out;
  }

  /**
   * Merges bars that stopped before now - detailSeconds into buckets (per lane, per
   * bucketSeconds), drops bars older than historySeconds, then drops the oldest bars while
   * more than maxBars are kept.
   */
  downsample(now: number): void {
    const { detailSeconds, bucketSeconds, historySeconds, maxBars } = this.options;
    const mergeBefore = now - detailSeconds;
    const dropBefore = now - historySeconds;
    let count = 0;
    for (const w of this.workers.values()) {
      w.lanes.forEach((lane, i) => {
        let firstKept = 0;
        while (firstKept < lane.length && lane[firstKept].stop < dropBefore) {
          firstKept++;
        }
        if (firstKept) {
          lane.splice(0, firstKept);
          w.merged[i] = Math.max(0, w.merged[i] - firstKept);
        }
        w.merged[i] = mergeLane(lane, w.merged[i], mergeBefore, bucketSeconds);
        count += lane.length;
      });
    }
    this.barCount = count;
    if (count > maxBars) {
      this.dropOldest(count - maxBars);
    }
  }

  /** Drops about n of the oldest bars, all lanes together. */
  private dropOldest(n: number): void {
    const stops: number[] = [];
    for (const w of this.workers.values()) {
      for (const lane of w.lanes) {
        for (const b of lane) {
          stops.push(b.stop);
        }
      }
    }
    stops.sort((a, b) => a - b);
    const cutoff = stops[Math.min(n, stops.length) - 1];
    let count = 0;
    for (const w of this.workers.values()) {
      w.lanes.forEach((lane, i) => {
        let k = 0;
        while (k < lane.length && lane[k].stop <= cutoff) {
          k++;
        }
        lane.splice(0, k);
        w.merged[i] = Math.max(0, w.merged[i] - k);
        count += lane.length;
      });
    }
    this.barCount = count;
  }

  /** Forgets a worker's lanes (it left). */
  removeWorker(worker: string): void {
    const w = this.workers.get(worker);
    if (w) {
      this.barCount -= w.lanes.reduce((s, l) => s + l.length, 0);
      this.workers.delete(worker);
    }
  }
}

/**
 * Merges the not yet merged bars of a lane that stopped before `before` into buckets of
 * `bucket` seconds (by start time); returns the new count of merged leading bars.
 */
export function mergeLane(lane: Bar[], mergedCount: number, before: number, bucket: number): number {
  let end = mergedCount;
  while (end < lane.length && lane[end].stop < before) {
    end++;
  }
  if (end === mergedCount) {
    return mergedCount;
  }
  const merged: Bar[] = [];
  let current: Bar | null = null;
  let currentBucket = NaN;
  let weights = new Map<string, number>();
  const finish = () => {
    if (current) {
      current.prefix = dominant(weights, current.prefix);
      merged.push(current);
    }
  };
  for (let i = mergedCount; i < end; i++) {
    const b = lane[i];
    const bucketIndex = Math.floor(b.start / bucket);
    if (!current || bucketIndex !== currentBucket) {
      finish();
      current = { ...b, key: b.count === 1 ? b.key : null };
      currentBucket = bucketIndex;
      weights = new Map([[b.prefix, b.stop - b.start]]);
      continue;
    }
    current.start = Math.min(current.start, b.start);
    current.stop = Math.max(current.stop, b.stop);
    current.count += b.count;
    current.erred += b.erred;
    current.key = null;
    if (b.status !== current.status) {
      current.status = current.erred ? 'erred' : 'finished';
    }
    weights.set(b.prefix, (weights.get(b.prefix) ?? 0) + (b.stop - b.start));
  }
  finish();
  lane.splice(mergedCount, end - mergedCount, ...merged);
  return mergedCount + merged.length;
}

/** The prefix that took the most time in a bucket (ties: the first seen). */
function dominant(weights: Map<string, number>, fallback: string): string {
  let best = fallback;
  let bestWeight = -1;
  for (const [prefix, w] of weights) {
    if (w > bestWeight) {
      best = prefix;
      bestWeight = w;
    }
  }
  return best;
}

/** Bars of a lane that overlap [t0, t1] (bars are ordered by stop time). */
export function visibleBars(bars: Bar[], t0: number, t1: number): Bar[] {
  let lo = 0;
  let hi = bars.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (bars[mid].stop < t0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  const out: Bar[] = [];
  for (let i = lo; i < bars.length; i++) {
    if (bars[i].start <= t1) {
      out.push(bars[i]);
    }
  }
  return out;
}
