import { describe, expect, it } from 'vitest';
import { LogStore, emptyFilter, filterLogs } from '../src/core/logs';
import type { LogRecord } from '../src/core/types';

const log = (time: number, worker: string, kind: string, text: string, key: string | null = null): LogRecord => ({
  time,
  worker,
  kind,
  level: kind === 'log' ? 'INFO' : null,
  name: kind === 'log' ? 'jupyter_futures.worker' : null,
  key,
  text
});

const records = [
  log(1, 'tcp://a:1', 'log', 'Worker started'),
  log(2, 'tcp://a:1', 'stdout', 'working on 2', 'inc-abc'),
  log(3, 'tcp://b:1', 'stderr', 'Traceback: ValueError', 'fail-def'),
  log(4, 'tcp://b:1', 'stdout', 'WORKING hard', 'inc-xyz')
];

describe('log filtering', () => {
  it('keeps everything with an empty filter', () => {
    expect(filterLogs(records, emptyFilter())).toHaveLength(4);
  });
  it('finds text case-insensitively, in message, logger and key', () => {
    expect(filterLogs(records, { ...emptyFilter(), text: 'working' }).map(r => r.time)).toEqual([2, 4]);
    expect(filterLogs(records, { ...emptyFilter(), text: 'jupyter_futures.worker' }).map(r => r.time)).toEqual([1]);
    expect(filterLogs(records, { ...emptyFilter(), text: 'FAIL-' }).map(r => r.time)).toEqual([3]);
  });
  it('filters by worker, kind and task key together', () => {
    expect(filterLogs(records, { ...emptyFilter(), worker: 'tcp://b:1' }).map(r => r.time)).toEqual([3, 4]);
    expect(filterLogs(records, { ...emptyFilter(), kinds: ['stdout', 'stderr'] }).map(r => r.time)).toEqual([2, 3, 4]);
    expect(filterLogs(records, { ...emptyFilter(), key: 'inc' }).map(r => r.time)).toEqual([2, 4]);
    expect(filterLogs(records, { text: 'work', worker: 'tcp://b:1', kinds: ['stdout'], key: 'inc' }).map(r => r.time)).toEqual([4]);
  });
  it('keeps records in time order without duplicates and capped', () => {
    const store = new LogStore(3);
    expect(store.add([records[2], records[3]])).toBe(2);
    expect(store.add([records[0], records[2]])).toBe(1);
    expect(store.records.map(r => r.time)).toEqual([1, 3, 4]);
    store.add([log(5, 'tcp://a:1', 'log', 'later')]);
    expect(store.records.map(r => r.time)).toEqual([3, 4, 5]);
    expect(store.workers()).toEqual(['tcp://a:1', 'tcp://b:1']);
    expect(store.newest()).toBe(5);
  });
});
