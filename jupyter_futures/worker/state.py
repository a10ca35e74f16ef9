"""The worker's state machine: which tasks it holds, what they wait for, what to do next.

Rule 1: one thread. Only the worker's event loop calls ``WorkerState``. Executor threads never
touch it: they meet the loop in ``Claims`` (claims.py), which settles whether a thread runs a
ready task or the loop takes it back, and the loop applies each thread's report here
(``executed``). A thread reads only a task's fixed fields (key, func, args, deps, options,
clients); ``state``, ``waiting`` and ``reported`` are the loop's.

Rule 2: no I/O. Each public method is one event (``compute``, ``fetched``, ``fetch_failed``,
``steal``, ``free``, ``started``, ``executed``, ``rescheduled``); it names its stimulus first and returns
instructions for the server shell: ``("fetch", peer, keys)``, ``("execute", task)``,
``("send", message)``.

Rule 3: every change of a task's state goes through ``_move``, which checks it against
``TRANSITIONS`` and appends ``(key, stimulus, start, finish, when)`` to ``story`` (bounded:
protocol/story.py). A move the table does not list raises ``InvalidTransition`` under
``JUPYTER_FUTURES_STRICT=1`` (the test suite sets it) and is logged as a warning otherwise. An
event that comes too late to matter (a second ``compute`` of a task here, a ``steal`` of one a
thread runs) changes nothing: ``_stale`` records it, and it never raises.

Rule 4: a task's record leaves ``tasks`` in one place, ``_drop``, once the task ends (memory,
erred, stolen, cancelled, released): off ``tasks`` and ``waiting_for``, and one user fewer for
each input copied from a peer.

Rule 5: the loop learns late that a thread claimed a ready task, or finished it: from the thread's
report, or when it asks ``Claims`` (steal, free, the running tick, a ``compute`` of the same key,
which may come back from the scheduler before the report reaches the loop). It then moves the task
``ready -> executing`` at once (``_claimed``); the report's move carries the thread's own clock.

Rule 6: one request at a time to each peer. Inputs wanted from a peer that is answering a request
wait in ``queued`` and go in its next one; a peer's reply holds a part of its memory limit at most
and names the keys it deferred, which are asked again first. So the data on its way here is bounded
by the number of peers, not the number of tasks (dask also asks one request per peer at a time).

A task's life (the table below lists every move):

    new -> waiting -> ready -> executing -> memory | erred
    any of new, waiting, ready -> released, stolen or cancelled (and executing -> cancelled or rescheduled)
"""
from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from ..protocol import messages
from ..protocol.story import Story, impossible, legal_moves, now, tee
from .claims import Claims
from .store import DataStore

logger = logging.getLogger("jupyter_futures.worker")

SMALL_RESULT = 64 * 1024  # results up to this size ride with the "finished" message

NEW = "new"  # made by ``compute``, for the length of that handler
WAITING = "waiting"  # fetching inputs from peers
READY = "ready"  # offered to the executor threads: queued for one, or claimed by one the loop has not heard of
EXECUTING = "executing"  # the loop knows a thread claimed it
MEMORY = "memory"  # it returned: its value is in the data store (and the record is dropped)
ERRED = "erred"  # it raised, or an input could not be unpickled (dropped)
RELEASED = "released"  # given back unrun: an input could not be fetched, ``missing-data`` said so (dropped)
STOLEN = "stolen"  # given up to the scheduler for another worker (dropped)
CANCELLED = "cancelled"  # freed by the scheduler (dropped; if a thread claimed it, once the thread reports)
RESCHEDULED = "rescheduled"  # it raised ``Reschedule``: given back to the scheduler to run again (dropped)

TRANSITIONS: dict[tuple[str, str], str] = {
    # (start, finish): the events that make the move
    (NEW, WAITING): "compute: some input is on peers: fetch it",
    (NEW, READY): "compute: every input is here",
    (NEW, RELEASED): "compute: an input has no holder to fetch from (missing-data)",
    (WAITING, READY): "fetched: its last input arrived",
    (WAITING, ERRED): "fetched: an input could not be unpickled",
    (WAITING, RELEASED): "fetched, fetch-failed: no holder of an input had it (missing-data)",
    (WAITING, STOLEN): "steal",
    (WAITING, CANCELLED): "free",
    (READY, EXECUTING): "a thread claimed it (heard from its report, or on asking Claims)",
    (READY, STOLEN): "steal: no thread had claimed it",
    (READY, CANCELLED): "free: no thread had claimed it",
    (EXECUTING, MEMORY): "executed: it returned",
    (EXECUTING, ERRED): "executed: it raised",
    (EXECUTING, CANCELLED): "free while a thread runs it: its result is dropped",
    (EXECUTING, RESCHEDULED): "rescheduled: it raised Reschedule",
}
_NEXT = legal_moves(TRANSITIONS)


class WorkerTask:
    """One task assigned to this worker."""

    __slots__ = ("key", "func_token", "func", "args", "deps", "priority", "options", "state", "waiting",
                 "reported", "clients")

    def __init__(self, key, func_token, func, args, deps, priority, options, clients=()):
        self.key = key
        self.func_token = func_token
        self.func = func
        self.args = args
        self.deps: dict[str, list[str]] = deps
        self.priority = priority
        self.options = options or {}
        self.state = NEW
        self.waiting: set[str] = set()  # inputs still on their way
        self.reported = False  # "started" sent
        self.clients = clients

    def __repr__(self) -> str:
        return f"<WorkerTask {self.key!r} {self.state}>"


def finished_message(key: str, value: Any, nbytes: int, start: float, stop: float, ser: Any,
                     told: list[str]) -> tuple:
    """The ``finished`` message for a key held here: small values travel with it; ``told``: the
    clients the worker tells itself (any thread)."""
    small = ser if ser is not None and nbytes <= SMALL_RESULT else None
    return messages.finished(key, nbytes, type(value).__name__, small, start, stop, told)


class WorkerState:
    """Tasks, their inputs, and the data held by one worker. Not to be confused with the scheduler's
    ``WorkerState`` (scheduler/state.py), which is what the scheduler knows of a worker."""

    def __init__(self, address: str, data: DataStore, claims: Claims | None = None):
        self.address = address
        self.data = data
        self.claims = claims if claims is not None else Claims(data)
        self.tasks: dict[str, WorkerTask] = {}
        self.waiting_for: dict[str, set[str]] = defaultdict(set)  # dep key -> tasks that need it
        self.holders: dict[str, list[str]] = {}  # dep key -> holders not yet tried
        self.in_flight: dict[str, str] = {}  # dep key -> peer asked, or to be asked (Rule 6)
        self.queued: dict[str, list[str]] = {}  # peer -> inputs for its next request
        self.asking: set[str] = set()  # peers answering a request of ours
        self.copied: dict[str, int] = {}  # inputs copied from peers -> tasks here still using them
        self.story = Story()  # the last moves of every key: (key, stimulus, start, finish, when)
        self._record = self.story.append
        self.stimulus = ""  # the event being handled

    # -- moves ----------------------------------------------------------------------------------
    def _move(self, task: WorkerTask, finish: str, when: float | None = None) -> None:
        """Move ``task`` to ``finish``, checked against ``TRANSITIONS`` and recorded (Rule 3)."""
        start = task.state
        if finish not in _NEXT[start]:
            impossible(logger, self.story, "worker task", task.key, start, finish, self.stimulus)
        task.state = finish
        self._record((task.key, self.stimulus, start, finish, now() if when is None else when))

    def watch_moves(self, sink: list | None) -> None:
        """Also append every story record to ``sink`` (the shell hands the moves to plugins), or stop when
        None. Only the list sees them here: no user code runs in the state machine."""
        self._record = self.story.append if sink is None else tee(self.story.append, sink.append)

    def _stale(self, key: str, task: WorkerTask | None, why: str) -> None:
        """An event about ``key`` that changes nothing here (Rule 3)."""
        state = None if task is None else task.state
        self._record((key, f"{self.stimulus} ignored: {why}", state, state, now()))
        logger.debug("%s of %r ignored: %s", self.stimulus, key, why)

    def _claimed(self, task: WorkerTask, when: float | None = None) -> None:
        """The loop learnt that a thread claimed ``task`` (Rule 5)."""
        if task.state == READY:
            self._move(task, EXECUTING, when)

    def _ready(self, task: WorkerTask) -> tuple:
        """``task`` has every input: offer it to the executor threads."""
        self._move(task, READY)
        self.claims.offer(task)
        return ("execute", task)

    def _drop(self, task: WorkerTask, inputs) -> None:
        """``task`` ended: forget its record, and count one user fewer of each of ``inputs`` (Rule 4)."""
        if self.tasks.get(task.key) is task:
            del self.tasks[task.key]
        for dep in task.waiting:
            waiters = self.waiting_for.get(dep)
            if waiters is not None:
                waiters.discard(task.key)
        self._release_inputs(inputs)

    # -- events ---------------------------------------------------------------------------------
    def compute(self, key: str, func_token: str, func: Any, args: Any, deps: dict, priority: tuple,
                options: dict | None, clients: list[str] = ()) -> list:
        """The scheduler assigned a task (``clients`` want its result)."""
        self.stimulus = "compute"
        if key in self.data:
            self._stale(key, self.tasks.get(key), "its value is here already: reported at once")
            return [("send", finished_message(key, self.data.get(key), self.data.sizes.get(key, 0), 0.0, 0.0,
                                                      None, []))]
        old = self.tasks.get(key)
        if old is not None and old.state in (WAITING, READY, EXECUTING):
            if old.state == WAITING or not self.claims.ran(old):
                self._stale(key, old, "it is here already")
                return []
            # Its thread ran it and reported to the scheduler, which sends it again (a retry): the
            # old record ends when its report reaches the loop (Rule 5).
            self._claimed(old)
        task = WorkerTask(key, func_token, func, args, deps, priority, options, clients)
        self.tasks[key] = task
        instructions: list = []
        peers: dict[str, None] = {}  # asked for inputs, in order
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
                instructions.append(("send", messages.missing_data(key, dep, list(holders))))
                self._move(task, RELEASED)
                self._drop(task, counted)  # only the inputs counted so far
                return instructions
            self.holders[dep] = candidates[1:]
            self._want(candidates[0], dep)
            peers[candidates[0]] = None
        for peer in peers:
            instructions.extend(self._ask(peer))
        if not task.waiting:
            instructions.append(self._ready(task))
        else:
            self._move(task, WAITING)
        return instructions

    def fetched(self, peer: str, asked: list[str], values: dict[str, tuple[Any, int]],
                undecodable: dict[str, tuple] | None = None, deferred: list[str] = ()) -> list:
        """A peer answered a fetch: ``values`` = {key: (value, nbytes)} for the keys it had;
        ``undecodable`` = {key: error record} for those it sent that could not be unpickled here;
        ``deferred``: keys it left for another request (its reply was full), asked of it next."""
        self.stimulus = "fetched"
        self.asking.discard(peer)
        again = [dep for dep in deferred if self.in_flight.get(dep) == peer]
        if again:
            self.queued[peer] = again + self.queued.get(peer, [])
        instructions: list = []
        for dep in asked:
            if dep in again:
                continue
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
        instructions.extend(self._ask(peer))
        return instructions

    def fetch_failed(self, peer: str, asked: list[str]) -> list:
        """A peer could not be reached for these keys: they, and those queued for it, are asked elsewhere."""
        self.stimulus = "fetch-failed"
        self.asking.discard(peer)
        instructions: list = []
        for dep in asked + self.queued.pop(peer, []):
            if self.in_flight.get(dep) == peer:
                del self.in_flight[dep]
            instructions.extend(self._try_next_holder(dep, peer))
        return instructions

    def _try_next_holder(self, dep: str, failed_peer: str) -> list:
        rest = self.holders.get(dep) or []
        if rest:
            self.holders[dep] = rest[1:]
            self._want(rest[0], dep)
            return self._ask(rest[0])
        self.holders.pop(dep, None)
        instructions = []
        for key in list(self.waiting_for.pop(dep, ())):
            task = self.tasks.get(key)
            if task is None:
                continue
            self._move(task, RELEASED)
            self._drop(task, task.deps)
            instructions.append(("send", messages.missing_data(key, dep, [failed_peer])))
        return instructions

    def _want(self, peer: str, dep: str) -> None:
        """``dep`` is to be fetched from ``peer``, in its next request (Rule 6)."""
        self.in_flight[dep] = peer
        self.queued.setdefault(peer, []).append(dep)

    def _ask(self, peer: str) -> list:
        """Ask ``peer`` for the inputs queued for it that a task here still waits for, unless it is
        answering a request of ours already (Rule 6)."""
        if peer in self.asking:
            return []
        keys = []
        for dep in self.queued.pop(peer, ()):
            if self.in_flight.get(dep) != peer:
                continue
            if self.waiting_for.get(dep):
                keys.append(dep)
            else:  # the tasks that wanted it ended while it waited its turn
                del self.in_flight[dep]
                self.holders.pop(dep, None)
        if not keys:
            return []
        self.asking.add(peer)
        return [("fetch", peer, keys)]

    def _fail_waiting(self, dep: str, error: tuple) -> list:
        """Input ``dep`` cannot be had here: the tasks waiting for it fail with ``error``."""
        self.holders.pop(dep, None)
        instructions = []
        stamp = now()
        for key in list(self.waiting_for.pop(dep, ())):
            task = self.tasks.get(key)
            if task is None or task.state != WAITING:
                continue
            self._move(task, ERRED)
            self._drop(task, task.deps)
            instructions.append(("send", messages.erred(key, *error, stamp, stamp)))
        return instructions

    def _dep_arrived(self, dep: str) -> list:
        instructions = []
        self.holders.pop(dep, None)
        for key in self.waiting_for.pop(dep, ()):
            task = self.tasks.get(key)
            if task is None or task.state != WAITING:
                continue
            task.waiting.discard(dep)
            if not task.waiting:
                instructions.append(self._ready(task))
        return instructions

    def steal(self, keys: list[str]) -> list:
        """The scheduler wants to move these tasks elsewhere: give up those no thread has claimed."""
        self.stimulus = "steal"
        results = []
        for key in keys:
            task = self.tasks.get(key)
            if task is None:
                self._stale(key, None, "no such task here")
                ok = False
            elif task.state == WAITING or (task.state == READY and self.claims.withdraw(task)):
                self._move(task, STOLEN)
                self._drop(task, task.deps)
                ok = True
            else:
                self._claimed(task)
                self._stale(key, task, "a thread has claimed it")
                ok = False
            results.append((key, ok))
        return [("send", messages.steal_response(results))]

    def free(self, keys: list[str]) -> list:
        """The scheduler no longer needs these keys here."""
        self.stimulus = "free"
        for key in keys:
            task = self.tasks.get(key)
            if task is not None:
                self._cancel(task)
            if key not in self.copied:
                self.data.pop(key)
        return []

    def _cancel(self, task: WorkerTask) -> None:
        """Free ``task``: at once if no thread claimed it, else once its thread reports."""
        if task.state == CANCELLED:
            return  # freed before; its thread's report is on its way
        if task.state == WAITING or self.claims.cancel(task):
            self._move(task, CANCELLED)
            self._drop(task, task.deps)
            return
        # A thread claimed it: it still runs, or its report is on its way. Claims drops its result;
        # the record stays until that report (``executed``).
        self._claimed(task)
        self._move(task, CANCELLED)

    def started(self, task: WorkerTask) -> list:
        """A thread has run ``task`` for a tick: tell the scheduler, once."""
        self.stimulus = "started"
        if task.reported or task.state not in (READY, EXECUTING) or not self.claims.running(task):
            return []
        self._claimed(task)
        task.reported = True
        return [("send", messages.started(task.key))]

    def executed(self, task: WorkerTask, ok: bool, start: float, stop: float) -> None:
        """A thread ran ``task`` from ``start`` to ``stop`` (its clock): it returned (``ok``) or raised.
        Its result is stored and reported already, unless it was cancelled. Drop its record."""
        self.stimulus = "executed"
        if task.state != CANCELLED:
            if task.state == READY:  # the loop learns of the claim only now (Rule 5)
                self._move(task, EXECUTING, start)
            self._move(task, MEMORY if ok else ERRED, stop)
        self._drop(task, task.deps)

    def rescheduled(self, task: WorkerTask, start: float, stop: float) -> None:
        """A thread ran ``task`` from ``start`` to ``stop`` and it raised ``Reschedule``: the thread told the
        scheduler, which places it again. Drop its record."""
        self.stimulus = "rescheduled"
        if task.state != CANCELLED:
            if task.state == READY:  # the loop learns of the claim only now (Rule 5)
                self._move(task, EXECUTING, start)
            self._move(task, RESCHEDULED, stop)
        self._drop(task, task.deps)

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
