"""``FeedMonitor``: a watch-only connection to a scheduler, for its live feed and dashboard queries.

The Jupyter server extension (and the feed's tests and benchmark) use it::

    monitor = await FeedMonitor(address, on_delta=lambda topic, data: ...).start()
    monitor.subscribe(["tasks", "progress"])
    tree = await monitor.query("profile", {"prefix": "inc"})
    await monitor.close()

It registers as a client with ``{"monitor": True}``: the scheduler leaves it out of the
``clients`` topic, and it submits nothing. Async only; ``on_delta`` runs on the loop.
"""
from __future__ import annotations

import uuid
from typing import Any, Callable

from ..protocol import auth, messages
from ..protocol.comm import Comm
from ..protocol.connect import connect

TOPICS = ("tasks", "progress", "workers", "clients", "logs")


class FeedMonitor:
    """Live-feed deltas of one scheduler, handed to ``on_delta(topic, data)``."""

    def __init__(self, address: str, token: str | None = None, on_delta: Callable[[str, Any], None] | None = None,
                 timeout: float = 10.0, security: Any = None):
        self.address = address
        self.token = token
        self.security = security  # a Security for a tls:// scheduler
        self.on_delta = on_delta
        self.timeout = timeout
        self.id = f"monitor-{uuid.uuid4().hex[:12]}"
        self.comm: Comm | None = None
        self.scheduler_id: str | None = None
        self.handlers = {messages.FEED: self._feed, messages.REGISTERED: self._registered}  # and replies

    async def start(self) -> FeedMonitor:
        """Connect and register as a monitor."""
        token = auth.find_token(self.token, self.address)
        self.comm = await connect(self.address, token, timeout=self.timeout, security=self.security)
        self.comm.start(self._on_batch)
        self.comm.queue(messages.register_client(self.id, {"monitor": True}))
        self.scheduler_id = (await self.comm.request("identity"))["id"]
        return self

    def _on_batch(self, comm: Comm, msgs: list) -> None:
        handlers = self.handlers
        for msg in msgs:
            if not messages.dispatch(handlers, msg):
                comm.handle_rpc_message(msg)

    def _feed(self, topic: str, data: Any) -> None:
        if self.on_delta is not None:
            self.on_delta(topic, data)

    def _registered(self, scheduler_id: str) -> None:
        pass

    def subscribe(self, topics: Any = TOPICS) -> None:
        """Receive deltas of these topics (on the loop thread)."""
        self.comm.queue(messages.feed_subscribe(list(topics)))

    def unsubscribe(self, topics: Any = None) -> None:
        """Stop receiving these topics (all when None)."""
        self.comm.queue(messages.feed_unsubscribe(None if topics is None else list(topics)))

    async def query(self, what: str, args: dict | None = None) -> Any:
        """``dashboard_query``: "profile", "stacks" or "logs" with ``args`` (docs/jupyter-api.md)."""
        return await self.comm.request("dashboard_query", what, args or {})

    async def request(self, op: str, *args: Any) -> Any:
        """Any other scheduler request (``identity``, ``cluster_info``, ...)."""
        return await self.comm.request(op, *args)

    @property
    def closed(self) -> bool:
        """True once the connection is gone."""
        return self.comm is None or self.comm.closed

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` when the connection closes (the scheduler stopped)."""
        self.comm.on_close.append(lambda comm: callback())

    async def close(self) -> None:
        """Disconnect."""
        if self.comm is not None:
            self.comm.close()
