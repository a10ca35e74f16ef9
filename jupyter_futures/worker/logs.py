"""What a worker tells the scheduler's live feed about its log and its tasks' output.

``LogBuffer`` is a logging handler that keeps the last ``CAPACITY`` records (INFO
and up) of the worker process in a ring, for the ``logs`` request, and queues the
new ones for the next metrics message. ``OutputCopies`` queues copies of task
output that went straight to clients (the scheduler never saw it), rate-limited
and truncated. Both hand out plain dicts in the feed's ``LogRecord`` shape::

    {"time", "worker", "kind": "log" | "stdout" | "stderr", "level", "name", "key", "text"}
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque

from ..protocol.context import current_task

CAPACITY = 2000  # records kept for the ``logs`` request
MAX_PENDING = 500  # new records carried by one metrics message; older ones beyond that are dropped
OUTPUT_RATE = 200  # task output copies per second, at most
MAX_TEXT = 4096  # characters of one output copy


class LogBuffer(logging.Handler):
    """The worker process's recent log records (not those made in task threads: those are the task's
    stderr, which reaches the feed as task output)."""

    def __init__(self, capacity: int = CAPACITY, level: int = logging.INFO):
        super().__init__(level)
        self.worker = ""  # the worker's address, once it listens
        self.ring: deque = deque(maxlen=capacity)
        self._pending: deque = deque(maxlen=MAX_PENDING)
        self.setFormatter(logging.Formatter("%(message)s"))

    def filter(self, record: logging.LogRecord) -> bool:
        return current_task() is None and super().filter(record)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # a bad format string must not break the caller
            text = str(record.msg)
        entry = {"time": record.created, "worker": self.worker, "kind": "log", "level": record.levelname,
                 "name": record.name, "key": None, "text": text}
        self.ring.append(entry)
        self._pending.append(entry)

    def take_new(self) -> list[dict]:
        """Records made since the last call (at most ``MAX_PENDING``)."""
        out = []
        pending = self._pending
        while pending:
            try:
                out.append(pending.popleft())
            except IndexError:  # emptied by a concurrent caller
                break
        return self._stamped(out)

    def since(self, t: float | None = None) -> list[dict]:
        """Records of the ring made at or after ``t`` (epoch seconds; all when None)."""
        records = list(self.ring)
        if t is not None:
            records = [r for r in records if r["time"] >= t]
        return self._stamped(records)

    def _stamped(self, records: list[dict]) -> list[dict]:
        for r in records:
            if not r["worker"]:  # made before the worker knew its address
                r["worker"] = self.worker
        return records


class OutputCopies:
    """Copies of task output batches for the feed: at most ``OUTPUT_RATE`` a second, text truncated."""

    def __init__(self, rate: int = OUTPUT_RATE):
        self.rate = rate
        self.worker = ""
        self._lock = threading.Lock()
        self._pending: list[dict] = []
        self._window = 0.0
        self._count = 0
        self.dropped = 0

    def add(self, key: str, stream: str, text: str) -> None:
        """Queue a copy of what task ``key`` wrote to ``stream``."""
        now = time.time()
        with self._lock:
            if now - self._window >= 1.0:
                self._window, self._count = now, 0
            if self._count >= self.rate:
                self.dropped += 1
                return
            last = self._pending[-1] if self._pending else None
            if last is not None and last["key"] == key and last["kind"] == stream and len(last["text"]) < MAX_TEXT:
                # A print arrives in pieces ("a", " ", "b", "\n"): one record, as the client shows it.
                text = last["text"] + text
                self._pending.pop()
            else:
                self._count += 1
            if len(text) > MAX_TEXT:
                text = text[:MAX_TEXT] + f"... [{len(text) - MAX_TEXT} more characters]"
            self._pending.append({"time": now, "worker": self.worker, "kind": stream, "level": None,
                                  "name": None, "key": key, "text": text})

    def take_new(self) -> list[dict]:
        """Copies queued since the last call."""
        with self._lock:
            out, self._pending = self._pending, []
        return out


def let_info_through() -> None:
    """In a worker process: let INFO records of jupyter_futures' own loggers reach the root logger's
    handlers (the stderr handlers keep the level they had, so the terminal shows no more than before;
    other loggers keep theirs: records made in tasks cost nothing more)."""
    root = logging.getLogger()
    for handler in root.handlers:
        if handler.level == logging.NOTSET:
            handler.setLevel(root.level or logging.WARNING)
    package = logging.getLogger("jupyter_futures")
    if package.getEffectiveLevel() > logging.INFO:
        package.setLevel(logging.INFO)
