"""Who gets a ready task first: an executor thread, to run it, or the loop, to take it back.

This is the one place where the worker's event loop and its executor threads meet over a task;
``WorkerState`` itself is the loop's alone.

Rule 1: the loop ``offer``s a task before it pushes it to the executor's ready queue, and may take
it back (``withdraw`` for a steal, ``cancel`` for a free) or ask whether a thread runs it
(``running``).

Rule 2: an executor thread calls ``claim`` on a task it popped from the ready queue, before running
it, and, if the claim succeeded, ``finish`` once it ran, for that task only.

Rule 3: every method but ``offer`` holds ``_lock`` only for a few dict operations (and, in
``finish``, one store into the data store, which must not happen after a ``cancel``); never while
user code runs.

Rule 4: nothing here touches ``WorkerState``. The thread reports the run to the loop, which applies
it there (``WorkerState.executed``).
"""
from __future__ import annotations

import threading
from typing import Any

from .store import DataStore

_OFFERED = "offered"  # a thread may claim it
_RUNNING = "running"  # a thread claimed it and its result is wanted
_DROP = "drop"  # a thread claimed it, then the loop cancelled it: its result is dropped


class Claims:
    """The stage of each task handed to the executor threads, from ``offer`` until ``finish`` (or
    until the loop takes it back)."""

    __slots__ = ("_lock", "_stage", "data")

    def __init__(self, data: DataStore):
        self._lock = threading.Lock()
        self._stage: dict[Any, str] = {}  # task -> _OFFERED | _RUNNING | _DROP
        self.data = data

    # -- the loop -----------------------------------------------------------------------------
    def offer(self, task: Any) -> None:
        """Loop: ``task`` is ready; a thread may claim it from now on."""
        # No lock: no thread knows ``task`` before the loop pushes it to the ready queue, after this
        # store (and the queue's own lock orders the two); one dict store is atomic.
        self._stage[task] = _OFFERED

    def withdraw(self, task: Any) -> bool:
        """Loop: take ``task`` back unless a thread claimed it. True: it will never run."""
        with self._lock:
            if self._stage.get(task) == _OFFERED:
                del self._stage[task]
                return True
            return False

    def cancel(self, task: Any) -> bool:
        """Loop: take ``task`` back or, if a thread runs it, have its result dropped when it ends.
        True: it will never run. False: a thread claimed it (it may have finished already)."""
        with self._lock:
            stage = self._stage.get(task)
            if stage == _OFFERED:
                del self._stage[task]
                return True
            if stage == _RUNNING:
                self._stage[task] = _DROP
            return False

    def running(self, task: Any) -> bool:
        """Loop: a thread runs ``task`` now and its result is wanted."""
        with self._lock:
            return self._stage.get(task) == _RUNNING

    def ran(self, task: Any) -> bool:
        """Loop, of a task it offered and did not take back: a thread claimed and finished it (its
        result, if wanted, is sent and stored; its report is on its way to the loop)."""
        with self._lock:
            return task not in self._stage

    # -- executor threads -----------------------------------------------------------------------
    def claim(self, task: Any) -> bool:
        """Executor thread: take ``task`` to run it. False: the loop took it back meanwhile (stolen,
        cancelled); skip it."""
        with self._lock:
            if self._stage.get(task) != _OFFERED:
                return False
            self._stage[task] = _RUNNING
            return True

    def finish(self, task: Any, ok: bool, value: Any, nbytes: int) -> bool:
        """Executor thread, after running a claimed ``task``: store its value (when ``ok``) unless it
        was cancelled meanwhile. False: cancelled; drop the result and report nothing."""
        with self._lock:
            if self._stage.pop(task, None) != _RUNNING:
                return False
            if ok:
                self.data.put(task.key, value, nbytes)
            return True
