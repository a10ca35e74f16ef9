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
    """Tasks ready to run, highest priority first, shared by the loop and the executor threads.

    A task may need some of the worker's abstract resources (``{"GPU": 1}``): it is handed out
    only while they are free, and waits aside, in its own priority heap, until ``release`` frees
    enough for the first of those (each task moves aside and back at most once per release).
    """

    def __init__(self, resources: dict | None = None) -> None:
        self._heap: list = []
        self._waiting_for_resources: list = []
        self._available = dict(resources or {})
        self._cond = threading.Condition(threading.Lock())
        self._closed = False

    def push(self, priority: tuple, item: Any, needs: dict | None = None) -> None:
        """Add a ready task that needs ``needs`` of the worker's resources while it runs."""
        with self._cond:
            heapq.heappush(self._heap, (priority, id(item), item, needs))
            self._cond.notify()

    def pop(self) -> tuple[Any, dict | None] | None:
        """Block until a task can run; return (task, the resources it now holds), or None once closed."""
        with self._cond:
            while True:
                while self._heap:
                    entry = heapq.heappop(self._heap)
                    needs = entry[3]
                    if not needs:
                        return entry[2], None
                    if _fits(needs, self._available):
                        for name, amount in needs.items():
                            self._available[name] -= amount
                        return entry[2], needs
                    heapq.heappush(self._waiting_for_resources, entry)
                if self._closed:
                    return None
                self._cond.wait()

    def release(self, needs: dict) -> None:
        """A task that held ``needs`` finished: tasks waiting for resources may go again."""
        with self._cond:
            available = self._available
            for name, amount in needs.items():
                available[name] += amount
            waiting, left, moved = self._waiting_for_resources, dict(available), 0
            while waiting and _fits(waiting[0][3], left):
                for name, amount in waiting[0][3].items():
                    left[name] -= amount
                heapq.heappush(self._heap, heapq.heappop(waiting))
                moved += 1
            self._cond.notify(moved)

    def __len__(self) -> int:
        return len(self._heap) + len(self._waiting_for_resources)

    def close(self) -> None:
        """Wake every waiting thread with None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def _fits(needs: dict, available: dict) -> bool:
    return all(available.get(name, 0) >= amount for name, amount in needs.items())


class Executor:
    """``nthreads`` threads running ``run(task)`` on tasks from a ``ReadyQueue``.

    ``run`` returns a report; reports are handed to ``on_reports`` on the event
    loop, a batch at a time. ``executing`` shows what each thread runs now.
    """

    def __init__(self, nthreads: int, run: Callable[[Any], Any], on_reports: Callable[[list], None],
                 loop: asyncio.AbstractEventLoop, name: str = "jf-task", resources: dict | None = None):
        self.ready = ReadyQueue(resources)
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
            popped = self.ready.pop()
            if popped is None:
                return
            task, held = popped
            self.executing[ident] = task
            try:
                report = self.run(task)
            finally:
                if held:
                    self.ready.release(held)
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
