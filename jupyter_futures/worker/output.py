"""What tasks print goes to the clients that submitted them.

``sys.stdout``/``sys.stderr`` of a worker process are replaced by streams that,
in a task thread, collect the text for that task and, elsewhere, write to the
worker's own streams. Warnings and ``logging`` (WARNING and above) from task
threads end up there too. Text is sent in batches: when a line ends, at most
every ``FLUSH_INTERVAL`` seconds while a task runs, and always before the task's
result, so it arrives in order and live.
"""
from __future__ import annotations

import io
import logging
import sys
import threading
from typing import Any, Callable

from ..protocol.context import current_task

FLUSH_INTERVAL = 0.05


class TaskOutput:
    """Collects task output and hands it, batched, to ``send(batch)`` (a list of (key, stream, text))."""

    def __init__(self, send: Callable[[list[tuple[str, str, str]]], None],
                 call_soon: Callable[[Callable[[], None]], None]):
        self.send = send
        self.call_soon = call_soon
        self._lock = threading.Lock()
        self._pending: list[tuple[str, str, str]] = []
        self._scheduled = False

    def write(self, key: str, stream: str, text: str) -> None:
        """Queue text printed by task ``key``; a flush is scheduled on the worker's loop."""
        with self._lock:
            self._pending.append((key, stream, text))
            if self._scheduled:
                return
            self._scheduled = True
        self.call_soon(self.flush)

    def flush(self, key: str | None = None) -> None:
        """Send what is queued (only ``key``'s text, when given: before its result leaves)."""
        if key is not None and not self._pending and not self._lock.locked():
            return  # the common case, checked per task: nothing printed, nothing being sent
        with self._lock:  # held while sending: a task's result never overtakes output being sent
            if key is None:
                batch, self._pending = self._pending, []
                self._scheduled = False
            else:
                batch = [item for item in self._pending if item[0] == key]
                self._pending = [item for item in self._pending if item[0] != key]
            if batch:
                self.send(_merge(batch))


def _merge(batch: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Join consecutive pieces of one task's one stream."""
    out: list[list] = []
    for key, stream, text in batch:
        if out and out[-1][0] == key and out[-1][1] == stream:
            out[-1][2] += text
        else:
            out.append([key, stream, text])
    return [tuple(item) for item in out]


class TaskStream(io.TextIOBase):
    """Stands in for sys.stdout / sys.stderr in a worker process."""

    def __init__(self, name: str, original: Any, output: TaskOutput):
        self.name = name
        self.original = original
        self.output = output

    def write(self, text: str) -> int:
        ctx = current_task()
        if ctx is None:
            return self.original.write(text)
        if text:
            self.output.write(ctx.key, self.name, text)
        return len(text)

    def flush(self) -> None:
        if current_task() is None:
            self.original.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return getattr(self.original, "encoding", "utf-8")

    def fileno(self) -> int:
        return self.original.fileno()


class TaskLogHandler(logging.Handler):
    """Log records of WARNING and above made in task threads, as the task's stderr."""

    def __init__(self, output: TaskOutput):
        super().__init__(logging.WARNING)
        self.output = output
        self.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))

    def filter(self, record: logging.LogRecord) -> bool:
        return current_task() is not None and super().filter(record)

    def emit(self, record: logging.LogRecord) -> None:
        ctx = current_task()
        if ctx is not None:
            self.output.write(ctx.key, "stderr", self.format(record) + "\n")


def _not_from_tasks(record: logging.LogRecord) -> bool:
    return current_task() is None


def install(output: TaskOutput) -> Callable[[], None]:
    """Route this process's task output to ``output``; returns a function that undoes it."""
    old_out, old_err = sys.stdout, sys.stderr
    sys.stdout = TaskStream("stdout", old_out, output)
    sys.stderr = TaskStream("stderr", old_err, output)
    root = logging.getLogger()
    handler = TaskLogHandler(output)
    root.addHandler(handler)
    for other in root.handlers:
        if other is not handler:
            other.addFilter(_not_from_tasks)  # the worker's own log stays the worker's
    if root.level > logging.WARNING or root.level == logging.NOTSET:
        root.setLevel(logging.WARNING)

    def uninstall() -> None:
        sys.stdout, sys.stderr = old_out, old_err
        root.removeHandler(handler)
        for other in root.handlers:
            other.removeFilter(_not_from_tasks)
    return uninstall
