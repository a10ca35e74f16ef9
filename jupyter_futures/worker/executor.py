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
        self._reports: deque = deque()
        self._signalled = False
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(nthreads)]
        for t in self._threads:
            t.start()

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
