"""The clients of this process: the default one, and the one a task (or a value unpickled in a worker) uses."""
from __future__ import annotations

import weakref
from typing import Any

from ..protocol.context import current_task, process_worker

# Clients made with set_as_default=True and not closed, oldest first: the last open one is the default.
defaults: list[Any] = []
_every: "weakref.WeakSet[Any]" = weakref.WeakSet()


def register(client: Any, as_default: bool) -> None:
    """A client was made (``as_default``: it becomes the default client while it is open)."""
    if as_default:
        defaults.append(client)
    _every.add(client)


def unregister_default(client: Any) -> None:
    """``client`` is closing: it is no longer anyone's default."""
    if client in defaults:
        defaults.remove(client)


def clients() -> list[Any]:
    """Every client of this process that still exists, open or not."""
    return list(_every)


def default_client(c: Any = None) -> Any:
    """The client to use when none is given: the most recently created open one."""
    if c is not None:
        return c
    for client in reversed(defaults):
        if client.status in ("running", "connecting"):
            return client
    raise ValueError("no jupyter_futures Client is running: create one first with `client = Client()`")


def task_client() -> Any:
    """In a worker process: the worker's client (one per process, made on first use). Elsewhere: the
    default client."""
    ctx = current_task()
    worker = ctx.worker if ctx is not None else process_worker()
    if worker is not None:
        return worker.get_client()
    return default_client()
