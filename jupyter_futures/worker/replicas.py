"""Copies of data asked for by the scheduler (``replicate``, ``rebalance``, ``retire_workers``): fetched
from peers and kept as values of this worker, which the scheduler lists here from then on.

Unlike an input copied for a task (``WorkerState.copied``, dropped when no task here uses it), such a
copy stays until the scheduler frees it.
"""
from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger("jupyter_futures.worker")


async def fetch_replicas(worker: Any, who_has: dict[str, list[str]]) -> list[str]:
    """Fetch ``{key: [holders]}`` from the holders (the next one when one fails or lacks it) and keep the
    values; returns the keys held here now (those already here included)."""
    held = []
    wanted: dict[str, list[str]] = {}
    for key, holders in who_has.items():
        if key in worker.data:
            held.append(key)
        else:
            wanted[key] = [h for h in holders if h != worker.address]
    while wanted:
        by_peer: dict[str, list[str]] = {}
        for key, holders in list(wanted.items()):
            if not holders:
                logger.info("could not copy %r: none of its holders had it", key)
                del wanted[key]
            else:
                by_peer.setdefault(holders.pop(0), []).append(key)
        for peer, keys in by_peer.items():
            for key in await _fetch_from(worker, peer, keys):
                wanted.pop(key, None)
                held.append(key)
    for key in held:
        # An input copied for a task here becomes a value of this worker: no longer dropped after the task.
        worker.state.copied.pop(key, None)
    return held


async def _fetch_from(worker: Any, peer: str, keys: list[str]) -> list[str]:
    """The keys of ``keys`` that ``peer`` sent and this worker now holds (a full reply names the keys it
    left out: asked again)."""
    got = []
    try:
        comm = await worker._peer(peer)
        while keys:
            reply, keys = await comm.request("get_data", keys)
            if not reply:
                break
            for key, ser in reply.items():
                if key not in worker.data:
                    worker.data.put(key, await worker.deserialize(ser), ser.nbytes)
                got.append(key)
    except Exception as exc:  # noqa: BLE001 - the caller tries the next holder
        logger.info("could not copy %s from %s: %s", keys, peer, exc)
    return got
