"""The scheduler's state machine: pure bookkeeping, no I/O.

Rule 1: one thread. Only the scheduler's event loop calls ``SchedulerState``: the server shell
(server.py) feeds it events and sends what ``take_outgoing()`` returns, one frame per recipient.
Nothing in here blocks, sends or waits.

Rule 2: one handler per event. Each public method is one event from a client or a worker
(``update_graph``, ``task_finished``, ``remove_worker``, ...). One that may move a task first names
its stimulus and reads the clock (``self.stimulus, self.when``); every move it causes, however deep,
is recorded under that name and time, and the messages it causes go to ``outgoing[recipient]`` (a
worker address or a client id).

Rule 3: every change of a task's state goes through ``_move``, which checks it against
``TRANSITIONS`` and appends ``(key, stimulus, start, finish, when)`` to ``story`` (bounded:
protocol/story.py). A move the table does not list is a bug in this module: it raises
``InvalidTransition``, with the key's story, under ``JUPYTER_FUTURES_STRICT=1`` (the test suite
sets it), and is logged as a warning otherwise.

Rule 4: events may be stale; moves may not be impossible. Workers and clients act on what they
last heard, so a worker may report a task the scheduler has since cancelled, stolen or placed
elsewhere. Such an event changes nothing: ``_stale`` records it in the story (start == finish,
the stimulus says why it was ignored) and logs it at debug level. It never raises.

Rule 5: the clock is read once per event, only to stamp the story; no decision depends on it.

A task's life (the table below lists every move):

    released -> waiting -> processing -> memory | erred -> forgotten
                        -> queued -----^
                        -> no-worker --^

``queued``: a root task waits in ``queue`` for a worker with room. ``no-worker``: no current
worker meets its restrictions. ``lost``: scattered data whose only worker died (nothing can
recompute it). A task is forgotten once no client (``who_wants``), no pending dependent
(``waiters``) and no ``fire_and_forget`` holds it. Three fields are sub-states of
``processing`` and mean nothing in any other state:

- ``running``: the worker said it started the task (a worker death then counts against it:
  ``suspicious``; it is no longer worth stealing).
- ``stealing``: the thief it is being stolen for, while the victim has not answered ``steal``.
- ``processing_on.long_running`` holds it instead of ``processing_on.processing`` once it
  seceded (it waits on other tasks and uses no thread).

``queue`` may keep stale entries of tasks that left ``queued`` (cancelled, erred, scattered):
``_fill`` skips every entry whose task is no longer queued.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import operator
import sys
from collections import defaultdict
from typing import Any, Iterable

from ..protocol import messages
from ..protocol.errors import KilledWorker, LostDependency
from ..protocol.keys import key_split
from ..protocol.story import Story, impossible, legal_moves, length_from_environment, now, tee

logger = logging.getLogger("jupyter_futures.scheduler")

RELEASED = "released"  # known, placed nowhere: a new task, or one given back, for the length of one handler
WAITING = "waiting"  # some input is not in memory yet
NO_WORKER = "no-worker"  # ready, but no current worker meets its restrictions
QUEUED = "queued"  # a ready root task, in ``queue`` until a worker has room
PROCESSING = "processing"  # assigned to ``processing_on``
MEMORY = "memory"  # its value is on the workers in ``who_has``
ERRED = "erred"  # it or an input failed: ``exception``, ``traceback``
LOST = "lost"  # scattered data whose last holder died: nothing can recompute it
FORGOTTEN = "forgotten"  # gone from ``tasks``; a key the scheduler does not know counts as forgotten

TRANSITIONS: dict[tuple[str, str], str] = {
    # (start, finish): the events that make the move
    (RELEASED, WAITING): "update-graph; an input needed again (recomputed); missing-data",
    (RELEASED, QUEUED): "update-graph of a root task; task-erred with retries left, remove-worker: placed afresh",
    (RELEASED, NO_WORKER): "update-graph of a root task; task-erred with retries left, remove-worker: placed afresh",
    (RELEASED, PROCESSING): "update-graph of a root task; task-erred with retries left, remove-worker: placed afresh",
    (RELEASED, ERRED): "update-graph with an input gone; task-erred, no retry left; KilledWorker",
    (RELEASED, MEMORY): "update-data: a new key scattered",
    (WAITING, QUEUED): "a root task recomputed (its value was lost) and no worker has room",
    (WAITING, NO_WORKER): "its last input arrived; no worker meets its restrictions",
    (WAITING, PROCESSING): "its last input arrived",
    (WAITING, ERRED): "an input erred, was lost or was released",
    (WAITING, MEMORY): "update-data scattered its key; a worker holding it reports it",
    (WAITING, FORGOTTEN): "released or cancelled before it ran",
    (QUEUED, PROCESSING): "a worker has room (_fill)",
    (QUEUED, MEMORY): "update-data scattered its key; a worker holding it reports it",
    (QUEUED, FORGOTTEN): "released or cancelled before it ran",
    (NO_WORKER, QUEUED): "add-worker",
    (NO_WORKER, NO_WORKER): "add-worker: still no worker meets its restrictions",
    (NO_WORKER, PROCESSING): "add-worker",
    (NO_WORKER, ERRED): "an input was lost",
    (NO_WORKER, MEMORY): "update-data scattered its key; a worker holding it reports it",
    (NO_WORKER, FORGOTTEN): "released or cancelled before it ran",
    (PROCESSING, MEMORY): "task-finished; update-data scattered its key",
    (PROCESSING, RELEASED): "task-erred; missing-data; remove-worker; task-rescheduled (then placed again or erred)",
    (PROCESSING, PROCESSING): "steal-response: the victim gave it up, the thief takes it",
    (PROCESSING, QUEUED): "steal-response: the victim gave it up, the thief died meanwhile, and every "
                          "worker is at capacity (capacities shrink as tasks take longer)",
    (PROCESSING, ERRED): "an input was lost, or erred when recomputed",
    (PROCESSING, FORGOTTEN): "cancel: withdrawn from its worker",
    (MEMORY, MEMORY): "a second worker reports it; update-data scattered it again",
    (MEMORY, WAITING): "its last holder is gone and it is still needed: recompute",
    (MEMORY, LOST): "its last holder is gone and it was scattered",
    (MEMORY, FORGOTTEN): "nobody holds it any more; its last holder is gone and nobody needs it",
    (ERRED, MEMORY): "update-data scattered its key",
    (ERRED, WAITING): "retry: run it again",
    (ERRED, FORGOTTEN): "nobody holds it any more",
    (LOST, MEMORY): "update-data scattered it again",
    (LOST, FORGOTTEN): "nobody holds it any more",
}
_NEXT = legal_moves(TRANSITIONS)

FIRE_AND_FORGET = "fire-and-forget"
ALLOWED_FAILURES = 3
TASK_STREAM_ENV = "JUPYTER_FUTURES_TASK_STREAM_LENGTH"
# Finished and erred runs kept for the dashboard, get_task_stream and the feed's counts (as dask's
# task-stream plugin): past this, the older half is dropped.
TASK_STREAM_LENGTH = length_from_environment(TASK_STREAM_ENV, 100_000)
BANDWIDTH = 1e9  # bytes/s assumed for a worker-to-worker transfer
TRANSFER_LATENCY = 1e-3  # seconds charged per worker a task must fetch from
TARGET_BUFFER_SECONDS = 0.01  # how much queued work to keep on each worker per thread
MAX_EXTRA_TASKS = 1000


EMPTY: frozenset = frozenset()
NOT_RUN = (None, None)  # the (start, stop) of a task that never ran: scattered data, an input's error
_priority = operator.attrgetter("priority")


def _added(s: set, item) -> set:
    """``s`` with ``item`` added (a new set when ``s`` is the shared EMPTY)."""
    if s is EMPTY:
        return {item}
    s.add(item)
    return s


class TaskState:
    """What the scheduler knows of one key."""

    __slots__ = (
        "key", "state", "_prefix", "func_token", "func", "args", "dependencies", "dependents", "waiting_on",
        "waiters", "who_has", "processing_on", "nbytes", "type_name", "small", "exception", "traceback",
        "priority", "retries", "workers", "loose", "resources", "who_wants", "suspicious", "running",
        "options", "actor", "stealing", "ran",
    )

    def __init__(self, key: str, func_token: str | None, func: Any, args: Any, priority: tuple):
        self.key = key
        self.state = RELEASED
        self._prefix: str | None = None
        self.func_token = func_token
        self.func = func
        self.args = args
        self.dependencies: list[TaskState] = []
        # Empty sets are the shared EMPTY: a pending task then costs ~1 KB less.
        self.dependents: set[TaskState] = EMPTY
        self.waiting_on: set[TaskState] = EMPTY
        self.waiters: set[TaskState] = EMPTY
        self.who_has: set[WorkerState] = EMPTY
        self.processing_on: WorkerState | None = None
        self.nbytes = 0
        self.type_name = ""
        self.small = None
        self.exception = None
        self.traceback = None
        self.priority = priority
        self.retries = 0
        self.workers: frozenset | None = None
        self.loose = False
        self.resources: dict | None = None
        self.who_wants: set = EMPTY
        self.suspicious = 0
        self.running = False
        self.options: dict | None = None
        self.actor = False
        self.stealing: WorkerState | None = None
        self.ran: tuple = NOT_RUN  # (start, stop) of the run that made its value or error, worker's clock

    def __repr__(self) -> str:
        return f"<TaskState {self.key!r} {self.state}>"

    @property
    def prefix(self) -> str:
        """The function part of the key (``inc`` for ``inc-<hash>``), what the dashboard groups by."""
        if self._prefix is None:  # found on first use, not per task: only the dashboard asks
            self._prefix = sys.intern(key_split(self.key))
        return self._prefix


class WorkerState:
    """What the scheduler knows of one worker."""

    __slots__ = ("address", "name", "nthreads", "memory_limit", "pid", "processing", "has_what", "nbytes",
                 "_avg_duration", "capacity", "resources", "metrics", "alive", "stealing_in", "long_running")

    def __init__(self, address: str, nthreads: int, memory_limit: int = 0, name: str | None = None,
                 pid: int = 0, resources: dict | None = None):
        self.address = address
        self.name = name or address
        self.nthreads = max(1, nthreads)
        self.memory_limit = memory_limit
        self.pid = pid
        self.processing: set[TaskState] = set()
        self.has_what: set[TaskState] = set()
        self.nbytes = 0
        self.avg_duration = 0.5  # also sets capacity
        self.resources = dict(resources or {})
        self.metrics: dict = {}
        self.alive = True
        self.stealing_in = 0
        self.long_running: set[TaskState] = set()  # seceded tasks: still here, but using no thread

    def __repr__(self) -> str:
        return f"<WorkerState {self.address} processing={len(self.processing)}>"

    @property
    def avg_duration(self) -> float:
        """Recent seconds per task on this worker."""
        return self._avg_duration

    @avg_duration.setter
    def avg_duration(self, seconds: float) -> None:
        # ``capacity`` (how many tasks the scheduler keeps assigned to this worker at once) is read
        # per task: computed here, once per change.
        self._avg_duration = seconds
        extra = int(self.nthreads * TARGET_BUFFER_SECONDS / max(seconds, 1e-6))
        self.capacity = self.nthreads + max(1, min(MAX_EXTRA_TASKS, extra))

    @property
    def occupancy(self) -> float:
        """Expected seconds of work already assigned, per thread."""
        return len(self.processing) * self._avg_duration / self.nthreads


class SchedulerState:
    """All tasks, workers and clients, and the transitions between their states (see the rules at
    the top of this module). Not to be confused with the worker's own ``WorkerState`` machine
    (worker/state.py): ``WorkerState`` here is what the scheduler knows of a worker."""

    def __init__(self) -> None:
        self.tasks: dict[str, TaskState] = {}
        self.workers: dict[str, WorkerState] = {}
        self.clients: dict[str, set[TaskState]] = {}
        self.queue: list[tuple[tuple, TaskState]] = []  # heap of (priority, task): priorities are unique
        self.idle: dict[str, WorkerState] = {}
        self.outgoing: dict[str, list] = defaultdict(list)
        self.task_stream: list = []
        self._seq = itertools.count()
        self.n_tasks_total = 0
        self.story = Story()  # the last moves of every key: (key, stimulus, start, finish, when)
        self._record = self.story.append
        self.stimulus = ""  # the event being handled (Rule 2)
        self.when = 0.0  # and when it came (Rule 5)

    # -- moves ----------------------------------------------------------------
    def _move(self, ts: TaskState, finish: str) -> None:
        """Move ``ts`` to ``finish``, checked against ``TRANSITIONS`` and recorded (Rule 3)."""
        start = ts.state
        if finish not in _NEXT[start]:
            impossible(logger, self.story, "task", ts.key, start, finish, self.stimulus)
        ts.state = finish
        self._record((ts.key, self.stimulus, start, finish, self.when))

    def watch_moves(self, sink: list | None) -> None:
        """Also append every story record to ``sink`` (the shell hands the moves to plugins), or stop when
        None. Only the list sees them here: no user code runs in the state machine."""
        self._record = self.story.append if sink is None else tee(self.story.append, sink.append)

    def _note(self, ts: TaskState, stimulus: str | None = None) -> None:
        """Record a change of a sub-state of ``processing`` (``running``, ``stealing``, seceded)."""
        self._record((ts.key, stimulus or self.stimulus, ts.state, ts.state, self.when))

    def _stale(self, key: str, ts: TaskState | None, why: str) -> None:
        """An event about ``key`` that changes nothing: the scheduler moved on before it came (Rule 4)."""
        state = FORGOTTEN if ts is None else ts.state
        self._record((key, f"{self.stimulus} ignored: {why}", state, state, self.when))
        logger.debug("%s of %r ignored: %s", self.stimulus, key, why)

    # -- outgoing -----------------------------------------------------------
    def take_outgoing(self) -> dict[str, list]:
        """Messages produced since the last call, by recipient."""
        out, self.outgoing = self.outgoing, defaultdict(list)
        return out

    def _free_on(self, address: str, key: str) -> None:
        """Tell worker ``address`` to drop ``key``: added to the "free" message just queued for it, if
        that is the last one (a release of 10,000 keys is one message, not 10,000)."""
        out = self.outgoing[address]
        if out and out[-1][0] == messages.FREE:
            _, keys = out[-1]
            keys.append(key)
        else:
            out.append(messages.free([key]))

    def _tell_wanters(self, ts: TaskState, msg: tuple, told: Iterable[str] = ()) -> None:
        for client in ts.who_wants:
            if client != FIRE_AND_FORGET and client not in told:
                self.outgoing[client].append(msg)

    # -- clients ------------------------------------------------------------
    def add_client(self, client: str) -> None:
        """A client connected."""
        self.clients.setdefault(client, set())

    def remove_client(self, client: str) -> None:
        """A client is gone: release everything it held, and withdraw from the workers what it was
        running that nobody else (another client, a waiting task, fire_and_forget) still needs. Unlike
        a released future, whose task runs to its end, a dead client's work must not keep the
        cluster busy."""
        self.stimulus, self.when = "remove-client", now()
        held = sorted(self.clients.pop(client, ()), key=_priority, reverse=True)  # dependents first
        self._release(client, [ts.key for ts in held], None)
        for ts in held:
            if ts.state == PROCESSING and not ts.who_wants and not ts.waiters:
                self._forget(ts)

    def _want(self, client: str, ts: TaskState) -> None:
        if client not in ts.who_wants:
            ts.who_wants = _added(ts.who_wants, client)
            self.clients.setdefault(client, set()).add(ts)

    # -- graph --------------------------------------------------------------
    def update_graph(self, client: str, records: Iterable[tuple]) -> None:
        """Tasks submitted by ``client``: (key, func_token, func, args, dep_keys, options) records."""
        self.stimulus, self.when = "update-graph", now()
        self.add_client(client)
        for key, func_token, func, args, dep_keys, options in records:
            ts = self.tasks.get(key)
            if ts is not None and ts.state not in (RELEASED, FORGOTTEN):
                self._want(client, ts)
                self._report_current(client, ts)
                continue
            opts = options or {}
            user_priority = opts.get("priority", 0)
            if ts is None:
                ts = TaskState(key, func_token, func, args, (-user_priority, next(self._seq)))
                self.tasks[key] = ts
                self.n_tasks_total += 1
            else:
                ts.func_token, ts.func, ts.args = func_token, func, args
            if opts:
                ts.options = opts
                ts.retries = opts.get("retries") or 0
                workers = opts.get("workers")
                ts.workers = frozenset(workers) if workers else None
                ts.loose = bool(opts.get("allow_other_workers"))
                ts.resources = opts.get("resources") or None
                ts.actor = bool(opts.get("actor"))
            self._want(client, ts)
            missing = None
            for dep_key in dep_keys:
                dep = self.tasks.get(dep_key)
                if dep is None or dep.state == FORGOTTEN:
                    missing = dep_key
                    break
                ts.dependencies.append(dep)
                dep.dependents = _added(dep.dependents, ts)
            if missing is not None:
                self._err(ts, LostDependency(f"task {key!r} depends on {missing!r}, which the cluster no "
                                             f"longer has: keep a reference to that future until it is used"), None)
            elif ts.dependencies:
                self._enter_waiting(ts)
            else:  # a root task waits for nothing: placed at once
                self._schedule(ts)

    def _report_current(self, client: str, ts: TaskState) -> None:
        """Tell a client who asks for an existing key where that key stands."""
        if ts.state == MEMORY:
            self.outgoing[client].append(self._finished_msg(ts))
        elif ts.state == ERRED:
            self.outgoing[client].append(messages.task_erred(ts.key, ts.exception, ts.traceback, None, *ts.ran))
        elif ts.state == PROCESSING and ts.running:
            self.outgoing[client].append(messages.task_running(ts.key, ts.processing_on.address))

    def _enter_waiting(self, ts: TaskState) -> None:
        self._move(ts, WAITING)
        ts.waiting_on = EMPTY
        for dep in ts.dependencies:
            if dep.state == ERRED:
                self._err(ts, dep.exception, dep.traceback)
                return
            if dep.state == LOST:
                self._err(ts, LostDependency(
                    f"input {dep.key!r} of task {ts.key!r} was lost with its worker and cannot be recomputed "
                    f"(it was scattered): scatter it again and resubmit"), None)
                return
            dep.waiters = _added(dep.waiters, ts)
            if dep.state != MEMORY or not dep.who_has:  # not held anywhere: a dead worker's, about to be recomputed
                ts.waiting_on = _added(ts.waiting_on, dep)
                if dep.state in (RELEASED, LOST):
                    self._recompute(dep)
        if not ts.waiting_on:
            self._schedule(ts)

    def _recompute(self, ts: TaskState) -> None:
        if ts.func is None:
            return  # scattered data cannot be recomputed; _lose handles it
        self._enter_waiting(ts)

    # -- placement ----------------------------------------------------------
    def _allowed(self, ts: TaskState, ws: WorkerState) -> bool:
        if ts.workers is not None and ws.address not in ts.workers and ws.name not in ts.workers:
            return False
        return not ts.resources or self._has_resources(ts, ws)

    def _candidates(self, ts: TaskState) -> list[WorkerState]:
        workers = self.workers.values()
        if ts.workers is None and not ts.resources:
            return list(workers)
        allowed = [ws for ws in workers if self._allowed(ts, ws)]
        if allowed or not ts.loose:
            return allowed
        return [ws for ws in workers if not ts.resources or self._has_resources(ts, ws)]

    @staticmethod
    def _has_resources(ts: TaskState, ws: WorkerState) -> bool:
        """Whether ``ws`` has at least the resources ``ts`` needs (its worker runs such tasks one at a
        time per amount available)."""
        return all(ws.resources.get(n, 0) >= a for n, a in ts.resources.items())

    def decide_worker(self, ts: TaskState) -> WorkerState | None:
        """The worker where ``ts`` would finish soonest: data already there, and least queued work."""
        restricted = ts.workers is not None or ts.resources
        if ts.dependencies and not restricted:
            pool = {ws for dep in ts.dependencies for ws in dep.who_has}
            if self.idle:
                pool.add(next(iter(self.idle.values())))
            if not pool:
                pool = set(self.workers.values())
        else:
            pool = self._candidates(ts)
        best, best_cost = None, None
        for ws in pool:
            missing, sources = 0, set()
            for dep in ts.dependencies:
                if ws not in dep.who_has:
                    missing += dep.nbytes
                    sources.add(next(iter(dep.who_has), None))
            cost = missing / BANDWIDTH + len(sources) * TRANSFER_LATENCY + ws.occupancy
            if best_cost is None or cost < best_cost or (cost == best_cost and len(ws.processing) < len(best.processing)):
                best, best_cost = ws, cost
        return best

    def _schedule(self, ts: TaskState) -> None:
        """``ts`` has all its inputs: send it to a worker, or queue it."""
        if not self.workers:
            self._move(ts, NO_WORKER)
            return
        if not ts.dependencies and ts.workers is None and not ts.resources:
            ws = self._least_busy()
            if ws is None or len(ws.processing) >= ws.capacity:
                self._move(ts, QUEUED)
                heapq.heappush(self.queue, (ts.priority, ts))
                return
        else:
            ws = self.decide_worker(ts)
            if ws is None:
                self._move(ts, NO_WORKER)
                return
        self._assign(ts, ws)

    def _least_busy(self) -> WorkerState | None:
        best = None
        for ws in self.workers.values():
            if best is None or len(ws.processing) * best.nthreads < len(best.processing) * ws.nthreads:
                best = ws
        return best

    def _assign(self, ts: TaskState, ws: WorkerState) -> None:
        self._move(ts, PROCESSING)
        ts.processing_on = ws
        ts.running = False
        ws.processing.add(ts)
        if len(ws.processing) >= ws.nthreads:
            self.idle.pop(ws.address, None)
        deps = {dep.key: [w.address for w in dep.who_has] for dep in ts.dependencies} if ts.dependencies else {}
        self.outgoing[ws.address].append(
            messages.compute(ts.key, ts.func_token, ts.func, ts.args, deps, ts.priority, ts.options,
                             [c for c in ts.who_wants if c != FIRE_AND_FORGET]))

    def _fill(self, ws: WorkerState) -> None:
        """Hand queued root tasks to ``ws`` while it has room; with none queued, steal for it."""
        if not ws.alive:  # a worker being removed frees threads no task may take
            return
        queue = self.queue
        cap = ws.capacity
        while queue and len(ws.processing) < cap:
            ts = heapq.heappop(queue)[1]
            if ts.state == QUEUED:  # else a stale entry: the task left the queue another way
                self._assign(ts, ws)
        if not queue and ws.alive and len(ws.processing) + ws.stealing_in < ws.nthreads:
            self._steal_for(ws)

    # -- work stealing ------------------------------------------------------
    def _steal_for(self, thief: WorkerState) -> None:
        """``thief`` has idle threads: ask the busiest worker for half of the tasks it has not started."""
        want = thief.capacity - len(thief.processing) - thief.stealing_in
        best, best_candidates = None, []
        for victim in self.workers.values():
            if victim is thief or len(victim.processing) <= victim.nthreads:
                continue
            waiting = [ts for ts in victim.processing if not ts.running and ts.stealing is None
                       and self._allowed(ts, thief)]
            running = len(victim.processing) - len(waiting)
            # The victim's free threads have probably begun its first waiting tasks already.
            candidates = sorted(waiting, key=_priority)[max(victim.nthreads - running, 0):]
            if len(candidates) > len(best_candidates):
                best, best_candidates = victim, candidates
        if best is None or not best_candidates or want <= 0:
            return
        take = best_candidates[-min(want, max(1, len(best_candidates) // 2)):]
        for ts in take:
            ts.stealing = thief
            self._note(ts, "steal")
        thief.stealing_in += len(take)
        self.outgoing[best.address].append(messages.steal([ts.key for ts in take]))

    def steal_response(self, address: str, results: list[tuple[str, bool]]) -> None:
        """The victim gave up (True) or had already started (False) each task asked for."""
        self.stimulus, self.when = "steal-response", now()
        victim = self.workers.get(address)
        for key, ok in results:
            ts = self.tasks.get(key)
            if ts is None or ts.stealing is None:
                self._stale(key, ts, "no steal of it pending (it finished, or was cancelled or rerun)")
                continue
            thief = ts.stealing
            ts.stealing = None
            thief.stealing_in -= 1
            if not ok:
                self._stale(key, ts, f"{address} had started it")
                continue
            if ts.state != PROCESSING or ts.processing_on is not victim:
                self._stale(key, ts, f"not processing on {address} any more")
                continue
            self._unassign(ts)
            if thief.alive:
                self._assign(ts, thief)
            else:
                self._schedule(ts)

    def _unassign(self, ts: TaskState) -> WorkerState | None:
        ws = ts.processing_on
        ts.processing_on = None
        ts.running = False
        if ts.stealing is not None:
            ts.stealing.stealing_in -= 1
            ts.stealing = None
        if ws is not None:
            ws.processing.discard(ts)
            if ws.long_running:
                ws.long_running.discard(ts)
            if len(ws.processing) < ws.nthreads and ws.alive:
                self.idle[ws.address] = ws
        return ws

    # -- events from workers ------------------------------------------------
    def add_worker(self, address: str, nthreads: int, memory_limit: int = 0, name: str | None = None,
                   pid: int = 0, resources: dict | None = None) -> WorkerState:
        """A worker joined: give it queued work and anything that had no worker."""
        self.stimulus, self.when = "add-worker", now()
        ws = WorkerState(address, nthreads, memory_limit, name, pid, resources)
        self.workers[address] = ws
        self.idle[address] = ws
        for ts in [t for t in self.tasks.values() if t.state == NO_WORKER]:
            self._schedule(ts)
        self._fill(ws)
        return ws

    def _processing_on(self, address: str, key: str) -> TaskState | None:
        """``key``'s task when it is processing on worker ``address``; else None, and the event that asked is
        recorded as too late to matter."""
        ts = self.tasks.get(key)
        if ts is None or ts.state != PROCESSING or ts.processing_on is None or ts.processing_on.address != address:
            self._stale(key, ts, f"not processing on {address} (finished, cancelled, stolen or rerun)")
            return None
        return ts

    def task_started(self, address: str, key: str) -> None:
        """A worker began executing ``key``."""
        self.stimulus, self.when = "task-started", now()
        ts = self._processing_on(address, key)
        if ts is None:
            return
        ts.running = True
        self._note(ts)
        self._tell_wanters(ts, messages.task_running(key, address))

    def task_seceded(self, address: str, key: str) -> None:
        """A task left its worker's thread pool to wait on other tasks: its thread is free for them."""
        self.stimulus, self.when = "task-seceded", now()
        ts = self.tasks.get(key)
        ws = self.workers.get(address)
        if ts is None or ws is None or ts.processing_on is not ws or ts not in ws.processing:
            self._stale(key, ts, f"not processing on {address} (finished, cancelled, stolen, rerun or seceded)")
            return
        self._note(ts)
        ws.processing.discard(ts)
        ws.long_running.add(ts)
        if len(ws.processing) < ws.nthreads:
            self.idle[address] = ws
        self._fill(ws)

    def task_finished(self, address: str, key: str, nbytes: int, type_name: str, small: Any,
                      start: float, stop: float, told: Iterable[str] = ()) -> None:
        """A worker computed ``key`` and holds its value (and told the clients ``told`` itself)."""
        self.stimulus, self.when = "task-finished", now()
        ws = self.workers.get(address)
        ts = self.tasks.get(key)
        if ws is None:
            self._stale(key, ts, f"{address} has left")
            return
        if ts is None or ts.state in (FORGOTTEN, RELEASED, ERRED):
            self._free_on(address, key)
            self._stale(key, ts, f"released, cancelled or erred meanwhile: freed on {address}")
            return
        if ts.state == PROCESSING and ts.processing_on is not ws:
            self._stale(key, ts, f"processing on {ts.processing_on.address if ts.processing_on else None}, "
                                 f"not {address} (stolen or rerun)")
            return
        duration = max(stop - start, 0.0)
        avg = ws.avg_duration
        ws.avg_duration = 0.5 * avg + 0.5 * duration if avg != 0.5 else duration
        stream = self.task_stream  # _add_run, inline: this is every task's path
        stream.append((key, address, start, stop, "finished"))
        if len(stream) > TASK_STREAM_LENGTH:
            del stream[:len(stream) // 2]
        if ts.state == PROCESSING:
            self._unassign(ts)
        self._move(ts, MEMORY)
        ts.nbytes = nbytes
        ts.type_name = type_name
        ts.small = small
        ts.suspicious = 0
        ts.ran = (start, stop)
        self._add_replica(ts, ws)
        self._tell_finished(ts, told)
        for dep in ts.dependencies:
            self._drop_waiter(dep, ts)
        self._wake_waiters(ts)
        self._maybe_forget(ts)
        self._fill(ws)

    def _add_run(self, record: tuple) -> None:
        """One run for the task stream, which keeps at most ``TASK_STREAM_LENGTH`` of them."""
        stream = self.task_stream
        stream.append(record)
        if len(stream) > TASK_STREAM_LENGTH:
            del stream[:max(len(stream) // 2, 1)]

    def task_output(self, address: str, key: str, stream: str, text: str) -> None:
        """What a task printed, for the clients that wait for it."""
        ts = self.tasks.get(key)
        if ts is not None:
            self._tell_wanters(ts, messages.task_output(key, address, stream, text))

    def tell_clients(self, key: str, clients: list[str]) -> None:
        """A worker could not reach these clients to say ``key`` finished: tell them from here."""
        self.stimulus, self.when = "tell-clients", now()
        ts = self.tasks.get(key)
        if ts is None or ts.state != MEMORY:
            self._stale(key, ts, "not in memory any more")
        else:
            for client in clients:
                if client in ts.who_wants:
                    self.outgoing[client].append(self._finished_msg(ts))

    def _tell_finished(self, ts: TaskState, told: Iterable[str]) -> None:
        """``task-finished`` to the clients the worker did not tell (usually none: then no message is built)."""
        msg = None
        for client in ts.who_wants:
            if client != FIRE_AND_FORGET and client not in told:
                if msg is None:
                    msg = self._finished_msg(ts)
                self.outgoing[client].append(msg)

    def _finished_msg(self, ts: TaskState) -> tuple:
        return messages.task_finished(ts.key, ts.type_name, ts.nbytes, [w.address for w in ts.who_has], ts.small,
                                      *ts.ran)

    def task_erred(self, address: str, key: str, exception: Any, traceback: Any, start: float, stop: float) -> None:
        """A task raised: retry it if it may, else fail it and everything waiting on it."""
        self.stimulus, self.when = "task-erred", now()
        ts = self._processing_on(address, key)
        if ts is None:
            return
        self._add_run((key, address, start, stop, "erred"))
        ws = self._unassign(ts)
        self._move(ts, RELEASED)
        if ts.retries > 0:
            ts.retries -= 1
            self._schedule(ts)
        else:
            self._err(ts, exception, traceback, worker=address, ran=(start, stop))
        self._fill(ws)

    def task_rescheduled(self, address: str, key: str) -> None:
        """The task raised ``Reschedule`` on worker ``address``: run it again, on another worker when one
        may run it (the least busy), else there again."""
        self.stimulus, self.when = "task-rescheduled", now()
        ts = self._processing_on(address, key)
        if ts is None:
            return
        ws = self._unassign(ts)
        self._move(ts, RELEASED)
        others = [w for w in self._candidates(ts) if w is not ws]
        if others:
            self._assign(ts, min(others, key=lambda w: (w.occupancy, len(w.processing))))
        else:
            self._schedule(ts)
        self._fill(ws)

    def _err(self, ts: TaskState, exception: Any, traceback: Any, worker: str | None = None,
             ran: tuple | None = None) -> None:
        """Mark ``ts`` and, transitively, its waiting dependents erred with this exception
        (``worker`` and ``ran``: where and when ``ts`` itself failed, if it ran)."""
        stack = [ts]
        while stack:
            t = stack.pop()
            if t.state == ERRED:
                continue
            if t.state == PROCESSING and t.processing_on is not None:
                ws = self._unassign(t)
                self._free_on(ws.address, t.key)
                self._fill(ws)
            self._move(t, ERRED)
            t.exception = exception
            t.traceback = traceback
            t.small = None
            t.ran = ran if t is ts and ran is not None else NOT_RUN
            # The worker it failed on (for the task that raised; its dependents never ran).
            self._tell_wanters(t, messages.task_erred(t.key, exception, traceback, worker if t is ts else None,
                                                     *t.ran))
            for dep in t.dependencies:
                self._drop_waiter(dep, t)
            stack.extend(d for d in t.dependents if d.state not in (MEMORY, ERRED, FORGOTTEN))
            self._maybe_forget(t)

    def missing_data(self, address: str, key: str, dep_key: str, failed: Iterable[str]) -> None:
        """A worker could not fetch ``dep_key`` for ``key`` from ``failed`` holders: fix the records, retry."""
        self.stimulus, self.when = "missing-data", now()
        dep = self.tasks.get(dep_key)
        if dep is not None:
            for ws in [w for w in dep.who_has if w.address in set(failed)]:
                self._drop_replica(dep, ws)
        else:
            self._stale(dep_key, None, f"an input of {key!r} the scheduler no longer knows")
        ts = self._processing_on(address, key)
        if ts is None:
            return
        self._unassign(ts)
        self._move(ts, RELEASED)
        self._enter_waiting(ts)

    def data_missing(self, address: str, keys: Iterable[str]) -> None:
        """A client asked worker ``address`` for these keys and it had none of them, whatever the records
        say: its copies go (a key's last copy gone, it is recomputed, lost or forgotten), so nobody waits
        for data that is nowhere."""
        self.stimulus, self.when = "data-missing", now()
        ws = self.workers.get(address)
        for key in keys:
            ts = self.tasks.get(key)
            if ts is None or ws is None or ws not in ts.who_has:
                self._stale(key, ts, f"not listed on {address}")
                continue
            logger.warning("worker %s did not have %r, which the scheduler listed on it", address, key)
            self._drop_replica(ts, ws)

    # -- workers leaving ----------------------------------------------------
    def remove_worker(self, address: str, reason: str | None = None) -> None:
        """A worker is gone: rerun what it was running, recompute or lose what only it held. ``reason``, if
        known, completes "the worker ..." (e.g. "was killed by signal SIGSEGV"): a ``KilledWorker`` names it."""
        self.stimulus, self.when = "remove-worker", now()
        ws = self.workers.pop(address, None)
        if ws is None:
            return
        ws.alive = False
        self.idle.pop(address, None)
        processing = sorted(ws.processing | ws.long_running, key=_priority)
        # Tasks report "running" only after a tick, so the first ones in its queue count as running too:
        # a task that kills its worker at once must still end as KilledWorker.
        running = {ts for ts in processing if ts.running}
        for ts in processing:
            if len(running) >= ws.nthreads:
                break
            running.add(ts)
        # Its data first, in two passes: every value's holders are true before any task is placed again
        # (placing one must never pick this worker for an input it held), then the values it alone held
        # are recomputed, lost or forgotten.
        orphans = [ts for ts in list(ws.has_what) if self._remove_replica(ts, ws)]
        ws.has_what.clear()
        for ts in sorted(orphans, key=_priority):
            if ts.state == MEMORY and not ts.who_has:
                self._orphaned(ts)
        for ts in processing:
            if ts.processing_on is not ws:  # erred meanwhile: an input of it was lost with this worker
                continue
            was_running = ts in running
            self._unassign(ts)
            self._move(ts, RELEASED)
            if was_running:
                ts.suspicious += 1
                if ts.suspicious >= ALLOWED_FAILURES:
                    self._err(ts, _killed_worker(ts.key, address, reason), None)
                    continue
            if all(dep.state == MEMORY for dep in ts.dependencies):
                self._schedule(ts)
            else:
                self._enter_waiting(ts)  # an input is being recomputed: wait for it

    def _drop_replica(self, ts: TaskState, ws: WorkerState) -> None:
        """``ws`` no longer holds ``ts``'s value: if that was the last copy, recompute, lose or forget it."""
        if self._remove_replica(ts, ws):
            self._orphaned(ts)

    @staticmethod
    def _remove_replica(ts: TaskState, ws: WorkerState) -> bool:
        """Only the bookkeeping of a dropped copy; True when ``ts`` is in memory and now held nowhere."""
        if ts.who_has:
            ts.who_has.discard(ws)
        ws.has_what.discard(ts)
        ws.nbytes -= ts.nbytes
        return ts.state == MEMORY and not ts.who_has

    def _orphaned(self, ts: TaskState) -> None:
        """The last copy of ``ts``'s value is gone."""
        if ts.func is None:
            self._lose(ts)
        elif ts.who_wants or ts.waiters:
            for dependent in ts.waiters:
                if dependent.state == WAITING:
                    dependent.waiting_on = _added(dependent.waiting_on, ts)
            self._enter_waiting(ts)
        else:
            self._forget(ts)

    def _lose(self, ts: TaskState) -> None:
        """Data nobody can recompute is gone (scattered data on a dead worker)."""
        self._move(ts, LOST)
        self._tell_wanters(ts, messages.task_lost(ts.key))
        for dependent in list(ts.waiters):
            if dependent.state in (WAITING, PROCESSING, QUEUED, NO_WORKER):
                self._err(dependent, LostDependency(
                    f"input {ts.key!r} of task {dependent.key!r} was lost with its worker and cannot be "
                    f"recomputed (it was scattered): scatter it again and resubmit"), None)

    # -- releasing ----------------------------------------------------------
    def release_keys(self, client: str, keys: Iterable[str]) -> None:
        """``client`` holds no more futures for these keys."""
        self.stimulus, self.when = "release-keys", now()
        self._release(client, keys, self.clients.get(client))

    def _release(self, client: str, keys: Iterable[str], held: set | None) -> None:
        for key in keys:
            ts = self.tasks.get(key)
            if ts is None:
                continue
            if ts.who_wants:
                ts.who_wants.discard(client)
            if held is not None:
                held.discard(ts)
            self._maybe_forget(ts)

    def want_keys(self, client: str, keys: Iterable[str]) -> None:
        """``client`` got futures for these keys from elsewhere (a task's result, a queue...)."""
        for key in keys:
            ts = self.tasks.get(key)
            if ts is None:
                self.outgoing[client].append(messages.task_lost(key))
                continue
            self._want(client, ts)
            self._report_current(client, ts)

    def retry(self, keys: Iterable[str]) -> list[str]:
        """Run these erred tasks again, with the erred tasks they depend on (where the failure began),
        inputs first. Returns the keys that cannot be: an input of theirs was forgotten meanwhile."""
        self.stimulus, self.when = "retry", now()
        erred: dict[str, TaskState] = {}
        stack = [self.tasks[k] for k in keys if k in self.tasks]
        while stack:
            ts = stack.pop()
            if ts.state == ERRED and ts.key not in erred:
                erred[ts.key] = ts
                stack.extend(ts.dependencies)
        gone = [ts.key for ts in erred.values() if any(dep.state == FORGOTTEN for dep in ts.dependencies)]
        for ts in sorted(erred.values(), key=_priority):
            if ts.key in gone:
                continue
            ts.exception = ts.traceback = None
            ts.suspicious = 0
            ts.ran = NOT_RUN
            self._enter_waiting(ts)
        return gone

    def hold_keys(self, holder: str, keys: Iterable[str]) -> None:
        """A queue, variable or client holds futures for these keys: keep them (keys unknown here are
        skipped: their holder hears of them when it asks)."""
        for key in keys:
            ts = self.tasks.get(key)
            if ts is not None:
                self._want(holder, ts)

    def fire_and_forget(self, keys: Iterable[str]) -> None:
        """Keep computing these keys even when no client holds them."""
        for key in keys:
            ts = self.tasks.get(key)
            if ts is not None and ts.state not in (MEMORY, ERRED, FORGOTTEN):
                ts.who_wants = _added(ts.who_wants, FIRE_AND_FORGET)

    def _drop_waiter(self, dep: TaskState, waiter: TaskState) -> None:
        if dep.waiters:
            dep.waiters.discard(waiter)
        if not dep.waiters:
            self._maybe_forget(dep)

    def _maybe_forget(self, ts: TaskState) -> None:
        if ts.who_wants:
            if ts.who_wants == {FIRE_AND_FORGET} and ts.state in (MEMORY, ERRED):
                ts.who_wants = EMPTY
            else:
                return
        if ts.waiters:
            return
        if ts.state == PROCESSING:
            return  # already on a worker: it runs to the end (side effects included), then goes
        self._forget(ts)

    def _forget(self, ts: TaskState) -> None:
        """Drop every trace of ``ts``: free its data, withdraw it from its worker."""
        if ts.state == FORGOTTEN:
            return
        if ts.state == PROCESSING and ts.processing_on is not None:
            ws = self._unassign(ts)
            self._free_on(ws.address, ts.key)
            self._fill(ws)
        for ws in ts.who_has:
            ws.has_what.discard(ts)
            ws.nbytes -= ts.nbytes
            self._free_on(ws.address, ts.key)
        ts.who_has = EMPTY
        self._move(ts, FORGOTTEN)
        ts.small = None
        ts.func = ts.args = None
        self.tasks.pop(ts.key, None)
        for dep in ts.dependencies:
            if dep.dependents:
                dep.dependents.discard(ts)
            self._drop_waiter(dep, ts)
        for dependent in ts.dependents:
            if dependent.state == WAITING and ts in dependent.waiting_on:
                self._err(dependent, LostDependency(f"input {ts.key!r} of {dependent.key!r} was released"), None)

    def cancel(self, keys: Iterable[str], client: str | None = None, force: bool = True,
               results_too: bool = False) -> list[str]:
        """Cancel these tasks and everything that depends on them, for every client. Asked by ``client``
        without ``force`` (dask's rule), a key another client (or fire_and_forget) also holds is only
        released by ``client``: one notebook's Ctrl-C never cancels another's work. With ``results_too``
        (a restart: the data is gone) clients cancel their finished futures of them as well."""
        self.stimulus, self.when = "cancel", now()
        if client is not None and not force:
            keys = list(keys)
            shared = [k for k in keys if k in self.tasks and any(c != client for c in self.tasks[k].who_wants)]
            if shared:
                self._release(client, shared, self.clients.get(client))
                keys = [k for k in keys if k not in set(shared)]
        order: list[TaskState] = []
        seen: set[str] = set()
        stack = [self.tasks[k] for k in keys if k in self.tasks]
        while stack:
            ts = stack.pop()
            if ts.key in seen or ts.state == FORGOTTEN:
                continue
            seen.add(ts.key)
            order.append(ts)
            stack.extend(ts.dependents)
        for ts in order:
            for client in ts.who_wants:
                if client != FIRE_AND_FORGET:
                    self.outgoing[client].append(messages.task_cancelled(ts.key, results_too))
                    self.clients.get(client, set()).discard(ts)
            ts.who_wants = EMPTY
            ts.waiters = EMPTY
        for ts in reversed(order):  # dependents first, so none is left waiting on a forgotten input
            self._forget(ts)
        return [ts.key for ts in order]

    # -- data placed from outside ---------------------------------------------
    def update_data(self, client: str, address: str, entries: dict[str, tuple[int, str]]) -> None:
        """Data scattered by ``client`` now lives on ``address``: {key: (nbytes, type_name)}."""
        self.stimulus, self.when = "update-data", now()
        ws = self.workers.get(address)
        if ws is None:
            raise KeyError(f"no worker {address}: it left the cluster; scatter the data again")
        for key, (nbytes, type_name) in entries.items():
            ts = self.tasks.get(key)
            if ts is None:
                ts = TaskState(key, None, None, None, (0, next(self._seq)))
                self.tasks[key] = ts
            self._move(ts, MEMORY)
            ts.nbytes, ts.type_name = nbytes, type_name
            ts.ran = NOT_RUN
            self._add_replica(ts, ws)
            self._want(client, ts)
            self._wake_waiters(ts)

    def replicas_added(self, address: str, keys: Iterable[str]) -> None:
        """Worker ``address`` copied these keys from peers, asked to (replicate, rebalance, retire):
        it holds them too. A copy of a key that left memory meanwhile is freed there."""
        self.stimulus, self.when = "replicas-added", now()
        ws = self.workers.get(address)
        for key in keys:
            ts = self.tasks.get(key)
            if ws is None or ts is None or ts.state != MEMORY:
                self._stale(key, ts, f"not in memory any more, or {address} has left: its copy is freed")
                if ws is not None:
                    self._free_on(address, key)
                continue
            self._move(ts, MEMORY)
            self._add_replica(ts, ws)

    def replicas_dropped(self, address: str, keys: Iterable[str]) -> list[str]:
        """Drop worker ``address``'s copies of these keys (replicate's extras, rebalance's moved keys), except
        a last copy and one a task processing there reads; returns the keys dropped."""
        self.stimulus, self.when = "replicas-dropped", now()
        ws = self.workers.get(address)
        dropped = []
        for key in keys:
            ts = self.tasks.get(key)
            if ws is None or ts is None or ws not in ts.who_has:
                self._stale(key, ts, f"not held on {address}")
            elif len(ts.who_has) < 2:
                self._stale(key, ts, f"{address} holds its last copy")
            elif any(d.processing_on is ws for d in ts.dependents):
                self._stale(key, ts, f"a task processing on {address} reads it")
            else:
                self._remove_replica(ts, ws)
                self._free_on(address, key)
                self._note(ts)
                dropped.append(key)
        return dropped

    def _add_replica(self, ts: TaskState, ws: WorkerState) -> None:
        if ts not in ws.has_what:
            ws.has_what.add(ts)
            ws.nbytes += ts.nbytes
        ts.who_has = _added(ts.who_has, ws)

    def _wake_waiters(self, ts: TaskState) -> None:
        """``ts`` is in memory: dependents waiting only for it can run."""
        for dependent in ts.waiters:
            if dependent.state == WAITING:
                if dependent.waiting_on:
                    dependent.waiting_on.discard(ts)
                if not dependent.waiting_on:
                    self._schedule(dependent)

    # -- queries ------------------------------------------------------------
    def worker_addresses(self, workers: Iterable[str]) -> list[str]:
        """The addresses of ``workers`` (addresses or names), in order; ValueError naming any unknown one."""
        by_name = {str(ws.name): a for a, ws in self.workers.items()}
        out, unknown = [], []
        for w in workers:
            address = w if w in self.workers else by_name.get(str(w))
            if address is None:
                unknown.append(w)
            elif address not in out:
                out.append(address)
        if unknown:
            raise ValueError(f"no such workers: {unknown}; the workers now are {sorted(self.workers)} "
                             f"(client.scheduler_info()['workers'] lists them with their names)")
        return out

    def who_has(self, keys: Iterable[str] | None = None) -> dict[str, list[str]]:
        """{key: [worker addresses holding it]}."""
        keys = self.tasks.keys() if keys is None else keys
        return {k: [w.address for w in self.tasks[k].who_has] if k in self.tasks else [] for k in keys}

    def nbytes(self, keys: Iterable[str] | None = None, summary: bool = True) -> dict[str, int]:
        """{key: bytes} of the values in memory (of ``keys``, or all), as dask's ``get_nbytes``; with
        ``summary``, summed by key prefix (``inc-<hash>`` counts under ``inc``)."""
        keys = self.tasks.keys() if keys is None else keys
        sizes = {k: self.tasks[k].nbytes for k in keys if k in self.tasks and self.tasks[k].state == MEMORY}
        if not summary:
            return sizes
        out: dict[str, int] = defaultdict(int)
        for key, n in sizes.items():
            out[key_split(key)] += n
        return dict(out)

    def has_what(self) -> dict[str, list[str]]:
        """{worker address: [keys it holds]}."""
        return {addr: [ts.key for ts in ws.has_what] for addr, ws in self.workers.items()}

    def processing(self) -> dict[str, list[str]]:
        """{worker address: [keys assigned to it and not finished]}."""
        return {addr: [ts.key for ts in ws.processing] for addr, ws in self.workers.items()}

    def counts(self) -> dict[str, int]:
        """How many tasks are in each state."""
        out: dict[str, int] = defaultdict(int)
        for ts in self.tasks.values():
            out[ts.state] += 1
        return dict(out)


def _killed_worker(key: str, address: str, reason: str | None) -> KilledWorker:
    """The error of a task that was running on ``ALLOWED_FAILURES`` workers that died."""
    if reason is None:
        return KilledWorker(f"task {key!r} was running on {ALLOWED_FAILURES} workers that died while running it "
                            f"(the last was {address}); it probably crashes the worker process (segfault, "
                            f"os._exit, out of memory)")
    fix = ("give the workers a larger memory_limit, or make the task use less memory" if "memory" in reason
           else "fix the task (a crash in compiled code, or an exit, kills the process that runs it)")
    return KilledWorker(f"task {key!r} was running on {ALLOWED_FAILURES} workers that died while running it "
                        f"(the last, {address}, {reason}); it is not run again: {fix}")
