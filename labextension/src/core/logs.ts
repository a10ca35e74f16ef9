/** Log records kept in the browser and their filters (text, worker, kind, task key). */
import type { LogRecord } from './types';

export interface LogFilter {
  /** Case-insensitive text to find in the message, logger name or key; '' for all. */
  text: string;
  /** A worker address, or '' for all. */
  worker: string;
  /** Kinds to show ('log', 'stdout', 'stderr'); empty for all. */
  kinds: string[];
  /** A substring of the task key, or '' for all. */
  key: string;
}

/** A filter that keeps everything. */
export function emptyFilter(): LogFilter {
  return { text: '', worker: '', kinds: [], key: '' };
}

/** True when a record passes the filter. */
export function passes(r: LogRecord, f: LogFilter): boolean {
  if (f.worker && r.worker !== f.worker) {
    return false;
  }
  if (f.kinds.length && !f.kinds.includes(r.kind)) {
    return false;
  }
  if (f.key && !(r.key ?? '').toLowerCase().includes(f.key.toLowerCase())) {
    return false;
  }
  const q = f.text.trim().toLowerCase();
  if (q) {
    const hay = `${r.text ?? ''}\n${r.name ?? ''}\n${r.key ?? ''}\n${r.level ?? ''}`.toLowerCase();
    if (!hay.includes(q)) {
      return false;
    }
  }
  return true;
}

/** The records that pass the filter, in order. */
export function filterLogs(records: LogRecord[], f: LogFilter): LogRecord[] {
  return records.filter(r => passes(r, f));
}

/** Log records in time order, without duplicates (history and live deltas overlap), at most `cap`. */
export class LogStore {
  records: LogRecord[] = [];
  private seen = new Set<string>();

  constructor(readonly cap = 5000) {}

  /** Adds records (in any order); returns how many were new. */
  add(records: LogRecord[]): number {
    let added = 0;
    let needsSort = false;
    for (const r of records) {
      const id = `${r.time}\u0000${r.worker}\u0000${r.kind}\u0000${r.key}\u0000${r.text}`;
      if (this.seen.has(id)) {
        continue;
      }
      this.seen.add(id);
      const last = this.records[this.records.length - 1];
      if (last && r.time < last.time) {
        needsSort = true;
      }
      this.records.push(r);
      added++;
    }
    if (needsSort) {
      this.records.sort((a, b) => a.time - b.time);
    }
    if (this.records.length > this.cap) {
      const dropped = this.records.splice(0, this.records.length - this.cap);
      for (const r of dropped) {
        this.seen.delete(`${r.time}\u0000${r.worker}\u0000${r.kind}\u0000${r.key}\u0000${r.text}`);
      }
    }
    return added;
  }

  /** The distinct workers seen, sorted. */
  workers(): string[] {
    return [...new Set(this.records.map(r => r.worker).filter((w): w is string => !!w))].sort();
  }

  /** The time of the newest record, or 0. */
  newest(): number {
    return this.records.length ? this.records[this.records.length - 1].time : 0;
  }
}
