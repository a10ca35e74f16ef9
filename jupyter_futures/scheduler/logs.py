"""The scheduler's own recent log records, and the workers', in dask's shape: lists of ``(level, line)``,
newest first (``Client.get_scheduler_logs``, ``Client.get_worker_logs``, ``LocalCluster.get_logs``)."""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from ..protocol.logs import LogBuffer, let_info_through

CAPACITY = 10_000  # records kept, as dask's distributed.admin.log-length

ring = LogBuffer(CAPACITY)  # the scheduler process's records


def install() -> None:
    """In the scheduler process: keep its records in ``ring``, INFO records of jupyter_futures included
    (stderr handlers keep the level they had: the terminal shows no more than before)."""
    root = logging.getLogger()
    if ring not in root.handlers:
        let_info_through()
        root.addHandler(ring)


def scheduler_logs(n: int | None = None) -> list[tuple[str, str]]:
    """The scheduler's last ``n`` records (all kept when None), newest first, as dask's ``(level, line)``."""
    lines = [_line(r) for r in reversed(ring.since())]
    return lines if n is None else lines[:n]


def _line(record: dict) -> tuple[str, str]:
    """A ``LogBuffer`` record as dask's ``(level, line)`` (dask's ``distributed.admin.log-format``)."""
    t = record["time"]
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) + f",{int(t % 1 * 1000):03d}"
    return record["level"], f"{stamp} - {record['name']} - {record['level']} - {record['text']}"


async def worker_logs(scheduler: Any, n: int | None = None, workers: list | None = None,
                      nanny: bool = False) -> dict:
    """{worker address: [(level, line)], newest first} of ``workers`` (addresses or names; default all)."""
    if nanny:
        raise ValueError("get_worker_logs(nanny=True): nannies here keep no log of their own (their messages "
                         "go to the log of the process that started them, e.g. the LocalCluster's); "
                         "leave out nanny= for the workers' logs")
    addresses = list(scheduler.worker_comms) if workers is None else scheduler.state.worker_addresses(workers)
    addresses = [a for a in addresses if a in scheduler.worker_comms]
    replies = await asyncio.gather(*(scheduler.worker_comms[a].request("logs") for a in addresses),
                                   return_exceptions=True)
    out = {}
    for address, reply in zip(addresses, replies):
        if isinstance(reply, BaseException):
            out[address] = [("ERROR", f"could not get the logs of worker {address}: {reply!r}")]
            continue
        lines = [_line(r) for r in reversed(reply) if r.get("kind", "log") == "log"]
        out[address] = lines if n is None else lines[:n]
    return out
