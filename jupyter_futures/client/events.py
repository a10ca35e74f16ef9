"""dask's events, metadata and forwarded logging on the client: ``log_event``, ``get_events``,
``subscribe_topic``, ``unsubscribe_topic``, ``set_metadata``, ``get_metadata``, ``forward_logging``,
``unforward_logging``. The scheduler keeps events and metadata (scheduler/events.py); a subscribed
client gets each new event of its topics as an ``event`` message, handed here to the topic's handler."""
from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any, Callable

from ..protocol import messages
from ..protocol.events import check_plain, check_topics, plain_key_problem
from .outbox import Outbox

logger = logging.getLogger("jupyter_futures.client")

FORWARDED_LOG_TOPIC = "forwarded-log-record"  # dask's prefix of the topics of forwarded log records
_NO_DEFAULT = object()


class TopicHandlers:
    """The handler of each topic this client subscribed to. ``deliver`` runs on the client's loop thread,
    as dask's handlers do: a handler must not block (a coroutine function's coroutine is run there)."""

    def __init__(self) -> None:
        self.handlers: dict[str, Callable[[tuple], Any]] = {}

    def deliver(self, topic: str, event: tuple) -> None:
        """A new event ``(time, msg)`` of ``topic``: to its handler (an event that arrives after
        ``unsubscribe_topic`` is dropped)."""
        handler = self.handlers.get(topic)
        if handler is None:
            return
        try:
            result = handler(event)
            if inspect.isawaitable(result):
                asyncio.ensure_future(result).add_done_callback(lambda task: _log_failure(task, topic, handler))
        except Exception:
            logger.exception("the handler %r of topic %r failed on event %.200r", handler, topic, event)


def _log_failure(task: asyncio.Future, topic: str, handler: Any) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("the handler %r of topic %r failed", handler, topic, exc_info=task.exception())


class ClientEvents:
    """Mixin of ``Client``: events, metadata and forwarded logging, as dask's."""

    # What this part uses of the rest of the Client:
    outbox: Outbox
    topic_handlers: TopicHandlers
    request: Callable[..., Any]
    _check_open: Callable[[], None]

    # -- metadata -----------------------------------------------------------------
    def set_metadata(self, key: Any, value: Any) -> Any:
        """Store ``value`` (plain, msgpack-like data) on the scheduler under ``key``; a list of keys is a
        path in nested dicts, made on demand: ``set_metadata(["a", "b"], 1)`` then ``get_metadata("a")``
        is ``{"b": 1}``."""
        path = list(key) if isinstance(key, list) else [key]
        if not path:
            raise ValueError("set_metadata([], value): give a key, or a non-empty list of keys for a nested entry")
        _check_path(path, "set_metadata")
        check_plain(value, "set_metadata", "value", str_keys=False)
        return self.request("set_metadata", path, value)

    def get_metadata(self, keys: Any, default: Any = _NO_DEFAULT) -> Any:
        """The metadata at ``keys`` (a key, or a list or tuple of keys: a path in nested dicts); KeyError
        if there is none, unless ``default`` is given."""
        path = list(keys) if isinstance(keys, (list, tuple)) else [keys]
        _check_path(path, "get_metadata")
        if default is _NO_DEFAULT:
            return self.request("get_metadata", path)
        return self.request("find_metadata", path, post=lambda found: found[1] if found[0] else default)

    # -- events ---------------------------------------------------------------------
    def log_event(self, topic: str | list[str], msg: Any) -> Any:
        """Log ``msg`` (plain, msgpack-like data) under ``topic`` (a str, or a list of str to log it under
        each); the scheduler stamps it with its time and keeps the newest 1,000 of each topic."""
        topics = check_topics(topic, "log_event")
        check_plain(msg, "log_event")
        return self.request("log_event", topics, msg)

    def get_events(self, topic: str | None = None) -> Any:
        """The events of ``topic``, oldest first: a tuple of ``(time, msg)``; without a topic, a dict
        ``{topic: events}`` of every topic that has events."""
        if topic is not None and not isinstance(topic, str):
            raise TypeError(f"get_events(topic) takes a topic name (str) or None for all topics, got "
                            f"{type(topic).__name__} {topic!r:.60}")
        return self.request("events", topic)

    def subscribe_topic(self, topic: str, handler: Callable[[tuple], Any]) -> None:
        """Call ``handler(event)`` with each new event ``(time, msg)`` of ``topic``, on the client's loop
        thread (it must not block; a coroutine function is awaited there). A second handler replaces the
        first."""
        if not isinstance(topic, str):
            raise TypeError(f"subscribe_topic(topic, handler) takes a topic name (str), got "
                            f"{type(topic).__name__} {topic!r:.60}")
        if not callable(handler):
            raise TypeError(f"subscribe_topic({topic!r}, handler): handler must be a callable taking one event "
                            f"(time, msg), got {type(handler).__name__} {handler!r:.60}")
        self._check_open()
        if topic in self.topic_handlers.handlers:
            logger.info("Handler for %s already set. Overwriting.", topic)
        self.topic_handlers.handlers[topic] = handler
        self.outbox.send(messages.subscribe_topic(topic))

    def unsubscribe_topic(self, topic: str) -> None:
        """Stop handling the events of ``topic``; ValueError if this client has no handler for it."""
        if topic not in self.topic_handlers.handlers:
            raise ValueError(f"No event handler known for topic {topic}: subscribe with "
                             f"client.subscribe_topic({topic!r}, handler) first")
        self._check_open()
        del self.topic_handlers.handlers[topic]
        self.outbox.send(messages.unsubscribe_topic(topic))

    # -- forwarded logging ------------------------------------------------------------
    def forward_logging(self, logger_name: str | None = None, level: int | str = logging.NOTSET) -> Any:
        """Re-emit here, on the logger of the same name, the records that logger ``logger_name`` (None:
        the root, so every logger) handles in the workers, at ``level`` and up; workers that join later
        forward too. The record gets a ``worker`` attribute (its worker's address). Returns
        ``{worker: {"status": "OK"}}`` of the workers told now."""
        if logger_name is not None and not isinstance(logger_name, str):
            raise TypeError(f"forward_logging(logger_name) takes a logger's name (str) or None for the root "
                            f"logger, got {type(logger_name).__name__} {logger_name!r:.60}")
        level = _check_level(level)
        topic = _forwarding_topic(logger_name)
        self.subscribe_topic(topic, _handle_forwarded_log_record)  # the outbox sends it before the request
        return self.request("forward_logging", logger_name, level, topic)

    def unforward_logging(self, logger_name: str | None = None) -> Any:
        """Stop forwarding logger ``logger_name`` (None: the root) from the workers; ValueError if this
        client does not forward it."""
        self.unsubscribe_topic(_forwarding_topic(logger_name))
        return self.request("unforward_logging", logger_name)


def _forwarding_topic(logger_name: str | None) -> str:
    """dask's topic of a forwarded logger's records."""
    return f"{FORWARDED_LOG_TOPIC}-forward-logging-{logger_name or '<root>'}"


def _handle_forwarded_log_record(event: tuple) -> None:
    """Re-emit a forwarded record on the client's logger of the same name."""
    _, attributes = event
    record = logging.makeLogRecord(attributes)
    logging.getLogger(record.name).handle(record)


def _check_path(path: list, call: str) -> None:
    for key in path:
        problem = plain_key_problem(key, "key")
        if problem:
            raise TypeError(f"{call}: {problem}; metadata keys are str, int, float, bool, None, bytes or "
                            f"tuples of them")


def _check_level(level: Any) -> int:
    """A logging level as an int (a name such as "INFO" allowed); ValueError naming the known names."""
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    names = logging.getLevelNamesMapping()
    if isinstance(level, str) and level.upper() in names:
        return names[level.upper()]
    raise ValueError(f"level={level!r} is not a logging level: pass an int such as logging.INFO, or one of "
                     f"{sorted(names)}")
