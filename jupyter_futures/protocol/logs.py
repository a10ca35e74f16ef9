"""Logging set-up for the scheduler and worker processes, and ``LogBuffer``: a process's recent records
(a worker's for its ``logs`` request and the live feed, the scheduler's for ``get_scheduler_logs``)."""
from __future__ import annotations

import logging
import sys
from collections import deque

from .context import current_task

CAPACITY = 2000  # records a worker keeps for the ``logs`` request
MAX_PENDING = 500  # new records carried by one metrics message; older ones beyond that are dropped

FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def configure(level: str) -> None:
    """Log to stderr at ``level`` (a name such as "WARNING")."""
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format=FORMAT)


def let_info_through() -> None:
    """In a scheduler or worker process: let INFO records of jupyter_futures' own loggers reach the root
    logger's handlers (the stderr handlers keep the level they had, so the terminal shows no more than
    before; other loggers keep theirs: records made in tasks cost nothing more)."""
    root = logging.getLogger()
    for handler in root.handlers:
        if handler.level == logging.NOTSET:
            handler.setLevel(root.level or logging.WARNING)
    package = logging.getLogger("jupyter_futures")
    if package.getEffectiveLevel() > logging.INFO:
        package.setLevel(logging.INFO)


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
