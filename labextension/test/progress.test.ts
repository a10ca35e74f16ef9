import { describe, expect, it } from 'vitest';
import { ProgressModel, summarize } from '../src/core/progress';

describe('progress aggregation', () => {
  it('merges deltas of changed prefixes and keeps first-seen order', () => {
    const p = new ProgressModel();
    p.update({ inc: { total: 10, waiting: 10, processing: 0, memory: 0, erred: 0, released: 0 } });
    p.update({ add: { total: 5, waiting: 5, processing: 0, memory: 0, erred: 0, released: 0 } });
    p.update({ inc: { total: 10, waiting: 2, processing: 2, memory: 5, erred: 1, released: 0 } });
    const rows = p.rows();
    expect(rows.map(r => r.prefix)).toEqual(['inc', 'add']);
    expect(rows[0]).toMatchObject({ total: 10, done: 5, erred: 1, processing: 2, waiting: 2, fraction: 0.5 });
    expect(p.overall()).toMatchObject({ total: 15, done: 5, erred: 1, waiting: 7 });
  });

  it('counts released results as done and reaches 100%', () => {
    expect(summarize('f', { total: 4, waiting: 0, processing: 0, memory: 1, erred: 0, released: 3 }).fraction).toBe(1);
  });

  it('never lets the parts exceed the total', () => {
    const s = summarize('f', { total: 3, waiting: 5, processing: 5, memory: 2, erred: 2, released: 0 });
    expect(s.done + s.erred + s.processing + s.waiting).toBeLessThanOrEqual(3);
    expect(s.erred).toBe(2);
    expect(s.done).toBe(1);
  });

  it('forgets a prefix whose total drops to zero', () => {
    const p = new ProgressModel();
    p.update({ f: { total: 1, waiting: 1 } });
    p.update({ f: { total: 0 } });
    expect(p.rows()).toEqual([]);
  });
});
