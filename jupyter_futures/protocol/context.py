"""Which task, if any, the current thread is running: set by workers, read by clients.

This lets client code (``future.result()`` inside a task, ``get_client()``) behave
as it must inside a worker without the client package importing the worker.
"""
from __future__ import annotations

import threading
from typing import Any

_local = threading.local()
_process_worker: Any = None


class ClientNeeded(RuntimeError):
    """Raised on a worker's event loop when unpickling a future needs the worker's client before it
    exists: the client connects to this very worker, so it must be made off the loop, then retried."""


class TaskContext:
    """What a worker thread runs now, and how it steps out of (and back into) the thread pool.

    ``worker`` provides ``_secede(ctx)`` and ``_rejoin(ctx)``; made once per task, so it stays small.
    """

    __slots__ = ("key", "worker", "seceded")

    def __init__(self, key: str, worker: Any):
        self.key = key
        self.worker = worker
        self.seceded = False

    def secede(self) -> None:
        """Leave the worker's thread pool (this thread is about to wait)."""
        self.worker._secede(self)

    def rejoin(self, wait: bool = True) -> None:
        """Count as a pool thread again; with ``wait``, once a pool thread is free (see Executor.rejoin)."""
        self.worker._rejoin(self, wait)


def current_task() -> TaskContext | None:
    """The task this thread runs, or None outside workers' task threads."""
    return getattr(_local, "task", None)


def set_current_task(ctx: TaskContext | None) -> None:
    """Mark this thread as running ``ctx`` (None: no task)."""
    _local.task = ctx


class adopting:
    """While unpickling a value that ``client`` received: the futures in it belong to ``client``."""

    __slots__ = ("client", "previous")

    def __init__(self, client: Any):
        self.client = client

    def __enter__(self) -> None:
        self.previous = getattr(_local, "adopter", None)
        _local.adopter = self.client

    def __exit__(self, *exc) -> None:
        _local.adopter = self.previous


def adopter() -> Any:
    """The client unpickling a value in this thread now (see ``adopting``), or None."""
    return getattr(_local, "adopter", None)


def process_worker() -> Any:
    """The worker this process hosts (for code outside task threads: the event loop, the actor
    thread), or None in a client process."""
    return _process_worker


def set_process_worker(worker: Any) -> None:
    """Record (or, with None, forget) the worker this process hosts."""
    global _process_worker
    _process_worker = worker


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
            self.ctx.rejoin(wait=False)  # the task may hold locks that the thread in its slot waits for
