"""The worker's state machine: which tasks it holds, what they wait for, what to do next.

No I/O: each handler returns instructions for the server shell:
``("fetch", peer, keys)``, ``("execute", task)``, ``("send", message)``.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from typing import Any

from .store import DataStore

logger = logging.getLogger("jupyter_futures.worker")

SMALL_RESULT = 64 * 1024  # results up to this size ride with the "finished" message


class WorkerTask:
    """One task assigned to this worker."""

    __slots__ = ("key", "func_token", "func", "args", "deps", "priority", "options", "state", "waiting",
                 "reported", "start", "clients")

    def __init__(self, key, func_token, func, args, deps, priority, options, clients=()):
        self.key = key
        self.func_token = func_token
        self.func = func
        self.args = args
        self.deps: dict[str, list[str]] = deps
        self.priority = priority
        self.options = options or {}
        self.state = "new"
        self.waiting: set[str] = set()
        self.reported = False
        self.start = 0.0
        self.clients = clients

    def __repr__(self) -> str:
        return f"<WorkerTask {self.key!r} {self.state}>"


class WorkerState:
    """Tasks, their inputs, and the data held by one worker."""

    def __init__(self, address: str, data: DataStore):
        self.address = address
        self.data = data
        self.tasks: dict[str, WorkerTask] = {}
        self.waiting_for: dict[str, set[str]] = defaultdict(set)  # dep key -> tasks that need it
        self.holders: dict[str, list[str]] = {}  # dep key -> holders not yet tried
        self.in_flight: dict[str, str] = {}  # dep key -> peer asked
        self.copied: dict[str, int] = {}
        # Guards ready -> executing (executor threads) against ready -> stolen/cancelled (the loop).
        self.claim_lock = threading.Lock()  # inputs copied from peers -> tasks here still using them

    def compute(self, key: str, func_token: str, func: Any, args: Any, deps: dict, priority: tuple,
                options: dict | None, clients: list[str] = ()) -> list:
        """The scheduler assigned a task (``clients`` want its result)."""
        if key in self.data:
            return [("send", self.finished_message(key, self.data.get(key), 0.0, 0.0))]
        if key in self.tasks and self.tasks[key].state in ("waiting", "ready", "executing"):
            return []
        task = WorkerTask(key, func_token, func, args, deps, priority, options, clients)
        self.tasks[key] = task
        instructions: list = []
        fetches: dict[str, list[str]] = defaultdict(list)
        counted: list[str] = []  # inputs this task counts as a user of (copies from peers)
        for dep, holders in deps.items():
            if dep in self.data:
                if dep in self.copied:  # a copy another task here uses too
                    self.copied[dep] += 1
                    counted.append(dep)
                continue
            self.copied[dep] = self.copied.get(dep, 0) + 1  # on its way here: a copy, once it arrives
            counted.append(dep)
            task.waiting.add(dep)
            self.waiting_for[dep].add(key)
            if dep in self.in_flight:
                continue
            candidates = [h for h in holders if h != self.address]
            if not candidates:
                instructions.append(("send", ("missing-data", key, dep, list(holders))))
                return self._abandon(task, counted, instructions)
            self.holders[dep] = candidates[1:]
            self.in_flight[dep] = candidates[0]
            fetches[candidates[0]].append(dep)
        for peer, keys in fetches.items():
            instructions.append(("fetch", peer, keys))
        if not task.waiting:
            task.state = "ready"
            instructions.append(("execute", task))
        else:
            task.state = "waiting"
        return instructions

    def _abandon(self, task: WorkerTask, counted: list[str], instructions: list) -> list:
        self.tasks.pop(task.key, None)
        for dep in task.waiting:
            self.waiting_for[dep].discard(task.key)
        self._release_inputs(counted)
        return instructions

    def fetched(self, peer: str, asked: list[str], values: dict[str, tuple[Any, int]],
                undecodable: dict[str, tuple] | None = None) -> list:
        """A peer answered a fetch: ``values`` = {key: (value, nbytes)} for the keys it had;
        ``undecodable`` = {key: error record} for those it sent that could not be unpickled here."""
        instructions: list = []
        for dep in asked:
            if self.in_flight.get(dep) == peer:
                del self.in_flight[dep]
            if undecodable and dep in undecodable:
                instructions.extend(self._fail_waiting(dep, undecodable[dep]))
            elif dep in values:
                value, nbytes = values[dep]
                if self.waiting_for.get(dep):
                    self.data.put(dep, value, nbytes)
                instructions.extend(self._dep_arrived(dep))
            else:
                instructions.extend(self._try_next_holder(dep, peer))
        return instructions

    def fetch_failed(self, peer: str, asked: list[str]) -> list:
        """A peer could not be reached for these keys."""
        instructions: list = []
        for dep in asked:
            if self.in_flight.get(dep) == peer:
                del self.in_flight[dep]
            instructions.extend(self._try_next_holder(dep, peer))
        return instructions

    def _try_next_holder(self, dep: str, failed_peer: str) -> list:
        rest = self.holders.get(dep) or []
        if rest:
            self.holders[dep] = rest[1:]
            self.in_flight[dep] = rest[0]
            return [("fetch", rest[0], [dep])]
        self.holders.pop(dep, None)
        instructions = []
        for key in list(self.waiting_for.pop(dep, ())):
            task = self.tasks.pop(key, None)
            if task is None:
                continue
            for other in task.waiting:
                if other != dep and other in self.waiting_for:
                    self.waiting_for[other].discard(key)
            self._release_inputs(task.deps)
            instructions.append(("send", ("missing-data", key, dep, [failed_peer])))
        return instructions

    def _fail_waiting(self, dep: str, error: tuple) -> list:
        """Input ``dep`` cannot be had here: the tasks waiting for it fail with ``error``."""
        self.holders.pop(dep, None)
        instructions = []
        now = time.time()
        for key in list(self.waiting_for.pop(dep, ())):
            task = self.tasks.get(key)
            if task is None or task.state != "waiting":
                continue
            self._forget_task(task)
            task.state = "erred"
            instructions.append(("send", ("erred", key, error[0], error[1], now, now)))
        return instructions

    def _dep_arrived(self, dep: str) -> list:
        instructions = []
        self.holders.pop(dep, None)
        for key in self.waiting_for.pop(dep, ()):
            task = self.tasks.get(key)
            if task is None or task.state != "waiting":
                continue
            task.waiting.discard(dep)
            if not task.waiting:
                task.state = "ready"
                instructions.append(("execute", task))
        return instructions

    def claim(self, task: WorkerTask) -> bool:
        """In an executor thread: take ``task`` to run it, unless it was stolen or cancelled meanwhile."""
        with self.claim_lock:
            if task.state != "ready":
                return False
            task.state = "executing"
            return True

    def steal(self, keys: list[str]) -> list:
        """The scheduler wants to move these tasks elsewhere: give up those not started."""
        results = []
        for key in keys:
            task = self.tasks.get(key)
            with self.claim_lock:
                ok = task is not None and task.state in ("waiting", "ready")
                if ok:
                    task.state = "stolen"
            if ok:
                self._forget_task(task)
            results.append((key, ok))
        return [("send", ("steal-response", results))]

    def _forget_task(self, task: WorkerTask) -> None:
        self.tasks.pop(task.key, None)
        for dep in task.waiting:
            waiters = self.waiting_for.get(dep)
            if waiters is not None:
                waiters.discard(task.key)
        self._release_inputs(task.deps)

    def free(self, keys: list[str]) -> list:
        """The scheduler no longer needs these keys here."""
        for key in keys:
            task = self.tasks.get(key)
            if task is not None:
                with self.claim_lock:
                    executing = task.state == "executing"
                    task.state = "cancelled"
                if not executing:
                    self._forget_task(task)
            if key not in self.copied:
                self.data.pop(key)
        return []

    def started(self, task: WorkerTask) -> list:
        """``task`` has been executing for a while: tell the scheduler, once."""
        if task.state == "executing" and not task.reported:
            task.reported = True
            return [("send", ("started", task.key))]
        return []

    def done(self, task: WorkerTask, ok: bool, value: Any, ser: Any, nbytes: int, start: float,
             stop: float) -> list:
        """``task`` finished: ``finish`` then ``forget_done``, as instructions."""
        msg = self.finish(task, ok, value, ser, nbytes, start, stop)
        self.forget_done(task)
        return [("send", msg)] if msg is not None else []

    def finish(self, task: WorkerTask, ok: bool, value: Any, ser: Any, nbytes: int, start: float,
               stop: float) -> tuple | None:
        """Thread-safe: store the result and return the message for the scheduler (None if cancelled).

        Executor threads call this and send the message themselves, sparing a hop through the loop.
        """
        with self.claim_lock:
            if task.state != "executing":
                return None
            if not ok:
                task.state = "erred"
                exc, tb = value
                return ("erred", task.key, exc, tb, start, stop)
            task.state = "memory"
            self.data.put(task.key, value, nbytes)
        return self.finished_message(task.key, value, start, stop, ser, nbytes)

    def forget_done(self, task: WorkerTask) -> None:
        """Loop side of a finished task: drop its record and the inputs only it needed."""
        if self.tasks.get(task.key) is task:
            del self.tasks[task.key]
        self._release_inputs(task.deps)

    def _release_inputs(self, deps) -> None:
        """One user fewer for each of these inputs; drop copies from peers no task here uses any more
        (the scheduler never lists them here)."""
        for dep in deps:
            users = self.copied.get(dep)
            if users is None:
                continue
            if users <= 1:
                del self.copied[dep]
                if not self.waiting_for.get(dep):
                    self.data.pop(dep)
            else:
                self.copied[dep] = users - 1

    def finished_message(self, key: str, value: Any, start: float, stop: float, ser: Any = None,
                         nbytes: int | None = None) -> tuple:
        """The ``finished`` message for a key held here: small values travel with it."""
        if nbytes is None:
            nbytes = self.data.sizes.get(key, 0)
        small = ser if ser is not None and nbytes <= SMALL_RESULT else None
        return ("finished", key, nbytes, type(value).__name__, small, start, stop)
