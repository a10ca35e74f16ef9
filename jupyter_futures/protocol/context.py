"""Which task, if any, the current thread is running: set by workers, read by clients.

This lets client code (``future.result()`` inside a task, ``get_client()``) behave
as it must inside a worker without the client package importing the worker.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

_local = threading.local()


class TaskContext:
    """What a worker thread runs now, and how it steps out of (and back into) the thread pool."""

    __slots__ = ("key", "worker", "secede", "rejoin", "seceded")

    def __init__(self, key: str, worker: Any, secede: Callable[[], None], rejoin: Callable[[], None]):
        self.key = key
        self.worker = worker
        self.secede = secede
        self.rejoin = rejoin
        self.seceded = False


def current_task() -> TaskContext | None:
    """The task this thread runs, or None outside workers' task threads."""
    return getattr(_local, "task", None)


def set_current_task(ctx: TaskContext | None) -> None:
    """Mark this thread as running ``ctx`` (None: no task)."""
    _local.task = ctx


class blocking_wait:
    """Around a blocking wait in a task thread: leave the worker's thread pool, come back after.

    So a task that waits on other tasks' results frees its thread for them, and a
    worker with one thread cannot deadlock on its own subtasks.
    """

    __slots__ = ("ctx",)

    def __enter__(self) -> None:
        ctx = current_task()
        self.ctx = ctx if ctx is not None and not ctx.seceded else None
        if self.ctx is not None:
            self.ctx.secede()

    def __exit__(self, *exc) -> None:
        if self.ctx is not None:
            self.ctx.rejoin()
