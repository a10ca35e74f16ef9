"""``Future``: a handle on one remote result, counted per key so data is freed when unused; ``FutureState``:
what a client knows of one key."""
from __future__ import annotations

import asyncio
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from ..protocol import serialize
from ..protocol.context import adopter
from ..protocol.errors import FutureCancelledError, FutureLostError
from ..protocol.tracebacks import rebuild_traceback
from . import hooks
from .current import default_client, task_client
from .shorten import shorten

if TYPE_CHECKING:
    from .client import Client

DONE_STATES = frozenset({"finished", "error", "cancelled", "lost"})

_waiting = threading.Lock()  # guards every state's list of waiting threads (``waiters``)


class FutureState:
    """What this client knows of one key; shared by every ``Future`` for it.

    Threads: made by ``FutureTable.hold`` in whichever thread first holds the key. Its status and the
    facts of its end (type, size, holders, small value, exception, run times, ``callbacks``) change on
    the client's loop thread only: task events, ``cancel``, the client closing, ``scatter``. Two writes
    come from other threads, both idempotent: the submitting thread marks ``earlier``
    (``asked_again``), and the thread that first unpickles the small value caches it (``value``,
    ``has_value``). Any thread may wait for its end (``add_waiter``).
    """

    __slots__ = ("key", "status", "type_name", "nbytes", "who_has", "small", "value", "has_value",
                 "exception", "tb_records", "callbacks", "async_event", "worker", "_exc_obj", "submitted",
                 "started", "stopped", "ran", "earlier", "waiters")

    def __init__(self, key: str):
        self.key = key
        self.status = "pending"
        self.type_name = ""
        self.nbytes = 0
        self.who_has: list[str] = []
        self.small = None
        self.value = None
        self.has_value = False
        self.exception = None
        self.tb_records = None
        self.callbacks: list[Callable[[FutureState], None]] = []
        self.async_event: asyncio.Event | None = None
        self.worker = None
        self._exc_obj = None
        self.submitted = time.time()  # when this client first held the key
        self.started: float | None = None  # when this client heard it was running
        self.stopped: float | None = None  # when this client heard it was done
        self.ran: tuple[float, float] | None = None  # (start, stop) of the task's run, as its worker timed it
        self.earlier = False  # its result existed before this client last asked for it (a re-run of a cell)
        self.waiters: list | None = None  # locks of threads blocked until it ends (see add_waiter)

    def done(self) -> bool:
        """Finished, erred, cancelled or lost."""
        return self.status in DONE_STATES

    def set_status(self, status: str) -> None:
        """Change status; on reaching a final one, wake the threads and coroutines waiting, run callbacks."""
        was_done = self.status in DONE_STATES
        self.status = status
        if status in DONE_STATES:
            if not was_done:  # a second report of the same end (a re-submitted key) is not a new end
                self.stopped = time.time()
            if self.waiters is not None:  # read after the status is set: see add_waiter
                with _waiting:
                    waiters, self.waiters = self.waiters, None
                for lock in waiters or ():
                    try:
                        lock.release()
                    except RuntimeError:  # one lock waits on several states (FutureTable.wait_any)
                        pass
            if self.async_event is not None:
                self.async_event.set()
            callbacks, self.callbacks = self.callbacks, []
            for cb in callbacks:
                cb(self)

    def add_waiter(self, lock: Any) -> bool:
        """Release ``lock`` (a held ``threading.Lock``) when this state ends; False if it has ended already.

        The lock is listed before the status is read, and ``set_status`` reads the list after setting the
        status: whichever comes second sees the other, so no end goes unnoticed."""
        with _waiting:
            if self.waiters is None:
                self.waiters = [lock]
            else:
                self.waiters.append(lock)
        return self.status not in DONE_STATES

    def remove_waiter(self, lock: Any) -> None:
        """Forget ``lock``: its thread stopped waiting (timeout, interrupt)."""
        with _waiting:
            if self.waiters and lock in self.waiters:
                self.waiters.remove(lock)

    def set_error(self, exception: Any, tb_records: Any) -> None:
        """The exception a worker reported (pickled, or text) and its traceback's frames; status unchanged."""
        self.exception = exception
        self.tb_records = tb_records
        self._exc_obj = None

    def set_ran(self, start: float | None, stop: float | None) -> None:
        """The task's own run time, from the report of its end (None for data that was never computed)."""
        if start is None or stop is None:
            return
        self.ran = (start, stop)
        if stop < self.submitted:  # computed before this client asked for it (same clock on one machine)
            self.earlier = True

    def asked_again(self) -> None:
        """A submit of this key found it already finished or erred: the display says it ran earlier."""
        if self.status in ("finished", "error"):
            self.earlier = True

    def reset(self) -> None:
        """The value was lost and will be recomputed, or the erred task is run again: pending again."""
        self.status = "pending"
        self.small = None
        self.who_has = []
        self.exception = self.tb_records = self._exc_obj = None
        if self.async_event is not None:
            self.async_event.clear()

    def error(self) -> BaseException:
        """The exception of an erred, cancelled or lost task, with the remote traceback attached."""
        if self.status == "cancelled":
            return FutureCancelledError(f"{self.key} was cancelled")
        if self.status == "lost":
            return FutureLostError(
                f"{self.key}: its data was lost with its worker and cannot be recomputed (it was scattered); "
                f"scatter it again")
        if self._exc_obj is None:
            exc = self.exception
            if isinstance(exc, serialize.Serialized):
                try:
                    exc = serialize.loads(exc)
                except Exception as err:  # the exception's class is unknown here
                    exc = RuntimeError(f"task {self.key} failed with an exception this process cannot load: {err}")
            if not isinstance(exc, BaseException):
                exc = RuntimeError(str(exc))
            if self.tb_records:
                exc = exc.with_traceback(rebuild_traceback(self.tb_records))
            self._exc_obj = exc
        return self._exc_obj

    def traceback(self):
        """The remote traceback object, if the task erred."""
        if self.status != "error":
            return None
        return self.error().__traceback__


def error_from(key: str, exception: Any, tb_records: Any) -> BaseException:
    """The exception a worker reported for ``key`` (a function run with ``client.run``, an actor's
    method), with its remote traceback."""
    st = FutureState(key)
    st.status = "error"
    st.set_error(exception, tb_records)
    return st.error()


class Future:
    """A remote computation's result: ``result()``, ``status``, ``done()``, callbacks, ``await``.

    ``state`` is the ``FutureState`` of its key that every handle for the key shares."""

    __slots__ = ("key", "client", "state", "__weakref__")

    def __init__(self, key: str, client: Client | None = None):
        if client is None:
            client = default_client()
        self.key = key
        self.client = client
        self.state = client.futures.hold(key)

    def __del__(self) -> None:
        if not isinstance(self.client, _Released):
            try:
                self.client.futures.drop(self.key)
            except Exception:
                pass

    @property
    def status(self) -> str:
        """'pending', 'running', 'finished', 'error', 'cancelled' or 'lost'."""
        return self.state.status

    def done(self) -> bool:
        """True once the task finished, erred, was cancelled or was lost."""
        return self.state.done()

    def cancelled(self) -> bool:
        """True if the task was cancelled."""
        return self.state.status == "cancelled"

    def result(self, timeout: float | str | None = None) -> Any:
        """The task's value; re-raises its exception. Blocks until done (or ``timeout``: seconds or e.g. "10 ms")."""
        try:  # not a ``with shorten_traceback()``: this is every result's path, and a try costs nothing
            return self.client.result_of(self, timeout)
        except BaseException as exc:
            if exc.__traceback__ is not None:  # the task's frames follow the caller's line, as in dask
                shorten(exc.__traceback__)
            raise

    def exception(self, timeout: float | str | None = None) -> BaseException | None:
        """The task's exception, or None if it succeeded. Blocks until done."""
        return self.client.exception_of(self, timeout)

    def traceback(self, timeout: float | None = None):
        """The remote traceback of a failed task (a real traceback object), else None."""
        return self.client.traceback_of(self, timeout)

    def add_done_callback(self, fn: Callable[[Future], Any]) -> None:
        """Call ``fn(future)`` once done (right away if already done), in a callback thread."""
        self.client.call_when_done(self, fn)

    def cancel(self, **kwargs) -> Any:
        """Cancel this task (and the tasks that depend on it)."""
        return self.client.cancel([self], **kwargs)

    def retry(self, **kwargs) -> Any:
        """Run this erred task again (and the erred tasks it depends on)."""
        return self.client.retry([self], **kwargs)

    def release(self) -> None:
        """Drop this handle now rather than at garbage collection."""
        if isinstance(self.client, _Released):
            return
        self.client.futures.drop(self.key)
        self.client = _Released()

    def __await__(self):
        return self.client.await_result_of(self).__await__()

    def __reduce__(self):
        return (_rebuild_future, (self.key,))

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Future) and other.key == self.key

    def __repr__(self) -> str:
        # dask's text: the result's type once known (a scattered value's at once); the exception of an
        # erred one is not part of it (``exception()`` and the notebook display show it).
        st = self.state
        if st.type_name:
            return f"<Future: {st.status}, type: {st.type_name}, key: {self.key}>"
        return f"<Future: {st.status}, key: {self.key}>"

    def _repr_mimebundle_(self, include=None, exclude=None):
        """Jupyter display: a live widget in a kernel, else static HTML and text (the notebook layer's)."""
        return hooks.display("future", self)


def _rebuild_future(key: str) -> Future:
    """A future unpickled in another process (a task's argument or result, a queue item...)."""
    client = adopter()
    if client is None:
        client = task_client()
    return client.adopt_future(key)


class _Released:
    """Stands in for the client of a released future: any use says so."""

    def __getattr__(self, name: str):
        raise RuntimeError("this future was released with .release(); keep another reference to use it")
