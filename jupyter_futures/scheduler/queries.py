"""``dashboard_query``: the feed's on-demand requests, answered from the workers and the scheduler.

"profile", "stacks" and "logs" ask the workers; "clients", "workers", "progress" and "tasks"
answer with the current data of that feed topic (a snapshot, for a REST call or a page that
opens). Read-only. Answers are plain JSON-able values in the shapes of docs/jupyter-api.md
("Live feed").
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..protocol.calltree import merge
from . import views
from .feed import HISTORY

logger = logging.getLogger("jupyter_futures.scheduler")

WORKER_TIMEOUT = 10.0  # seconds a worker has to answer
MAX_LOG_RECORDS = 5000  # records in one ``logs`` answer (the most recent)


async def dashboard_query(scheduler: Any, what: str, args: dict | None = None) -> Any:
    """Answer ``what`` ("profile", "stacks" or "logs") with ``args`` (see the module docstring)."""
    args = dict(args or {})
    if what == "profile":
        return await profile(scheduler, args.get("start"), args.get("stop"), args.get("prefix"), args.get("keys"),
                             args.get("worker"))
    if what == "stacks":
        return await stacks(scheduler, args.get("worker"))
    if what == "logs":
        return await logs(scheduler, args.get("worker"), args.get("since"))
    if what in ("clients", "workers", "progress", "tasks"):
        return snapshot(scheduler, what, args.get("since"))
    raise ValueError(f"unknown dashboard query {what!r}: ask for 'profile', 'stacks', 'logs', 'clients', "
                     f"'workers', 'progress' or 'tasks'")


def snapshot(scheduler: Any, topic: str, since: float | None = None) -> Any:
    """The whole current data of a feed topic (``tasks``: the records that ended after ``since``, at
    most the feed's history)."""
    state = scheduler.state
    if topic == "clients":
        return views.clients_view(state, scheduler.feed.user_clients(), scheduler.feed.cells)
    if topic == "workers":
        return views.workers_view(state)
    if topic == "progress":
        counts = views.ProgressCounts()
        counts.add_finished(state.task_stream)
        return counts.counts(state)
    records = state.task_stream[-HISTORY:]
    if since is not None:
        records = [r for r in records if r[3] >= float(since)]
    return views.task_records(state, records)


def _targets(scheduler: Any, worker: str | None) -> list[str]:
    if worker is None:
        return list(scheduler.worker_comms)
    if worker not in scheduler.worker_comms:
        raise ValueError(f"no worker {worker!r} in this cluster; its workers are {sorted(scheduler.worker_comms)}")
    return [worker]


async def _ask(scheduler: Any, workers: list[str], op: str, *args: Any) -> dict[str, Any]:
    """{worker: answer} of the workers that answered ``op`` in time (the others are logged and left out)."""
    async def one(address: str) -> Any:
        return await asyncio.wait_for(scheduler.worker_comms[address].request(op, *args), WORKER_TIMEOUT)
    replies = await asyncio.gather(*(one(w) for w in workers), return_exceptions=True)
    out = {}
    for worker, reply in zip(workers, replies):
        if isinstance(reply, BaseException):
            logger.info("no %s from worker %s: %s", op, worker, reply)
        else:
            out[worker] = reply
    return out


async def profile(scheduler: Any, start: float | None = None, stop: float | None = None, prefix: str | None = None,
                  keys: list | None = None, worker: str | None = None) -> dict:
    """The workers' call trees merged, of a time window and of tasks of a key prefix or of these keys."""
    start = None if start is None else float(start)
    stop = None if stop is None else float(stop)
    keys = None if keys is None else [str(k) for k in keys]
    replies = await _ask(scheduler, _targets(scheduler, worker), "profile", start, stop, prefix, keys)
    return merge(*replies.values())


async def stacks(scheduler: Any, worker: str | None) -> list[dict]:
    """What the tasks running on ``worker`` are doing right now: one stack per running task."""
    if not worker:
        raise ValueError("stacks needs a worker: {'worker': address}")
    replies = await _ask(scheduler, _targets(scheduler, worker), "stacks")
    if worker not in replies:
        raise TimeoutError(f"worker {worker} did not answer within {WORKER_TIMEOUT} s")
    return replies[worker]


async def logs(scheduler: Any, worker: str | None = None, since: float | None = None) -> list[dict]:
    """Log records of the workers (their rings) and task output the scheduler saw, oldest first."""
    since = None if since is None else float(since)
    replies = await _ask(scheduler, _targets(scheduler, worker), "logs", since)
    records = [r for batch in replies.values() for r in batch]
    for r in scheduler.feed.recent_logs:
        if r["kind"] != "log" and (worker is None or r["worker"] == worker) and (since is None or r["time"] >= since):
            records.append(r)
    records.sort(key=lambda r: r["time"])
    return records[-MAX_LOG_RECORDS:]
