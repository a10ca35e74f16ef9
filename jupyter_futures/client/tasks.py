"""Submitting work from inside tasks: ``get_client``, ``worker_client``, ``secede``, ``rejoin``."""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

from ..protocol.context import current_task, process_worker
from .current import task_client


def get_worker() -> Any:
    """The worker running the current task; ValueError outside tasks."""
    ctx = current_task()
    if ctx is None:
        raise ValueError("get_worker() works only inside a task running on a worker")
    return ctx.worker


def get_client(address: str | None = None, timeout: float | None = None) -> Any:
    """In a worker process: the worker's client (one per worker process, reused). Elsewhere: a new client
    of the scheduler at ``address``, or the default client."""
    if address is not None and current_task() is None and process_worker() is None:
        from .client import Client

        return Client(address, timeout=timeout or 10.0)
    return task_client()


def secede() -> None:
    """Leave the worker's thread pool: this task will wait long, let others use its thread."""
    ctx = current_task()
    if ctx is None:
        raise ValueError("secede() works only inside a task running on a worker")
    if not ctx.seceded:
        ctx.secede()


def rejoin() -> None:
    """Count as a worker thread again after ``secede()``."""
    ctx = current_task()
    if ctx is None:
        raise ValueError("rejoin() works only inside a task running on a worker")
    if ctx.seceded:
        ctx.rejoin()


@contextlib.contextmanager
def worker_client(timeout: float | None = None, separate_thread: bool = True) -> Iterator[Any]:
    """Inside a task: a client to submit more tasks, with the task seceded while the block runs."""
    ctx = current_task()
    if ctx is None:
        raise ValueError("worker_client() works only inside a task running on a worker")
    client = ctx.worker.get_client()
    seceded_here = separate_thread and not ctx.seceded
    if seceded_here:
        ctx.secede()
    try:
        yield client
    finally:
        if seceded_here:
            ctx.rejoin()
