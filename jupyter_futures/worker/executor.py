"""Executor threads: they take ready tasks from one priority queue and report in batches.

A thread that finishes a task takes the next ready one itself, without a trip
through the event loop; the loop is woken once per batch of finished tasks.
"""
from __future__ import annotations

import asyncio
import heapq
import threading
from collections import deque
from typing import Any, Callable


class ReadyQueue:
    """Tasks ready to run, highest priority first, shared by the loop and the executor threads."""

    def __init__(self) -> None:
        self._heap: list = []
        self._cond = threading.Condition(threading.Lock())
        self._closed = False

    def push(self, priority: tuple, item: Any) -> None:
        """Add a ready task."""
        with self._cond:
            heapq.heappush(self._heap, (priority, id(item), item))
            self._cond.notify()

    def pop(self) -> Any | None:
        """Block until a task is ready; None once closed."""
        with self._cond:
            while not self._heap:
                if self._closed:
                    return None
                self._cond.wait()
            return heapq.heappop(self._heap)[2]

    def __len__(self) -> int:
        return len(self._heap)

    def close(self) -> None:
        """Wake every waiting thread with None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class Executor:
    """``nthreads`` threads running ``run(task)`` on tasks from a ``ReadyQueue``.

    ``run`` returns a report; reports are handed to ``on_reports`` on the event
    loop, a batch at a time. ``executing`` shows what each thread runs now.
    """

    def __init__(self, nthreads: int, run: Callable[[Any], Any], on_reports: Callable[[list], None],
                 loop: asyncio.AbstractEventLoop, name: str = "jf-task"):
        self.ready = ReadyQueue()
        self.run = run
        self.on_reports = on_reports
        self.loop = loop
        self.executing: dict[int, Any] = {}
        self.nthreads = nthreads
        self.name = name
        self._reports: deque = deque()
        self._signalled = False
        self._lock = threading.Lock()
        self._active = 0  # threads taking tasks from the queue (not seceded)
        self._seceded: set[int] = set()
        self._spawned = 0
        for _ in range(nthreads):
            self._spawn()

    def _spawn(self) -> None:
        """Start one more thread (``_lock`` held, or at construction)."""
        self._active += 1
        self._spawned += 1
        threading.Thread(target=self._work, name=f"{self.name}-{self._spawned}", daemon=True).start()

    def _work(self) -> None:
        ident = threading.get_ident()
        while True:
            task = self.ready.pop()
            if task is None:
                return
            self.executing[ident] = task
            report = self.run(task)
            self.executing.pop(ident, None)
            self._report(report)
            with self._lock:
                if ident in self._seceded:  # seceded and never rejoined: its replacement took over
                    self._seceded.discard(ident)
                    return
                if self._active > self.nthreads:  # rejoined while its replacement runs: one too many
                    self._active -= 1
                    return

    def secede(self) -> None:
        """The calling task thread leaves the pool (it will block); a new thread takes its place."""
        with self._lock:
            self._seceded.add(threading.get_ident())
            self._active -= 1
            if self._active < self.nthreads:
                self._spawn()

    def rejoin(self) -> None:
        """The calling task thread, seceded before, counts as a pool thread again."""
        with self._lock:
            if threading.get_ident() in self._seceded:
                self._seceded.discard(threading.get_ident())
                self._active += 1

    def _report(self, report: Any) -> None:
        self._reports.append(report)
        if not self._signalled:
            self._signalled = True
            try:
                self.loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # loop closed while shutting down
                pass

    def _drain(self) -> None:
        self._signalled = False
        reports = self._reports
        batch = []
        while reports:
            batch.append(reports.popleft())
        if batch:
            self.on_reports(batch)

    def close(self) -> None:
        """Let the threads finish their current task and stop."""
        self.ready.close()
