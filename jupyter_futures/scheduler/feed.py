"""The scheduler's live feed: deltas of tasks, progress, workers, clients and logs for subscribers.

A subscriber is a ``sink(topic, data)`` callable under an id: a monitor client's
connection (``("feed-subscribe", topics)``: deltas leave as ``("feed", topic, data)``
messages) or a browser's websocket on the dashboard port. A timer runs every
``INTERVAL`` seconds while there is at least one subscriber, and not at all
otherwise; each tick sends each topic's delta to its subscribers, only when it
has something new for them:

* ``tasks``: task-stream records since the last tick (the last ``HISTORY`` ones to a new
  subscriber), plus the workers' transfers; at most ``MAX_TASK_RECORDS`` per delta, an
  even sample past that (a browser draws no more anyway).
* ``progress``: per task prefix, the counts that changed since the last push to that subscriber.
* ``workers``, ``clients``: the whole list, when it differs from the last one sent.
* ``logs``: worker log records and task output since the last tick.

``progress`` and ``clients`` scan the scheduler's tasks: they run only when a cheap signature
of the state changed, and at most often enough to keep their scans within ``BUDGET`` of the
scheduler's time. Nothing here runs per task transition: the state machine is untouched.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any, Callable

from . import views
from .state import SchedulerState

logger = logging.getLogger("jupyter_futures.scheduler")

TOPICS = ("tasks", "progress", "workers", "clients", "logs")
INTERVAL = 0.25  # seconds between two deltas of one topic, at least
BUDGET = 0.01  # share of the scheduler's time each scan (progress, clients) may take
MAX_TASK_RECORDS = 1000  # per delta
HISTORY = 1000  # task records a new subscriber starts with
LOG_HISTORY = 2000  # log records kept for new subscribers and the ``logs`` request

Sink = Callable[[str, Any], None]


class Subscriber:
    """One subscriber: its sink, its topics, and what it was last sent."""

    __slots__ = ("sink", "topics", "fresh", "sent")

    def __init__(self, sink: Sink):
        self.sink = sink
        self.topics: set[str] = set()
        self.fresh: set[str] = set()  # topics subscribed since the last tick: they get history first
        self.sent: dict[str, Any] = {}  # topic -> last data sent (progress: prefix -> counts)


class Feed:
    """Subscriptions and the timer that pushes deltas of ``state`` to them.

    ``clients`` maps each connected client id to its ``register-client`` info; ``cells``
    maps client ids to {key: notebook cell id} (``annotate``). ``clients`` data leaves out
    monitors (the Jupyter extension, a cluster's manager).
    """

    def __init__(self, state: SchedulerState, clients: dict[str, dict] | None = None,
                 call_later: Callable | None = None):
        self.state = state
        self.clients = clients if clients is not None else {}
        self.cells: dict[str, dict[str, str]] = {}
        self._cells_checked: dict[str, int] = {}  # client -> size of its cell map after the last pruning
        self.subscribers: dict[Any, Subscriber] = {}
        self.recent_logs: deque = deque(maxlen=LOG_HISTORY)  # always kept: task output and worker log records
        self._call_later = call_later
        self._timer = None
        self._pos = 0  # how much of state.task_stream was read
        self._last_record: tuple | None = None
        self._new_transfers: list[dict] = []
        self._new_logs: list[dict] = []
        self._open_output: dict | None = None  # the last output record, while more may be added to it
        self._progress: views.ProgressCounts | None = None
        self._signatures: dict[str, tuple] = {}
        self._due: dict[str, float] = {}

    @property
    def active(self) -> bool:
        """True while anyone subscribes to anything."""
        return bool(self.subscribers)

    # -- subscriptions ----------------------------------------------------------------------
    def subscribe(self, sid: Any, sink: Sink, topics: Any) -> list[str]:
        """Subscribe ``sid`` (sending through ``sink``) to ``topics``; returns the unknown ones it ignored."""
        topics = list(topics or TOPICS)
        unknown = [t for t in topics if t not in TOPICS]
        sub = self.subscribers.get(sid)
        if sub is None:
            if not self.subscribers:
                self._start()
            sub = self.subscribers[sid] = Subscriber(sink)
        for topic in topics:
            if topic in TOPICS and topic not in sub.topics:
                sub.topics.add(topic)
                sub.fresh.add(topic)
                sub.sent.pop(topic, None)
        if "progress" in sub.topics and self._progress is None:
            self._progress = views.ProgressCounts()
            # The finished tasks read so far (the next push reads the rest).
            self._progress.add_finished(self.state.task_stream[:self._pos])
        self._due.clear()  # a new subscriber hears of every topic at the next tick
        self._schedule(0.0)
        return unknown

    def unsubscribe(self, sid: Any, topics: Any = None) -> None:
        """Drop ``sid``'s subscription to ``topics`` (all of them when None)."""
        sub = self.subscribers.get(sid)
        if sub is None:
            return
        sub.topics.difference_update(TOPICS if topics is None else topics)
        if not sub.topics:
            self.remove(sid)
        elif "progress" not in self._wanted():
            self._progress = None  # counted again from the task stream when someone asks

    def remove(self, sid: Any) -> None:
        """``sid`` is gone: forget it; the timer stops with the last subscriber."""
        if self.subscribers.pop(sid, None) is None:
            return
        if not self.subscribers:
            self._stop()
        elif "progress" not in self._wanted():
            self._progress = None

    def _wanted(self) -> set[str]:
        out: set[str] = set()
        for sub in self.subscribers.values():
            out |= sub.topics
        return out

    def _start(self) -> None:
        stream = self.state.task_stream
        self._pos = len(stream)
        self._last_record = stream[-1] if stream else None
        self._new_transfers, self._new_logs = [], []

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._progress = None
        self._new_transfers, self._new_logs = [], []
        self._signatures.clear()
        self._due.clear()

    def _schedule(self, delay: float) -> None:
        if self._timer is not None:
            if delay > 0:
                return
            self._timer.cancel()
        call_later = self._call_later or asyncio.get_running_loop().call_later
        self._timer = call_later(delay, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if not self.subscribers:
            return
        try:
            self.push()
        except Exception:  # a bug here must not stop the feed, let alone the scheduler
            logger.exception("the live feed failed to push")
        if self.subscribers:
            self._schedule(INTERVAL)

    # -- inputs from the scheduler's shell ------------------------------------------------------
    def worker_metrics(self, worker: str, logs: list | None, transfers: list | None) -> None:
        """What a worker's metrics message carried for the feed: log records and output copies, transfers."""
        if logs:
            self.recent_logs.extend(logs)
            if self.subscribers:
                self._new_logs.extend(logs)
        if transfers and self.subscribers:
            self._new_transfers.extend(views.transfer_records(worker, transfers))

    def task_output(self, worker: str, key: str, stream: str, text: str) -> None:
        """Task output relayed through the scheduler (no client took it directly)."""
        last = self._open_output
        kind = "stderr" if stream == "stderr" else "stdout"
        if (last is not None and last["key"] == key and last["worker"] == worker and last["kind"] == kind
                and len(last["text"]) < views.MAX_TEXT):
            # A print arrives in pieces: one record, while it is not sent yet.
            last.update(views.output_record(last["time"], worker, key, stream, last["text"] + text))
            return
        record = self._open_output = views.output_record(time.time(), worker, key, stream, text)
        self.recent_logs.append(record)
        if self.subscribers:
            self._new_logs.append(record)

    def annotate(self, client: str, cells: dict) -> None:
        """Client ``client`` says which notebook cell submitted these keys."""
        known = self.cells.setdefault(client, {})
        known.update(cells)
        # Keys forgotten since are dropped here, amortized: a pass whenever the map doubled.
        if len(known) > 2 * self._cells_checked.get(client, 500):
            tasks = self.state.tasks
            self.cells[client] = known = {k: c for k, c in known.items() if k in tasks}
            self._cells_checked[client] = max(len(known), 500)

    def user_clients(self) -> dict[str, dict]:
        """The connected clients that are users' (not monitors)."""
        return {c: i for c, i in self.clients.items() if not i.get("monitor")}

    def client_gone(self, client: str) -> None:
        """Forget what was known of a client that left."""
        self.cells.pop(client, None)
        self._cells_checked.pop(client, None)

    # -- pushing ------------------------------------------------------------------------------------
    def push(self, now: float | None = None) -> None:
        """Send every subscriber the deltas of its topics that are due and have something new."""
        now = time.monotonic() if now is None else now
        wanted = self._wanted()
        records = self._read_stream()
        if self._progress is not None and records:
            self._progress.add_finished(records)
        if "tasks" in wanted:
            self._push_tasks(records)
        if "logs" in wanted:
            self._push_logs()
        self._new_transfers, self._new_logs = [], []
        self._open_output = None
        if "workers" in wanted:
            self._push_whole("workers", views.workers_view(self.state))
        if "progress" in wanted and self._scan_due("progress", now):
            counts = self._timed("progress", now, lambda: self._progress.counts(self.state))
            self._push_progress(counts)
        if "clients" in wanted and self._scan_due("clients", now):
            users = self.user_clients()
            data = self._timed("clients", now, lambda: views.clients_view(self.state, users, self.cells))
            self._push_whole("clients", data)
        for sub in self.subscribers.values():
            sub.fresh.clear()

    def _read_stream(self) -> list[tuple]:
        """Task-stream records added since the last read."""
        stream = self.state.task_stream
        pos, last = self._pos, self._last_record
        if pos and (pos > len(stream) or stream[pos - 1] is not last):
            pos = self._find(stream, last)
        new = stream[pos:]
        self._pos = len(stream)
        self._last_record = stream[-1] if stream else None
        return new

    @staticmethod
    def _find(stream: list, last: tuple | None) -> int:
        """Where reading resumes after the state dropped the oldest records (searched from the end:
        the last record read is a tick's worth of records from it)."""
        for i in range(len(stream) - 1, -1, -1):
            if stream[i] is last:
                return i + 1
        return 0

    def _send(self, sub: Subscriber, topic: str, data: Any) -> None:
        try:
            sub.sink(topic, data)
        except Exception as exc:  # a closed connection: its close callback removes it
            logger.debug("feed: could not send %s: %s", topic, exc)

    def _push_tasks(self, records: list[tuple]) -> None:
        new = None
        for sub in list(self.subscribers.values()):
            if "tasks" not in sub.topics:
                continue
            if "tasks" in sub.fresh:
                history = self.state.task_stream[-HISTORY:]
                data = views.task_records(self.state, views.even_sample(history, MAX_TASK_RECORDS))
            else:
                if new is None:
                    sample = views.even_sample(records, MAX_TASK_RECORDS)
                    new = views.task_records(self.state, sample) + self._new_transfers
                data = new
            if data:
                self._send(sub, "tasks", data)

    def _push_logs(self) -> None:
        for sub in list(self.subscribers.values()):
            if "logs" not in sub.topics:
                continue
            data = list(self.recent_logs) if "logs" in sub.fresh else self._new_logs
            if data:
                self._send(sub, "logs", data)

    def _push_whole(self, topic: str, data: list) -> None:
        for sub in list(self.subscribers.values()):
            if topic in sub.topics and sub.sent.get(topic) != data:
                sub.sent[topic] = data
                self._send(sub, topic, data)

    def _push_progress(self, counts: dict[str, dict]) -> None:
        for sub in list(self.subscribers.values()):
            if "progress" not in sub.topics:
                continue
            last = sub.sent.setdefault("progress", {})
            changed = {p: c for p, c in counts.items() if last.get(p) != c}
            if changed:
                last.update(changed)
                self._send(sub, "progress", changed)

    def _scan_due(self, topic: str, now: float) -> bool:
        """Whether to scan for ``topic`` now: the state changed, and the budget allows it."""
        fresh = any(topic in s.fresh for s in self.subscribers.values())
        if not fresh and now < self._due.get(topic, 0.0):
            return False
        signature = self._signature(topic)
        if not fresh and self._signatures.get(topic) == signature:
            return False
        self._signatures[topic] = signature
        return True

    def _signature(self, topic: str) -> tuple:
        """Cheap numbers (O(workers + clients)) that change whenever the topic's data may have."""
        s = self.state
        stream = s.task_stream
        sig = (len(s.tasks), s.n_tasks_total, len(stream), id(stream[-1]) if stream else 0, len(s.queue),
               sum(len(ws.processing) for ws in s.workers.values()),
               sum(len(ws.has_what) for ws in s.workers.values()))
        if topic == "clients":
            sig += (tuple(sorted(self.clients)), sum(len(h) for h in s.clients.values()),
                    sum(len(c) for c in self.cells.values()))
        return sig

    def _timed(self, topic: str, now: float, build: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        data = build()
        cost = time.perf_counter() - t0
        self._due[topic] = now + max(INTERVAL, cost / BUDGET) - 0.01
        return data
