/**
 * What the profile pane shows: the whole cluster, one function (key prefix), one future (a key
 * typed or pasted) or a set of futures (one cell's, from the notebook's futures pane); and the
 * `profile` feed request arguments for a scope, worker and time window (docs/jupyter-api.md).
 */

export type ProfileScope =
  | { kind: 'all' }
  | { kind: 'prefix'; prefix: string }
  | { kind: 'future'; key: string }
  | { kind: 'keys'; id: string; label: string; keys: string[] };

export interface ProfileArgs {
  start?: number;
  stop?: number;
  prefix?: string;
  keys?: string[];
  worker?: string;
}

/**
 * The request arguments, or null when there is nothing to ask (one future, but no key given yet).
 * `window` is seconds back from `now` (epoch seconds) or 'all'; `worker` '' means every worker.
 */
export function profileArgs(scope: ProfileScope, window: string, worker: string, now: number): ProfileArgs | null {
  const args: ProfileArgs = {};
  if (window !== 'all') {
    const seconds = Number(window);
    if (Number.isFinite(seconds) && seconds > 0) {
      args.start = now - seconds;
      args.stop = now;
    }
  }
  switch (scope.kind) {
    case 'all':
      break;
    case 'prefix':
      if (scope.prefix) {
        args.prefix = scope.prefix;
      }
      break;
    case 'future': {
      const key = scope.key.trim();
      if (!key) {
        return null;
      }
      args.keys = [key];
      break;
    }
    case 'keys':
      if (!scope.keys.length) {
        return null;
      }
      args.keys = [...scope.keys];
      break;
  }
  if (worker) {
    args.worker = worker;
  }
  return args;
}

/** The value of a scope in the pane's scope dropdown. */
export function scopeValue(scope: ProfileScope): string {
  switch (scope.kind) {
    case 'all':
      return '';
    case 'prefix':
      return scope.prefix ? `prefix:${scope.prefix}` : '';
    case 'future':
      return 'future:';
    case 'keys':
      return `keys:${scope.id}`;
  }
}

/** Words for a scope (titles of exports, messages). */
export function describeScope(scope: ProfileScope): string {
  switch (scope.kind) {
    case 'all':
      return 'all functions';
    case 'prefix':
      return scope.prefix ? `function ${scope.prefix}` : 'all functions';
    case 'future':
      return scope.key.trim() ? `future ${scope.key.trim()}` : 'one future';
    case 'keys':
      return scope.label;
  }
}

/** The dropdown label of a set of futures from one notebook cell. */
export function cellScopeLabel(cell: string | null, count: number): string {
  return `${cell ? `cell ${cell.slice(0, 8)}` : 'outside a cell'} (${count} ${count === 1 ? 'future' : 'futures'})`;
}
