"""The server extension's connection to one scheduler: a ``FeedMonitor`` made on first use, with
timeouts on every request (a stuck scheduler is an error, never a hang of the Jupyter server)."""
from __future__ import annotations

import asyncio
from typing import Any, Callable

from ..client.monitor import FeedMonitor

CONNECT_TIMEOUT = 5.0
REQUEST_TIMEOUT = 30.0


class SchedulerLink:
    """One scheduler's feed, handed to ``on_feed(cluster_id, topic, data)``, and its requests;
    ``on_gone(cluster_id)`` when the connection ends."""

    def __init__(self, record: dict, on_feed: Callable[[str, str, Any], None], on_gone: Callable[[str], None]):
        self.record = record
        self.cluster_id = record["id"]
        self.monitor: FeedMonitor | None = None
        self._on_feed = on_feed
        self._on_gone = on_gone
        self._connecting: asyncio.Future | None = None
        self.topics: set[str] = set()

    @property
    def connected(self) -> bool:
        """True while the connection is open."""
        return self.monitor is not None and not self.monitor.closed

    async def ensure_connected(self) -> FeedMonitor:
        """The open connection, made on first use (callers at the same time share one attempt)."""
        if self.connected:
            return self.monitor
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.ensure_future(self._connect())
        return await asyncio.shield(self._connecting)

    async def _connect(self) -> FeedMonitor:
        monitor = FeedMonitor(self.record["address"], self.record["token"], timeout=CONNECT_TIMEOUT,
                              on_delta=lambda topic, data: self._on_feed(self.cluster_id, topic, data))
        try:
            await asyncio.wait_for(monitor.start(), CONNECT_TIMEOUT * 2)
        except BaseException:
            if monitor.comm is not None:
                monitor.comm.close()
            raise
        monitor.on_close(lambda: self._on_gone(self.cluster_id))
        if self.topics:
            monitor.subscribe(sorted(self.topics))
        self.monitor = monitor
        return monitor

    async def request(self, op: str, *args: Any, timeout: float = REQUEST_TIMEOUT) -> Any:
        """Call a scheduler RPC; a scheduler that does not answer in ``timeout`` s is an error, never a hang."""
        monitor = await self.ensure_connected()
        try:
            return await asyncio.wait_for(monitor.request(op, *args), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"the scheduler of cluster {self.cluster_id} did not answer {op!r} "
                               f"within {timeout:g} s") from None

    async def subscribe(self, topics: set[str]) -> None:
        """Ask the scheduler to feed these topics (on top of those already fed)."""
        new = topics - self.topics
        self.topics |= new
        if new:
            (await self.ensure_connected()).subscribe(sorted(new))

    def unsubscribe(self, topics: set[str]) -> None:
        """Stop feeding these topics."""
        gone = topics & self.topics
        self.topics -= gone
        if gone and self.connected:
            self.monitor.unsubscribe(sorted(gone))

    def close(self) -> None:
        """Disconnect."""
        if self.monitor is not None and self.monitor.comm is not None:
            self.monitor.comm.close()
