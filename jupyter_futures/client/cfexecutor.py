"""``Client.get_executor()``: the cluster as a ``concurrent.futures.Executor``, as dask's ClientExecutor.

Each ``submit`` is a task of the client; its ``concurrent.futures.Future`` settles from the client's
callback thread when the task ends, and cancelling it cancels the task.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import time
import weakref
from typing import Any, Callable, Iterable, Iterator

from ..protocol.durations import parse_duration
from .waiting import wait as wait_for

ALLOWED_OPTIONS = frozenset({"pure", "workers", "resources", "allow_other_workers", "retries", "priority"})


class ClientExecutor(cf.Executor):
    """A ``concurrent.futures`` Executor whose calls run on a jupyter_futures cluster."""

    def __init__(self, client: Any, **options: Any):
        unknown = set(options) - ALLOWED_OPTIONS
        if unknown:
            raise TypeError(f"unsupported arguments to ClientExecutor: {sorted(unknown)}; it takes "
                            f"{sorted(ALLOWED_OPTIONS)}, as client.submit does")
        self._client = client
        self._options = options
        self._futures: weakref.WeakSet = weakref.WeakSet()  # the tasks submitted
        self._mirrors: weakref.WeakSet = weakref.WeakSet()  # and their concurrent futures
        self._shutdown = False

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> cf.Future:
        """Run ``fn(*args, **kwargs)`` on the cluster; a ``concurrent.futures.Future`` of its result."""
        if self._shutdown:
            raise RuntimeError("cannot schedule new futures after shutdown")
        future = self._client.submit(fn, *args, **{**self._options, **kwargs})
        self._futures.add(future)
        mirror = _mirror(future)
        self._mirrors.add(mirror)
        return mirror

    def map(self, fn: Callable, *iterables: Iterable, timeout: Any = None, chunksize: int = 1) -> Iterator:
        """``map(fn, *iterables)`` computed on the cluster: results in order; ``timeout`` (seconds or
        ``"10s"``) for all of them, past which ``concurrent.futures.TimeoutError`` is raised."""
        timeout = parse_duration(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        futures = iter(self._client.map(fn, *iterables, **self._options))

        def results() -> Iterator:
            try:
                for future in futures:
                    self._futures.add(future)
                    left = None if deadline is None else max(deadline - time.monotonic(), 0)
                    try:
                        yield future.result(timeout=left)
                    except TimeoutError:
                        raise cf.TimeoutError(f"map(): results not all in within {timeout:g} s") from None
            finally:  # the consumer stopped early, or something failed: the rest is not wanted
                remaining = list(futures)
                self._futures.update(remaining)
                if remaining:
                    self._client.cancel(remaining)
        return results()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """No more submits; ``wait``: until every task submitted ends, else (or ``cancel_futures``)
        cancel those not done."""
        if self._shutdown:
            return
        self._shutdown = True
        futures, mirrors = list(self._futures), list(self._mirrors)
        if wait and not cancel_futures:
            if futures:
                wait_for(futures)  # ends erred or not: errors stay with their futures
            cf.wait(mirrors)  # settled from the client's callback thread, just after
        elif futures:
            self._client.cancel(futures)


def _mirror(future: Any) -> cf.Future:
    """A ``concurrent.futures.Future`` that ends as ``future`` does; cancelling it cancels ``future``."""
    mirror: cf.Future = cf.Future()

    def cancel_task(done: cf.Future) -> None:
        if done.cancelled() and future.status != "cancelled":
            future.cancel()

    def settle(ended: Any) -> None:
        status = ended.status
        if status == "finished":
            try:
                value = ended.result()
            except BaseException as exc:  # its data was lost meanwhile
                _set(mirror.set_exception, exc)
            else:
                _set(mirror.set_result, value)
        elif status == "cancelled":
            mirror.cancel()
            with contextlib.suppress(RuntimeError):  # already notified
                mirror.set_running_or_notify_cancel()
        else:
            _set(mirror.set_exception, ended.exception())

    mirror.add_done_callback(cancel_task)
    future.add_done_callback(settle)
    return mirror


def _set(setter: Callable[[Any], None], value: Any) -> None:
    with contextlib.suppress(cf.InvalidStateError):  # cancelled by its user meanwhile
        setter(value)


class ExecutorAccess:
    """``get_executor`` (a mixin of ``Client``)."""

    def get_executor(self, **options: Any) -> ClientExecutor:
        """A ``concurrent.futures`` Executor on this client; ``options`` (``workers``, ``resources``,
        ``retries``, ``pure``, ...) apply to each of its tasks."""
        return ClientExecutor(self, **options)
