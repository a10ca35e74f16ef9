import { describe, expect, it } from 'vitest';
import { cellScopeLabel, describeScope, profileArgs, scopeValue, type ProfileScope } from '../src/core/profileScope';

const NOW = 1_000_000;

describe('profile scope → request args', () => {
  it('asks for the whole cluster over all time with no args', () => {
    expect(profileArgs({ kind: 'all' }, 'all', '', NOW)).toEqual({});
  });

  it('turns a window into start/stop seconds before now', () => {
    expect(profileArgs({ kind: 'all' }, '60', '', NOW)).toEqual({ start: NOW - 60, stop: NOW });
    expect(profileArgs({ kind: 'all' }, 'nonsense', '', NOW)).toEqual({});
  });

  it('filters one function by prefix, and a worker', () => {
    expect(profileArgs({ kind: 'prefix', prefix: 'slow_inc' }, '10', 'tcp://w:1', NOW)).toEqual({
      start: NOW - 10,
      stop: NOW,
      prefix: 'slow_inc',
      worker: 'tcp://w:1'
    });
    expect(profileArgs({ kind: 'prefix', prefix: '' }, 'all', '', NOW)).toEqual({});
  });

  it('asks for one future by its (trimmed) key, and for nothing without a key', () => {
    expect(profileArgs({ kind: 'future', key: '  spin-abc123 \n' }, 'all', '', NOW)).toEqual({ keys: ['spin-abc123'] });
    expect(profileArgs({ kind: 'future', key: '   ' }, 'all', '', NOW)).toBeNull();
  });

  it("asks for one cell's futures by their keys, never a prefix", () => {
    const keys = ['slow_inc-1', 'slow_inc-2', 'spin-3'];
    const scope: ProfileScope = { kind: 'keys', id: 'map-cell', label: cellScopeLabel('map-cell', 3), keys };
    const args = profileArgs(scope, '600', 'tcp://w:2', NOW);
    expect(args).toEqual({ start: NOW - 600, stop: NOW, keys, worker: 'tcp://w:2' });
    expect(args?.keys).not.toBe(keys); // a copy: the request does not share the pane's list
    expect(args).not.toHaveProperty('prefix');
    expect(profileArgs({ ...scope, keys: [] }, 'all', '', NOW)).toBeNull();
  });

  it('names scopes for the dropdown and titles', () => {
    expect(scopeValue({ kind: 'all' })).toBe('');
    expect(scopeValue({ kind: 'prefix', prefix: 'spin' })).toBe('prefix:spin');
    expect(scopeValue({ kind: 'future', key: 'x' })).toBe('future:');
    expect(scopeValue({ kind: 'keys', id: 'c1', label: '', keys: [] })).toBe('keys:c1');
    expect(cellScopeLabel('map-cell-0123456789', 72)).toBe('cell map-cell (72 futures)');
    expect(cellScopeLabel(null, 1)).toBe('outside a cell (1 future)');
    expect(describeScope({ kind: 'future', key: ' k-1 ' })).toBe('future k-1');
    expect(describeScope({ kind: 'prefix', prefix: 'spin' })).toBe('function spin');
  });
});
