"""The scheduler's stores of events, metadata and forwarded loggers (plain classes, no I/O).

* ``EventLog`` — dask's structured events (``Client.log_event``, ``get_events``, ``subscribe_topic``,
  ``Worker.log_event``): per topic, the last ``maxlen`` ``(time, msg)`` pairs (dask's
  ``distributed.admin.low-level-log-length``, 1000; here ``$JUPYTER_FUTURES_EVENT_LOG_LENGTH``), and
  the clients subscribed to it. ``publish`` says who must hear of a new event; the shell sends it.
* ``Metadata`` — dask's ``Client.set_metadata`` / ``get_metadata``: a nested dict addressed by paths.
* ``ForwardedLoggers`` — the loggers ``Client.forward_logging`` forwards, so that workers joining later
  forward them too.
"""
from __future__ import annotations

from collections import deque
from typing import Any

from ..protocol import messages
from ..protocol.settings import count, from_environment

EVENT_LOG_LENGTH_ENV = "JUPYTER_FUTURES_EVENT_LOG_LENGTH"
DEFAULT_EVENT_LOG_LENGTH = 1000  # events kept per topic, as dask's low-level-log-length
NO_DEFAULT = object()
_ABSENT = object()


class EventLog:
    """Events by topic, the newest ``maxlen`` of each, and each topic's subscribers (client ids)."""

    def __init__(self, maxlen: int | None = None):
        if maxlen is None:
            maxlen = from_environment(EVENT_LOG_LENGTH_ENV, count, DEFAULT_EVENT_LOG_LENGTH, "1000")
        self.maxlen = maxlen
        self.topics: dict[str, deque] = {}
        self.subscribers: dict[str, set[str]] = {}  # topic -> client ids

    def publish(self, topics: list[str], msg: Any, now: float) -> list[tuple[str, str, tuple]]:
        """Record ``msg`` at time ``now`` under each topic; returns ``(subscriber, topic, event)`` for
        every subscriber to tell, ``event`` being ``(now, msg)``."""
        event = (now, msg)
        out = []
        for topic in topics:
            events = self.topics.get(topic)
            if events is None:
                events = self.topics[topic] = deque(maxlen=self.maxlen)
            events.append(event)
            out.extend((subscriber, topic, event) for subscriber in self.subscribers.get(topic, ()))
        return out

    def events(self, topic: str | None = None) -> tuple | dict[str, tuple]:
        """The events of ``topic``, oldest first, as a tuple of ``(time, msg)`` (empty for a topic never
        used); without a topic, ``{topic: events}`` of every topic that has some, as dask's."""
        if topic is not None:
            return tuple(self.topics.get(topic, ()))
        return {name: tuple(events) for name, events in self.topics.items() if events}

    def subscribe(self, subscriber: str, topic: str) -> None:
        """``subscriber`` hears of every new event of ``topic`` (subscribing twice is subscribing once)."""
        self.subscribers.setdefault(topic, set()).add(subscriber)

    def unsubscribe(self, subscriber: str, topic: str) -> None:
        """``subscriber`` no longer hears of ``topic``."""
        subscribers = self.subscribers.get(topic)
        if subscribers is not None:
            subscribers.discard(subscriber)
            if not subscribers:
                del self.subscribers[topic]

    def subscriber_gone(self, subscriber: str) -> None:
        """A client left: drop its subscriptions."""
        for topic in [t for t, subscribers in self.subscribers.items() if subscriber in subscribers]:
            self.unsubscribe(subscriber, topic)


class Metadata:
    """Values in a nested dict, addressed by a path of keys: ``set(["a", "b"], 1)`` makes ``{"a": {"b": 1}}``.
    Lists met on the way are indexed by position, as dask's ``task_metadata``."""

    def __init__(self) -> None:
        self.root: dict = {}

    def set(self, path: list, value: Any) -> None:
        """Store ``value`` at ``path``; the dicts above it are made on demand, and a value that is not a
        dict or list on the way is replaced by a dict (dask's rule)."""
        if not path:
            raise ValueError("set_metadata needs a key, or a non-empty list of keys for a nested entry")
        node: Any = self.root
        for i, key in enumerate(path[:-1]):
            if isinstance(node, list):
                _check_index(node, key, path[:i])
                if not isinstance(node[key], (dict, list)):
                    node[key] = {}
            elif key not in node or not isinstance(node[key], (dict, list)):
                node[key] = {}
            node = node[key]
        if isinstance(node, list):
            _check_index(node, path[-1], path[:-1])
        node[path[-1]] = value

    def lookup(self, path: list) -> tuple[bool, Any]:
        """``(True, value)`` of the value at ``path``, or ``(False, None)`` if there is none."""
        value = self.get(path, _ABSENT)
        return (False, None) if value is _ABSENT else (True, value)

    def get(self, path: list, default: Any = NO_DEFAULT) -> Any:
        """The value at ``path`` (the whole dict for an empty path); KeyError if there is none, unless a
        ``default`` is given."""
        node: Any = self.root
        for i, key in enumerate(path):
            found = (isinstance(node, dict) and key in node) or (
                isinstance(node, list) and type(key) is int and -len(node) <= key < len(node))
            if not found:
                if default is not NO_DEFAULT:
                    return default
                where = f" under {path[:i]!r}" if i else ""
                raise KeyError(f"no metadata {key!r}{where}: set it first with client.set_metadata({path!r}, "
                               f"value), or pass a default: client.get_metadata({path!r}, default=None)")
            node = node[key]
        return node


def _check_index(node: list, key: Any, above: list) -> None:
    if type(key) is not int or not -len(node) <= key < len(node):
        raise TypeError(f"the metadata at {above!r} is a list of {len(node)} items: {key!r} is not a position "
                        f"in it; use an int below {len(node)}, or store a dict there")


class ForwardedLoggers:
    """The loggers whose records workers forward as events: logger name (None: the root) -> (level, topic)."""

    def __init__(self) -> None:
        self.loggers: dict[str | None, tuple[int, str]] = {}

    def add(self, logger_name: str | None, level: int, topic: str) -> tuple:
        """Forward ``logger_name`` at ``level`` and up to ``topic`` (replacing an earlier request for the
        same logger); returns the message that tells a worker."""
        self.loggers[logger_name] = (level, topic)
        return messages.forward_logging(logger_name, level, topic)

    def remove(self, logger_name: str | None) -> tuple:
        """Stop forwarding ``logger_name``; returns the message that tells a worker. ValueError if it was
        not forwarded."""
        if logger_name not in self.loggers:
            raise ValueError(f"logger {logger_name or '<root>'!r} is not forwarded: forwarded are "
                             f"{sorted(name or '<root>' for name in self.loggers)}; call "
                             f"client.forward_logging({logger_name!r}) first")
        del self.loggers[logger_name]
        return messages.unforward_logging(logger_name)

    def messages(self) -> list[tuple]:
        """What a worker joining now must be told: one message per forwarded logger."""
        return [messages.forward_logging(name, level, topic) for name, (level, topic) in self.loggers.items()]
