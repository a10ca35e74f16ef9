"""``Client.forward_logging`` on a worker: a handler on the forwarded logger that sends each record it
handles as an event (``Worker.log_event``), as dask's ``ForwardLoggingPlugin``; the client re-emits it.

The scheduler tells every worker which loggers to forward (``forward-logging``), workers joining later
too. The record travels as a dict of its attributes, its message already formatted (``msg % args``),
every value plain data (other values become their ``repr``), so the scheduler can unpickle it.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable

from ..protocol.events import plain_problem


class ForwardingHandler(logging.Handler):
    """Sends each record it handles to ``send(topic, attributes)``."""

    def __init__(self, send: Callable[[str, dict], None], topic: str, level: int = logging.NOTSET):
        super().__init__(level)
        self.send = send
        self.topic = topic
        self._emitting = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self._emitting, "on", False):  # a record made while sending one: dropped, never a loop
            return
        self._emitting.on = True
        try:
            self.send(self.topic, self.attributes(record))
        except Exception:
            self.handleError(record)
        finally:
            self._emitting.on = False

    def attributes(self, record: logging.LogRecord) -> dict:
        """The record as plain data, for ``logging.makeLogRecord`` on the client (dask's shape: ``msg``
        formatted, ``args`` and ``exc_info`` None, the traceback's text in ``exc_text``)."""
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        attrs = {}
        for name, value in record.__dict__.items():
            attrs[name] = value if plain_problem(value) is None else repr(value)
        attrs["msg"] = record.getMessage()
        attrs["args"] = None
        attrs["exc_info"] = None
        attrs.pop("message", None)
        return attrs


class LogForwarding:
    """The forwarding handlers of one worker, by logger name (None: the root logger)."""

    def __init__(self, send: Callable[[str, dict], None]):
        self.send = send
        self.handlers: dict[str | None, ForwardingHandler] = {}

    def start(self, logger_name: str | None, level: int, topic: str) -> None:
        """Forward the records logger ``logger_name`` handles at ``level`` and up to ``topic`` (a second
        request for the same logger replaces the first: never two handlers)."""
        self.stop(logger_name)
        handler = ForwardingHandler(self.send, topic, level)
        self.handlers[logger_name] = handler
        logging.getLogger(logger_name).addHandler(handler)

    def stop(self, logger_name: str | None) -> None:
        """Stop forwarding ``logger_name`` (nothing if it was not)."""
        handler = self.handlers.pop(logger_name, None)
        if handler is not None:
            logging.getLogger(logger_name).removeHandler(handler)

    def close(self) -> None:
        """Stop forwarding every logger."""
        for name in list(self.handlers):
            self.stop(name)

