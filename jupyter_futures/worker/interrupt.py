"""Stopping a running task in its thread: cancellation and ``submit(..., timeout=)``.

An exception is raised asynchronously in the task's thread (``PyThreadState_SetAsyncExc``),
only while that thread is inside the task's own code: the guard around the call
clears any pending one on the way out, so the worker's code is never hit and the
thread goes on serving. ``time.sleep`` in tasks is interruptible; code blocked inside
another C call sees the exception when the call returns.
"""
from __future__ import annotations

import ctypes
import threading
import time
from typing import Any


class TaskInterrupt(BaseException):
    """Raised in a task's thread to stop it (a BaseException: ``except Exception`` does not catch it)."""


class TaskCancelled(TaskInterrupt):
    """The task was cancelled while it ran."""


class TaskTimedOut(TaskInterrupt):
    """The task ran past its ``timeout``."""


_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)


class Interrupter:
    """Knows which thread runs which task inside user code, and interrupts it on request.

    ``time.sleep`` in task threads is replaced by a wait that an interrupt ends at once.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[int, Any] = {}  # thread ident -> task, while inside the task's code
        self._interrupted: set[int] = set()  # threads sent an exception that may not have fired yet
        self._naps: dict[int, threading.Event] = {}  # thread ident -> what its time.sleep waits on
        self._real_sleep = None

    def install_sleep(self) -> None:
        """Make ``time.sleep`` in task threads interruptible (once per process)."""
        if self._real_sleep is not None:
            return
        self._real_sleep = time.sleep
        running, naps, real_sleep = self._running, self._naps, self._real_sleep

        def sleep(seconds: float) -> None:
            ident = threading.get_ident()
            if ident not in running:
                return real_sleep(seconds)
            nap = naps.get(ident)
            if nap is None:
                nap = naps[ident] = threading.Event()
            nap.clear()
            if seconds > 0:
                nap.wait(seconds)  # an interrupt sets it: the pending exception fires on return
            else:
                real_sleep(0)

        time.sleep = sleep

    def uninstall_sleep(self) -> None:
        """Put the real ``time.sleep`` back."""
        if self._real_sleep is not None:
            time.sleep = self._real_sleep
            self._real_sleep = None

    def running(self, task: Any) -> _Guard:
        """Context manager around the call of the task's function, in its thread."""
        return _Guard(self, task)

    def interrupt(self, task: Any, exc_type: type[TaskInterrupt]) -> bool:
        """Raise ``exc_type`` in the thread running ``task``; False if it is not inside its code now."""
        with self._lock:
            for ident, running in self._running.items():
                if running is task:
                    _set_async_exc(ident, ctypes.py_object(exc_type))
                    self._interrupted.add(ident)
                    nap = self._naps.get(ident)
                    if nap is not None:
                        nap.set()
                    return True
        return False


class _Guard:
    __slots__ = ("interrupter", "task", "ident")

    def __init__(self, interrupter: Interrupter, task: Any):
        self.interrupter = interrupter
        self.task = task

    def __enter__(self) -> None:
        self.ident = threading.get_ident()
        with self.interrupter._lock:
            if getattr(self.task, "state", None) == "cancelled":  # cancelled while its inputs were loading
                raise TaskCancelled()
            self.interrupter._running[self.ident] = self.task

    def __exit__(self, *exc: Any) -> None:
        with self.interrupter._lock:
            self.interrupter._running.pop(self.ident, None)
            if self.ident in self.interrupter._interrupted:
                # NULL drops one that has not fired yet. Only then: it is a ctypes call per task
                # otherwise, and on CPython 3.11 even a NULL signals the eval loop of every thread.
                self.interrupter._interrupted.discard(self.ident)
                _set_async_exc(self.ident, ctypes.py_object())
