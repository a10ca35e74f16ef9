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

RETIRE = object()  # ReadyQueue.pop's answer to a thread that must give its slot to a rejoining task


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
        self._retire_requests = 0
        self.paused = False  # memory pressure: hand out no task until resume()

    def push(self, priority: tuple, item: Any, needs: dict | None = None) -> None:
        """Add a ready task that needs ``needs`` of the worker's resources while it runs."""
        with self._cond:
            heapq.heappush(self._heap, (priority, id(item), item, needs))
            self._cond.notify()

    def pop(self) -> tuple[Any, dict | None] | object | None:
        """Block until a task can run; return (task, the resources it now holds), None once closed, or
        RETIRE when a rejoining task wants the calling thread's slot."""
        with self._cond:
            while True:
                if self._retire_requests:
                    self._retire_requests -= 1
                    return RETIRE
                while self._heap and not self.paused:
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

    def pause(self) -> None:
        """Hand out no more tasks (those running go on) until ``resume``."""
        with self._cond:
            self.paused = True

    def resume(self) -> None:
        """Hand out tasks again."""
        with self._cond:
            self.paused = False
            self._cond.notify_all()

    def request_retire(self) -> None:
        """Ask one thread to stop taking tasks: the next idle one (from ``pop``) or the next that
        finishes a task (``take_retire_request``), whichever comes first."""
        with self._cond:
            self._retire_requests += 1
            self._cond.notify()

    def take_retire_request(self) -> bool:
        """After a task: True if this thread must retire (and the request is now taken)."""
        if not self._retire_requests:  # read without the lock: the common case costs nothing
            return False
        with self._cond:
            if self._retire_requests:
                self._retire_requests -= 1
                return True
            return False

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
        self._slot_free = threading.Condition(self._lock)
        self._active = 0  # threads holding a slot: taking tasks from the queue or running one (not seceded)
        self._seceded: set[int] = set()
        self._handed_over = 0  # slots given up by retiring threads, not yet taken by a rejoining task
        self._taken_early = 0  # rejoined without waiting: their slots are the next ones given up
        self._closed = False
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
            if popped is RETIRE:
                return self._hand_over_slot()
            task, held = popped
            self.executing[ident] = task
            try:
                report = self.run(task)
            finally:
                if held:
                    self.ready.release(held)
            self.executing.pop(ident, None)
            self._report(report)
            if ident in self._seceded:  # seceded and never rejoined: its replacement took over
                with self._lock:  # (only this thread adds or removes its own ident: no lock to look)
                    self._seceded.discard(ident)
                return
            if self.ready.take_retire_request():
                return self._hand_over_slot()

    def _hand_over_slot(self) -> None:
        with self._lock:
            if self._taken_early:
                self._taken_early -= 1
            else:
                self._handed_over += 1
                self._slot_free.notify()

    def secede(self) -> None:
        """The calling task thread leaves the pool (it will block); a new thread takes its place."""
        with self._lock:
            self._seceded.add(threading.get_ident())
            self._active -= 1
            if self._active < self.nthreads:
                self._spawn()

    def rejoin(self, wait: bool = True) -> None:
        """The calling task thread, seceded before, counts as a pool thread again.

        With ``wait`` (an explicit ``rejoin()``, as in dask) it waits until a thread gives its slot
        back, so the worker never runs more than ``nthreads`` tasks at once. Without (the end of an
        automatic secede around a blocking call, which may hold the user's locks) it goes on at once,
        and the next thread to give its slot up retires in its place: an idle one right away, a busy
        one after its task.
        """
        ident = threading.get_ident()
        with self._lock:
            if ident not in self._seceded:
                return
            self._seceded.discard(ident)
            if self._active < self.nthreads:
                self._active += 1
                return
            self.ready.request_retire()
            if not wait:
                self._taken_early += 1
                return
            try:
                # In steps: a cancelled task's exception is raised only between Python bytecodes.
                while not self._handed_over and not self._closed:
                    self._slot_free.wait(0.1)
            finally:
                if self._handed_over:
                    self._handed_over -= 1
                elif not self._closed:  # interrupted (task cancelled): it runs on, in the next slot given up
                    self._taken_early += 1

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
        with self._lock:
            self._closed = True
            self._slot_free.notify_all()
