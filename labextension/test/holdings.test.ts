import { describe, expect, it } from 'vitest';
import { groupByCell, holdingsActionCode, holdingsOfKernel, mergeHoldings } from '../src/core/holdings';
import type { ClientHoldings } from '../src/core/types';

const holding = (client: string, kernel: string | null, futures: [string, string, string | null][]): ClientHoldings => ({
  client,
  kernel_id: kernel,
  notebook: null,
  held: futures.length,
  bytes: 0,
  futures: futures.map(([key, state, cell]) => ({ key, state, nbytes: 10, worker: 'tcp://w:1', cell }))
});

describe('notebook futures', () => {
  it('keeps the clients of one kernel and groups their futures by cell', () => {
    const all = [
      holding('c1', 'k1', [
        ['a', 'finished', 'cell-1'],
        ['b', 'pending', 'cell-2'],
        ['c', 'error', 'cell-1']
      ]),
      holding('c2', 'k2', [['d', 'finished', 'cell-9']]),
      holding('c3', 'k1', [['e', 'finished', null]])
    ];
    const groups = groupByCell(holdingsOfKernel(all, 'k1'));
    expect(groups.map(g => [g.cell, g.futures.map(f => f.key)])).toEqual([
      ['cell-1', ['a', 'c']],
      ['cell-2', ['b']],
      [null, ['e']]
    ]);
    expect(groups[0].states).toEqual({ finished: 1, error: 1 });
    expect(groups[0].bytes).toBe(20);
    expect(holdingsOfKernel(all, null)).toEqual([]);
  });

  it('takes each delta as the whole list and forgets clients that hold nothing', () => {
    const known = new Map<string, ClientHoldings>();
    mergeHoldings(known, [holding('c1', 'k', [['a', 'finished', null]]), holding('c2', 'k', [['b', 'finished', null]])]);
    expect([...known.keys()]).toEqual(['c1', 'c2']);
    mergeHoldings(known, [holding('c1', 'k', []), holding('c2', 'k', [['b', 'finished', null]])]);
    expect([...known.keys()]).toEqual(['c2']);
  });

  it('makes Python that names the keys as literal strings', () => {
    const code = holdingsActionCode('cancel', ['inc-1', 'x"); import os; ("']);
    expect(code).toContain('["inc-1","x\\"); import os; (\\""]');
    expect(code).toContain('"cancel"');
  });
});
