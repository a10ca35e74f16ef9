"""Profiles from the workers, merged; and ``performance_report``.

``Client.profile()`` asks every worker (through the scheduler's ``broadcast``)
for the call tree its sampler recorded (``worker/profile.py``) and merges them
here. ``performance_report`` writes one self-contained HTML page of what ran
while it was open: the task stream, time per function and the flame graph.
"""
from __future__ import annotations

import datetime
import inspect
import logging
import time
from typing import Any

from ..protocol.calltree import empty_tree, merge
from .current import default_client

logger = logging.getLogger("jupyter_futures.client")


def _seconds(t: Any) -> float | None:
    """Epoch seconds from a number or a datetime (None stays None)."""
    if t is None:
        return None
    if isinstance(t, datetime.datetime):
        return t.timestamp()
    return float(t)


async def fetch_profile(client: Any, start: Any = None, stop: Any = None, key: str | None = None,
                        workers: Any = None, filename: str | None = None, merge_workers: bool = True) -> dict:
    """The body of ``Client.profile`` (runs on the client's loop)."""
    start, stop = _seconds(start), _seconds(stop)
    if isinstance(workers, str):
        workers = [workers]
    targets = list(workers) if workers else None
    replies = await client.scheduler_comm.request("broadcast", "profile", (start, stop, key), targets)
    trees = {}
    for worker, reply in replies.items():
        if isinstance(reply, BaseException):
            logger.warning("no profile from worker %s: %s", worker, reply)
            continue
        trees[worker] = reply
    merged = merge(*trees.values())
    if filename:
        from ..dashboard import flamegraph

        subtitle = flamegraph.describe_window(start, stop, key, targets, merged["count"])
        flamegraph.write(merged, filename, subtitle=subtitle)
    return merged if merge_workers else trees


def samples_of(tree: dict, name: str) -> int:
    """Samples in frames of functions called ``name`` (each sample counted once)."""
    if tree.get("description", {}).get("name") == name and tree.get("identifier") != "root":
        return tree.get("count", 0)
    return sum(samples_of(c, name) for c in tree.get("children", {}).values())


class performance_report:
    """Write an HTML report of what ran on the cluster while the block ran.

    >>> with performance_report(filename="report.html"):   # doctest: +SKIP
    ...     client.gather(client.map(work, range(100)))

    ``async with`` works too (with an asynchronous client). The page holds a
    summary (duration, tasks, time per function), the task stream and the flame
    graph of the profile; it needs no network to open.
    """

    def __init__(self, filename: str = "jupyter-futures-report.html", client: Any = None):
        self.filename = filename
        self._client = client
        self.start: float | None = None
        self.stop: float | None = None
        self.task_stream: list[dict] = []
        self.profile: dict = empty_tree()

    def _get_client(self) -> Any:
        return default_client(self._client)

    def __enter__(self) -> performance_report:
        self._get_client()  # fail early when there is no client
        self.start = time.time()
        return self

    def __exit__(self, *exc: Any) -> None:
        client = self._get_client()
        self.stop = time.time()
        # The profile first: its round trip through the workers lets the scheduler take in the
        # last "finished" messages before the task stream is read.
        self.profile = client.profile(start=self.start, stop=self.stop)
        self.task_stream = client.get_task_stream(start=self.start)
        self._write()

    async def __aenter__(self) -> performance_report:
        return self.__enter__()

    async def __aexit__(self, *exc: Any) -> None:
        client = self._get_client()
        self.stop = time.time()
        self.profile = await _maybe_await(client.profile(start=self.start, stop=self.stop))
        self.task_stream = await _maybe_await(client.get_task_stream(start=self.start))
        self._write()

    def _write(self) -> None:
        from ..dashboard import report

        report.write(self.filename, self.task_stream, self.profile, self.start, self.stop)


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value
