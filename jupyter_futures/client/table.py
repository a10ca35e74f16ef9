"""``FutureTable``: the futures of one client: a state per key, the handles holding each key, the task
events that change the states, and waiting for them to end.

Threads: ``hold`` from any thread (under the table's lock); ``drop`` from ``Future.__del__``, which
garbage collection may run inside any lock of any thread (no lock, no I/O: ``settle_drops`` counts it
later); ``settle_drops`` and ``forget`` from the thread flushing the client's outbox; ``apply``,
``cancel`` and ``fail`` on the client's loop thread; ``wait`` and ``wait_any`` from any thread but that
one; reading (``get``, ``in``, ``len``) from any thread.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from typing import Callable, Iterable, Iterator

from ..protocol.messages import TASK_CANCELLED, TASK_ERRED, TASK_FINISHED, TASK_LOST, TASK_RUNNING
from .future import DONE_STATES, FutureState

logger = logging.getLogger("jupyter_futures.client")

EVENTS = (TASK_FINISHED, TASK_RUNNING, TASK_ERRED, TASK_CANCELLED, TASK_LOST)  # what apply handles
_STATE_OPS = frozenset({TASK_FINISHED, TASK_ERRED, TASK_CANCELLED, TASK_LOST})  # the ones that end a future


class FutureTable:
    """What one client knows of its futures; reads like a dict of key -> ``FutureState`` (``client.futures``,
    as dask's)."""

    def __init__(self, on_new_worker: Callable[[str], None] = lambda address: None):
        self._states: dict[str, FutureState] = {}
        self._holds: dict[str, int] = {}  # key -> how many Future handles hold it
        self._lock = threading.Lock()  # around changes of _states and _holds from user threads
        self._dropped: deque[str] = deque()  # keys of handles dropped since the last settle_drops
        self._listeners: list[Callable[[list[FutureState]], None]] = []
        self._workers: set[str] = set()  # holders named by task-finished events so far
        self._on_new_worker = on_new_worker

    # -- reading ------------------------------------------------------------------
    def get(self, key: str) -> FutureState | None:
        """The state of ``key``, or None when no future of this client holds it."""
        return self._states.get(key)

    def __getitem__(self, key: str) -> FutureState:
        return self._states[key]

    def __contains__(self, key: object) -> bool:
        return key in self._states

    def __len__(self) -> int:
        return len(self._states)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._states))

    def keys(self) -> list[str]:
        """The keys this client holds futures of."""
        return list(self._states)

    def values(self) -> list[FutureState]:
        """Their states."""
        return list(self._states.values())

    def items(self) -> list[tuple[str, FutureState]]:
        """(key, state) pairs."""
        return list(self._states.items())

    def holds(self, state: FutureState) -> bool:
        """True while ``state`` is the state this client keeps for its key (not released, not cancelled)."""
        return self._states.get(state.key) is state

    # -- references ---------------------------------------------------------------
    def hold(self, key: str) -> FutureState:
        """One more handle holds ``key``: its state (made on first hold)."""
        with self._lock:
            st = self._states.get(key)
            if st is None:
                st = self._states[key] = FutureState(key)
            self._holds[key] = self._holds.get(key, 0) + 1
        return st

    def drop(self, key: str) -> None:
        """A handle of ``key`` is gone (from ``Future.__del__``: no lock, no I/O)."""
        self._dropped.append(key)

    def drops_pending(self) -> bool:
        """True when handles were dropped since the last ``settle_drops``."""
        return bool(self._dropped)

    def settle_drops(self) -> list[str]:
        """Count the handles dropped since the last call; returns the keys no handle holds any more."""
        dropped = self._dropped
        released: list[str] = []
        if not dropped:
            return released
        with self._lock:
            holds = self._holds
            while dropped:
                key = dropped.popleft()
                n = holds.get(key, 0) - 1
                if n > 0:
                    holds[key] = n
                else:
                    holds.pop(key, None)
                    released.append(key)
        return released

    def forget(self, keys: Iterable[str]) -> list[str]:
        """Forget the states of the ``keys`` no handle holds now (as the release of them leaves); returns
        those keys. A key held again since it was released stays."""
        with self._lock:
            holds, states = self._holds, self._states
            gone = [k for k in keys if k not in holds]
            for k in gone:
                states.pop(k, None)
        return gone

    # -- events (client loop thread) ------------------------------------------------
    def subscribe(self, callback: Callable[[list[FutureState]], None]) -> Callable[[], None]:
        """Call ``callback(states)`` on the client's loop thread with the states that changed in each
        batch of task events (running, finished, error, cancelled, lost). Returns an unsubscribe function."""
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback) if callback in self._listeners else None

    def apply(self, msgs: list, other: Callable[[tuple], None]) -> list[FutureState]:
        """Apply a batch of messages in order: task events (``EVENTS``) change states (waking who waits for
        their end), every other message goes to ``other``. Returns the states changed; subscribers hear
        of them.

        The hottest loop of the client: a chain of tests, most frequent op first, is cheaper here than a
        table of handlers (a call per message). Each branch unpacks its message into variables named as
        the message's fields (protocol/messages.py; tests/test_messages.py checks the names)."""
        states = self._states
        touched: list[FutureState] = []
        for msg in msgs:
            op = msg[0]
            st = states.get(msg[1]) if len(msg) > 1 and isinstance(msg[1], str) else None
            if op == TASK_FINISHED:
                if st is not None:
                    _, key, st.type_name, st.nbytes, who_has, st.small, start, stop = msg
                    st.who_has = who_has
                    st.set_ran(start, stop)
                    st.set_status("finished")
                    for address in who_has:
                        if address not in self._workers:
                            self._workers.add(address)
                            self._on_new_worker(address)
            elif op == TASK_RUNNING:
                if st is not None and not st.done():
                    _, key, worker = msg
                    st.worker = worker
                    st.status = "running"
                    st.started = time.time()
                    touched.append(st)
            elif op == TASK_ERRED:
                if st is not None:
                    _, key, exception, traceback, worker, start, stop = msg
                    st.set_error(exception, traceback)
                    if worker:
                        st.worker = worker
                    st.set_ran(start, stop)
                    st.set_status("error")
            elif op == TASK_CANCELLED:
                _, key, restarted = msg  # restarted: finished results are gone too
                if st is not None and (restarted or not st.done()):
                    if restarted:
                        st.value = st.small = None
                        st.has_value = False
                    st.set_status("cancelled")
            elif op == TASK_LOST:
                if st is not None:
                    _, key = msg
                    st.set_status("lost")
            else:
                other(msg)
                continue
            if st is not None and op in _STATE_OPS and (not touched or touched[-1] is not st):
                touched.append(st)
        self.notify(touched)
        return touched

    def cancel(self, states: Iterable[FutureState]) -> None:
        """The scheduler cancelled these: they end as cancelled, and their keys are forgotten here (a new
        submit of a key starts afresh; the old futures keep their cancelled state)."""
        states = list(states)
        changed = []
        with self._lock:
            for st in states:
                self._states.pop(st.key, None)
        for st in states:
            if st.status != "cancelled":
                st.set_status("cancelled")
                changed.append(st)
        self.notify(changed)

    def fail(self, error: Callable[[str], BaseException]) -> None:
        """The client cannot learn how its unfinished futures end: each ends with ``error(key)``."""
        failed = []
        for st in list(self._states.values()):
            if not st.done():
                st.set_error(error(st.key), None)
                st.set_status("error")
                failed.append(st)
        self.notify(failed)

    def notify(self, states: list[FutureState]) -> None:
        """Tell the subscribers that ``states`` changed."""
        if states and self._listeners:
            for callback in list(self._listeners):
                try:
                    callback(states)
                except Exception:
                    logger.exception("error in state listener %r", callback)

    # -- waiting (any thread but the loop's) ---------------------------------------
    def wait(self, states: Iterable[FutureState], timeout: float | None = None) -> bool:
        """Block until every state has ended; False if ``timeout`` seconds passed first.

        Each thread is woken by the end of the state it waits for, not by other task events."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for st in states:
            if st.status in DONE_STATES:
                continue
            lock = threading.Lock()
            lock.acquire()
            if not st.add_waiter(lock):
                continue
            try:
                if deadline is None:
                    lock.acquire()
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or not lock.acquire(True, remaining):
                        st.remove_waiter(lock)
                        return False
            except BaseException:  # an interrupt: stop waiting
                st.remove_waiter(lock)
                raise
        return True

    def wait_any(self, states: Iterable[FutureState], timeout: float | None = None) -> bool:
        """Block until one of ``states`` has ended (at once if one has, or if there are none); False if
        ``timeout`` seconds passed first."""
        lock = threading.Lock()
        lock.acquire()
        waiting_on: list[FutureState] = []
        try:
            for st in states:
                if st.status in DONE_STATES or not st.add_waiter(lock):
                    return True
                waiting_on.append(st)
            if not waiting_on:
                return True
            if timeout is None:
                return lock.acquire()
            return timeout > 0 and lock.acquire(True, timeout)
        finally:
            for st in waiting_on:
                st.remove_waiter(lock)

    async def wait_async(self, states: Iterable[FutureState], timeout: float | None = None) -> None:
        """In a coroutine on the client's loop: until every state has ended (TimeoutError after ``timeout`` s)."""
        pending = [st for st in states if not st.done()]
        if not pending:
            return
        waits = []
        for st in pending:
            if st.async_event is None:
                st.async_event = asyncio.Event()
                if st.done():
                    st.async_event.set()
            waits.append(st.async_event.wait())
        try:
            await asyncio.wait_for(asyncio.gather(*waits), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"futures did not finish within {timeout} s") from None
