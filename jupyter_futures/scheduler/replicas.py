"""Where copies of data should go, for ``replicate``, ``rebalance`` and ``retire_workers``: pure
functions of ``SchedulerState`` (no I/O, nothing changed). ``data_moves.py`` carries the plans out.

A plan of copies is ``{recipient address: {key: [holder addresses]}}``, as a worker's
``fetch_replicas`` request takes it; a plan of drops is ``{worker address: [keys]}``.
"""
from __future__ import annotations

import random
from typing import Iterable

from .state import MEMORY, SchedulerState, TaskState, WorkerState

BRANCHING_FACTOR = 2  # copies of a key made from each holder per round, as dask's replicate
REBALANCE_TOLERANCE = 0.05  # a worker within this share of the mean is balanced (half dask's sender-recipient gap)


def missing_keys(state: SchedulerState, keys: Iterable[str]) -> list[str]:
    """The keys of ``keys`` held by no worker."""
    return [k for k in keys if k not in state.tasks or not state.tasks[k].who_has]


def _copy(plan: dict, ws: WorkerState, ts: TaskState) -> None:
    plan.setdefault(ws.address, {})[ts.key] = [h.address for h in ts.who_has]


def replicate_plan(state: SchedulerState, keys: Iterable[str], n: int, workers: list[str],
                   branching_factor: int = BRANCHING_FACTOR) -> tuple[dict, dict]:
    """(copies, drops) that bring each key in memory towards ``n`` holders among ``workers``: extra copies
    are dropped at once; missing ones are added ``branching_factor`` per holder (call again after the copies
    arrived, until no copy is planned)."""
    pool = {state.workers[a] for a in workers}
    copies: dict = {}
    drops: dict = {}
    for key in keys:
        ts = state.tasks.get(key)
        if ts is None or ts.state != MEMORY or not ts.who_has:
            continue
        held = [ws for ws in ts.who_has if ws in pool]
        if len(held) > n:
            for ws in random.sample(held, len(held) - n):
                drops.setdefault(ws.address, []).append(key)
            continue
        count = min(n - len(held), branching_factor * len(ts.who_has))
        candidates = sorted(pool - ts.who_has, key=lambda ws: (ws.nbytes, ws.address))
        for ws in candidates[:count]:
            _copy(copies, ws, ts)
    return copies, drops


def retire_plan(state: SchedulerState, retiring: Iterable[str]) -> dict:
    """Copies that leave no key in memory held only by the ``retiring`` workers: each to the other worker
    holding the fewest bytes so far. Empty when there is nothing to move, or nowhere to move it."""
    leaving = {state.workers[a] for a in retiring if a in state.workers}
    staying = [ws for ws in state.workers.values() if ws not in leaving]
    if not staying:
        return {}
    planned = {ws: ws.nbytes for ws in staying}
    copies: dict = {}
    for ws in leaving:
        for ts in sorted(ws.has_what, key=lambda t: t.priority):
            if ts.state != MEMORY or not ts.who_has <= leaving or ts.actor:
                continue
            if any(ts.key in keys for keys in copies.values()):
                continue
            target = min(staying, key=lambda w: (planned[w], w.address))
            _copy(copies, target, ts)
            planned[target] += ts.nbytes
    return copies


def sole_keys(state: SchedulerState, retiring: Iterable[str]) -> list[str]:
    """Keys in memory that only the ``retiring`` workers hold."""
    leaving = {state.workers[a] for a in retiring if a in state.workers}
    return sorted({ts.key for ws in leaving for ts in ws.has_what if ts.state == MEMORY and ts.who_has <= leaving})


def rebalance_plan(state: SchedulerState, keys: Iterable[str] | None,
                   workers: list[str]) -> list[tuple[str, str, str]]:
    """Moves ``(sender, recipient, key)`` that bring ``workers`` towards the mean of the bytes they hold (as
    the scheduler counts them), as dask's policy: workers above the mean send to those below, the farthest
    first, the oldest keys first; a recipient never gets a key it holds already; a key a task processing on
    its sender reads, or an actor, stays."""
    wss = [state.workers[a] for a in workers]
    if len(wss) < 2:
        return []
    allowed = None if keys is None else set(keys)
    held = {ws: ws.nbytes for ws in wss}
    mean = sum(held.values()) / len(wss)
    tolerance = REBALANCE_TOLERANCE * mean
    moves: list[tuple[str, str, str]] = []
    taken: set[tuple[WorkerState, str]] = set()  # (worker, key) already sent or received by a move
    senders = list(wss)
    while senders:
        sender = max(senders, key=lambda ws: (held[ws], ws.address))
        recipient = min(wss, key=lambda ws: (held[ws], ws.address))
        excess, room = held[sender] - mean, mean - held[recipient]
        if excess <= tolerance or room <= tolerance:
            break
        limit = min(excess, room) + tolerance
        for ts in sorted(sender.has_what, key=lambda t: t.priority):
            if ((sender, ts.key) in taken or (recipient, ts.key) in taken or ts.state != MEMORY or ts.actor
                    or not 0 < ts.nbytes <= limit or (allowed is not None and ts.key not in allowed)
                    or recipient in ts.who_has or any(d.processing_on is sender for d in ts.dependents)):
                continue
            moves.append((sender.address, recipient.address, ts.key))
            taken.add((sender, ts.key))
            taken.add((recipient, ts.key))
            held[sender] -= ts.nbytes
            held[recipient] += ts.nbytes
            break
        else:
            senders.remove(sender)  # nothing of it fits: the next farthest above the mean may have something
    return moves


def workers_to_close(state: SchedulerState, memory_ratio: float = 2.0) -> list[str]:
    """Workers ``retire_workers()`` closes when given none, as dask's default: idle ones (nothing processing),
    holding the fewest bytes first, while the memory limits of those left stay ``memory_ratio`` times the
    bytes held."""
    total = sum(ws.nbytes for ws in state.workers.values())
    limit = sum(ws.memory_limit for ws in state.workers.values())
    out = []
    for ws in sorted(state.workers.values(), key=lambda w: (w.nbytes, w.address)):
        if ws.processing or ws.long_running or limit - ws.memory_limit < memory_ratio * total:
            break
        limit -= ws.memory_limit
        out.append(ws.address)
    return out
