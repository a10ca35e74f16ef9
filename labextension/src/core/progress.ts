/** Progress per task prefix, merged from "progress" deltas. */
import type { PrefixCounts } from './types';

export interface PrefixProgress {
  prefix: string;
  total: number;
  done: number;
  erred: number;
  processing: number;
  waiting: number;
  /** done / total, 0 when total is 0. */
  fraction: number;
}

/** Counts per task prefix, merged from deltas. */
export class ProgressModel {
  private counts = new Map<string, PrefixCounts>();

  /** Merges a delta: only changed prefixes are in it; a prefix with total 0 is forgotten. */
  update(delta: { [prefix: string]: Partial<PrefixCounts> }): void {
    for (const [prefix, c] of Object.entries(delta)) {
      const merged = { ...emptyCounts(), ...this.counts.get(prefix), ...c };
      if (!merged.total) {
        this.counts.delete(prefix);
      } else {
        this.counts.set(prefix, merged);
      }
    }
  }

  /** Forgets everything (the cluster restarted or the feed reconnected). */
  clear(): void {
    this.counts.clear();
  }

  /** One row per prefix, in the order the prefixes first appeared. */
  rows(): PrefixProgress[] {
    return [...this.counts.entries()].map(([prefix, c]) => summarize(prefix, c));
  }

  /** All prefixes together. */
  overall(): PrefixProgress {
    const sum = emptyCounts();
    for (const c of this.counts.values()) {
      for (const k of Object.keys(sum) as (keyof PrefixCounts)[]) {
        sum[k] += c[k] ?? 0;
      }
    }
    return summarize('all', sum);
  }
}

function emptyCounts(): PrefixCounts {
  return { total: 0, waiting: 0, processing: 0, memory: 0, erred: 0, released: 0 };
}

/** A prefix's counts as done / erred / processing / waiting out of total (done = in memory or released). */
export function summarize(prefix: string, c: PrefixCounts): PrefixProgress {
  const total = Math.max(0, c.total ?? 0);
  const erred = clamp(c.erred ?? 0, total);
  const done = clamp((c.memory ?? 0) + (c.released ?? 0), total - erred);
  const processing = clamp(c.processing ?? 0, total - erred - done);
  const waiting = clamp(c.waiting ?? 0, total - erred - done - processing);
  return { prefix, total, done, erred, processing, waiting, fraction: total ? done / total : 0 };
}

function clamp(v: number, max: number): number {
  return Math.max(0, Math.min(v, Math.max(0, max)));
}
