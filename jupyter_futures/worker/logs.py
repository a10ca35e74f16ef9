"""What a worker tells the scheduler's live feed about its log and its tasks' output.

``LogBuffer`` (protocol/logs.py) keeps the last records of the worker process for the ``logs``
request and queues the new ones for the next metrics message. ``OutputCopies`` queues copies of task
output that went straight to clients (the scheduler never saw it), rate-limited and truncated. Both
hand out plain dicts in the feed's ``LogRecord`` shape::

    {"time", "worker", "kind": "log" | "stdout" | "stderr", "level", "name", "key", "text"}
"""
from __future__ import annotations

import threading
import time


OUTPUT_RATE = 200  # task output copies per second, at most
MAX_TEXT = 4096  # characters of one output copy


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
