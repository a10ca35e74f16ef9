"""What tasks print, on the client: handed to subscribers (the notebook layer), else printed here,
each line marked ``[key @ worker]``."""
from __future__ import annotations

import logging
import sys
from typing import Callable

logger = logging.getLogger("jupyter_futures.client")


def line_mark(key: str, worker: str) -> str:
    """What starts each line a task printed: ``[key @ worker] ``."""
    return f"[{key} @ {worker}] "


class TaskOutput:
    """Task output arriving on the client's loop thread (``deliver``)."""

    def __init__(self) -> None:
        self._subscribers: list[Callable[[str, str, str, str], None]] = []
        self._open_lines: set[tuple[str, str]] = set()  # (key, stream) whose last line has no newline yet

    def subscribe(self, callback: Callable[[str, str, str, str], None]) -> Callable[[], None]:
        """Call ``callback(key, worker, stream, text)`` instead of printing. Returns an unsubscribe function."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    def deliver(self, key: str, worker: str, stream: str, text: str) -> None:
        """Text ``key`` printed on ``worker`` ('stdout' or 'stderr'): to the subscribers, else to this process's stream."""
        if self._subscribers:
            for callback in list(self._subscribers):
                try:
                    callback(key, worker, stream, text)
                except Exception:
                    logger.exception("error in output callback %r", callback)
            return
        out = sys.stderr if stream == "stderr" else sys.stdout
        mark = line_mark(key, worker)
        at_line_start = (key, stream) not in self._open_lines
        pieces = []
        for line in text.splitlines(keepends=True):
            pieces.append(mark + line if at_line_start else line)
            at_line_start = line.endswith("\n")
        if at_line_start:
            self._open_lines.discard((key, stream))
        else:
            self._open_lines.add((key, stream))  # a print in pieces: the rest continues this line
        out.write("".join(pieces))
        out.flush()
