/** "This notebook's futures": the holdings of a kernel's clients, grouped by the cell that made them. */
import type { ClientHoldings, HeldFuture } from './types';

export interface CellGroup {
  /** The Jupyter cell id, or null for futures made outside a known cell. */
  cell: string | null;
  futures: HeldFuture[];
  bytes: number;
  /** Count per state ("pending", "finished", "error", ...). */
  states: { [state: string]: number };
}

/** Holdings of the clients running in the given kernel. */
export function holdingsOfKernel(all: ClientHoldings[], kernelId: string | null): ClientHoldings[] {
  if (!kernelId) {
    return [];
  }
  return all.filter(h => h.kernel_id === kernelId);
}

/** Groups futures by cell, keeping the order in which cells first appear. */
export function groupByCell(holdings: ClientHoldings[]): CellGroup[] {
  const groups = new Map<string, CellGroup>();
  for (const h of holdings) {
    for (const f of h.futures ?? []) {
      const id = f.cell ?? '';
      let g = groups.get(id);
      if (!g) {
        g = { cell: f.cell ?? null, futures: [], bytes: 0, states: {} };
        groups.set(id, g);
      }
      g.futures.push(f);
      g.bytes += f.nbytes ?? 0;
      g.states[f.state] = (g.states[f.state] ?? 0) + 1;
    }
  }
  return [...groups.values()];
}

/** Takes a "clients" delta (the whole list of clients and what they hold) as the known holdings. */
export function mergeHoldings(known: Map<string, ClientHoldings>, delta: ClientHoldings[]): void {
  known.clear();
  for (const h of delta) {
    if (h.futures?.length || h.held) {
      known.set(h.client, h);
    }
  }
}

/**
 * Python code that cancels or releases the given keys in the kernel that holds them, through
 * the default client. Keys go in as a JSON list, which is also a valid Python literal of strings.
 */
export function holdingsActionCode(action: 'cancel' | 'release', keys: string[]): string {
  const literal = JSON.stringify(keys);
  return [
    'def __jf_action(keys, action):',
    '    import gc',
    '    from jupyter_futures import Future, default_client',
    '    client = default_client()',
    '    wanted = set(keys)',
    '    futures = [o for o in gc.get_objects() if isinstance(o, Future) and o.key in wanted]',
    "    if action == 'cancel':",
    '        client.cancel(futures)',
    '    else:',
    '        for f in futures:',
    '            f.release()',
    '    return len(futures)',
    `__jf_action(${literal}, ${JSON.stringify(action)})`,
    'del __jf_action'
  ].join('\n');
}
