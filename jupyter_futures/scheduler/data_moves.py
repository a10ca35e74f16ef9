"""Moving data between workers on request: ``replicate``, ``rebalance``, ``retire_workers``.

The plans are ``replicas.py``'s (pure); here workers are asked to copy keys from their peers
(``fetch_replicas``), and what they report goes to the state machine (``replicas_added``,
``replicas_dropped``, ``remove_worker``), so ``who_has`` stays true. One operation runs at a time.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..protocol import messages
from . import replicas

logger = logging.getLogger("jupyter_futures.scheduler")

RETIRE_ROUNDS = 5  # copy rounds for data that only retiring workers hold (tasks may finish meanwhile)
RETIRE_CLOSE_TIMEOUT = 30.0  # seconds retired workers have to disconnect


class DataMoves:
    """The scheduler's ``replicate``, ``rebalance`` and ``retire_workers`` requests."""

    def __init__(self, scheduler: Any):
        self.scheduler = scheduler
        self._lock = asyncio.Lock()

    async def _copy(self, copies: dict[str, dict[str, list[str]]]) -> None:
        """Ask each recipient to fetch its keys from their holders; record the copies it made."""
        s = self.scheduler
        targets = [a for a in copies if a in s.worker_comms]
        replies = await asyncio.gather(*(s.worker_comms[a].request("fetch_replicas", copies[a]) for a in targets),
                                       return_exceptions=True)
        for address, reply in zip(targets, replies):
            if isinstance(reply, BaseException):
                logger.warning("worker %s could not copy %d keys: %r", address, len(copies[address]), reply)
            else:
                s.state.replicas_added(address, reply)
        s._flush()

    def _drop(self, drops: dict[str, list[str]]) -> None:
        for address, keys in drops.items():
            self.scheduler.state.replicas_dropped(address, keys)
        self.scheduler._flush()

    async def replicate(self, keys: list[str], n: int | None = None, workers: list | None = None,
                        branching_factor: int = replicas.BRANCHING_FACTOR) -> None:
        """Bring each key to ``n`` holders among ``workers`` (default: all of them), copying in rounds
        (each holder gives ``branching_factor`` copies a round) and dropping extra copies."""
        async with self._lock:
            state = self.scheduler.state
            pool = list(state.workers) if workers is None else state.worker_addresses(workers)
            n = len(pool) if n is None else min(n, len(pool))
            if n < 1:
                raise ValueError("cannot use replicate to delete data: give n >= 1 (and a worker to hold it)")
            copies, drops = replicas.replicate_plan(state, keys, n, pool, branching_factor)
            self._drop(drops)
            held = -1
            while copies:
                now = sum(len(state.tasks[k].who_has) for k in keys if k in state.tasks)
                if now == held:  # the last round made no copy: a holder is unreachable
                    logger.warning("replicate: copies of %d keys could not be made", len(keys))
                    break
                held = now
                await self._copy(copies)
                pool = [a for a in pool if a in state.workers]
                copies, _ = replicas.replicate_plan(state, keys, min(n, len(pool)), pool, branching_factor)

    async def rebalance(self, keys: list[str] | None = None, workers: list | None = None) -> None:
        """Move keys (of ``keys``; default all) from the ``workers`` above the mean of bytes held to those
        below (``replicas.rebalance_plan``): copied first, the sender's copy dropped once the recipient
        holds it. KeyError names keys held nowhere."""
        async with self._lock:
            state = self.scheduler.state
            pool = list(state.workers) if workers is None else state.worker_addresses(workers)
            if keys is not None:
                missing = replicas.missing_keys(state, keys)
                if missing:
                    raise KeyError(f"Could not rebalance keys: {missing} (no worker holds them: they were "
                                   f"released or lost)")
            moves = replicas.rebalance_plan(state, keys, pool)
            copies: dict = {}
            for sender, recipient, key in moves:
                holders = [sender] + [ws.address for ws in state.tasks[key].who_has if ws.address != sender]
                copies.setdefault(recipient, {})[key] = holders
            await self._copy(copies)
            drops: dict = {}
            for sender, recipient, key in moves:
                ts = state.tasks.get(key)
                if ts is not None and any(ws.address == recipient for ws in ts.who_has):
                    drops.setdefault(sender, []).append(key)
            self._drop(drops)

    async def retire_workers(self, workers: list | None = None, close_workers: bool = True,
                             remove: bool = True) -> dict:
        """Copy what only these workers hold to the others, then remove them from the scheduler (``remove``)
        and close them for good (``close_workers``; their nannies do not restart them). Returns
        {address: description} of the workers retired; a worker whose data had nowhere to go stays."""
        s = self.scheduler
        async with self._lock:
            state = s.state
            addresses = (replicas.workers_to_close(state) if workers is None
                         else state.worker_addresses(workers))
            for _ in range(RETIRE_ROUNDS):
                copies = replicas.retire_plan(state, addresses)
                if not copies:
                    break
                await self._copy(copies)
            stuck = {ws.address for key in replicas.sole_keys(state, addresses)
                     for ws in state.tasks[key].who_has}
            if stuck:
                logger.warning("could not retire workers %s: data only they hold could not be moved to another "
                               "worker", sorted(stuck))
            retired = [a for a in addresses if a in state.workers and a not in stuck]
            described = s.identity()["workers"]
            out = {a: {"type": "Worker", **described[a]} for a in retired}
            for address in retired:
                comm = s.worker_comms.get(address)
                if remove:
                    s._removal_reasons[address] = "was retired"
                    state.remove_worker(address, "was retired")
                if comm is not None and close_workers:
                    comm.queue(messages.close())
                elif comm is not None and remove:
                    comm.close()  # cut off: a worker with a nanny comes back as a new one
            s._flush()
            s._wake_worker_waiters()
            logger.info("retired workers %s", retired)
        if retired and (close_workers or remove):
            try:
                await asyncio.wait_for(s._until_workers(lambda: not set(retired) & set(s.worker_comms)),
                                       RETIRE_CLOSE_TIMEOUT)
            except asyncio.TimeoutError:
                logger.warning("retired workers %s did not disconnect within %g s",
                               [a for a in retired if a in s.worker_comms], RETIRE_CLOSE_TIMEOUT)
        return out
