/** Short CPU and memory time series per worker, kept in the browser. */
import type { WorkerMetrics } from './types';

export interface SeriesPoint {
  time: number;
  cpu: number;
  memory: number;
}

/** The latest metrics and a short series per worker. */
export class WorkerSeries {
  readonly latest = new Map<string, WorkerMetrics>();
  readonly series = new Map<string, SeriesPoint[]>();

  /** keepSeconds: how far back the series go. */
  constructor(readonly keepSeconds = 300) {}

  /** Merges a "workers" delta (changed workers only). */
  update(workers: WorkerMetrics[], now = Date.now() / 1000): void {
    for (const w of workers) {
      this.latest.set(w.address, w);
      let s = this.series.get(w.address);
      if (!s) {
        s = [];
        this.series.set(w.address, s);
      }
      const time = w.time || now;
      if (s.length && time <= s[s.length - 1].time) {
        s[s.length - 1] = { time: s[s.length - 1].time, cpu: w.cpu, memory: w.memory };
      } else {
        s.push({ time, cpu: w.cpu, memory: w.memory });
      }
      const cutoff = time - this.keepSeconds;
      let k = 0;
      while (k < s.length && s[k].time < cutoff) {
        k++;
      }
      if (k) {
        s.splice(0, k);
      }
    }
  }

  /** Keeps only the workers in `addresses` (the others left the cluster). */
  retain(addresses: Set<string>): void {
    for (const a of [...this.latest.keys()]) {
      if (!addresses.has(a)) {
        this.latest.delete(a);
        this.series.delete(a);
      }
    }
  }

  /** The workers, sorted by name then address. */
  workers(): WorkerMetrics[] {
    return [...this.latest.values()].sort(
      (a, b) => String(a.name).localeCompare(String(b.name), undefined, { numeric: true }) || a.address.localeCompare(b.address)
    );
  }
}
