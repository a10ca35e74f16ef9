"""Fans the schedulers' feeds out to the browsers' websockets: a topic of a cluster is fed by its
scheduler only while at least one open pane subscribes to it; the cluster list is pushed when it
changes, while any browser is connected."""
from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from typing import Any, Protocol

from .manager import ClusterManager

logger = logging.getLogger("jupyter_futures.server")

TOPICS = frozenset({"tasks", "progress", "workers", "clients", "logs"})
CLUSTERS_INTERVAL = 2.0


class Socket(Protocol):
    """What the hub needs of a browser connection."""

    def send_json(self, message: dict) -> None: ...


class FeedHub:
    """Subscriptions of every browser connection, counted per (cluster, topic)."""

    def __init__(self, manager: ClusterManager):
        self.manager = manager
        manager.on_feed = self.deliver
        manager.on_gone = self.cluster_gone
        self.sockets: dict[Socket, set[tuple[str, str]]] = {}
        self.subscribers: dict[tuple[str, str], set[Socket]] = defaultdict(set)
        self._clusters_task: asyncio.Task | None = None
        self._last_clusters = ""

    # -- connections --------------------------------------------------------
    def add(self, socket: Socket) -> None:
        """A browser connected: it gets the cluster list now and whenever it changes."""
        self.sockets[socket] = set()
        if self._clusters_task is None or self._clusters_task.done():
            self._last_clusters = ""
            self._clusters_task = asyncio.ensure_future(self._push_clusters())
        else:
            asyncio.ensure_future(self._send_clusters_to(socket))

    def remove(self, socket: Socket) -> None:
        """A browser went: drop its subscriptions."""
        for cluster_id, topic in self.sockets.pop(socket, set()):
            self._drop(socket, cluster_id, topic)
        if not self.sockets and self._clusters_task is not None:
            self._clusters_task.cancel()
            self._clusters_task = None

    async def subscribe(self, socket: Socket, cluster_id: str, topics: list[str]) -> None:
        """Feed ``topics`` of a cluster to this socket."""
        unknown = sorted(set(topics) - TOPICS)
        if unknown:
            raise ValueError(f"unknown topics {unknown}; the topics are {sorted(TOPICS)}")
        record = self.manager.record(cluster_id)
        live = [t for t in topics if self.subscribers.get((cluster_id, t))]
        for topic in topics:
            self.sockets[socket].add((cluster_id, topic))
            self.subscribers[(cluster_id, topic)].add(socket)
        link = self.manager.link(record)
        await link.subscribe(set(topics))
        # The scheduler sends a topic's whole state only to its first subscriber: a later pane gets it here.
        for topic in live:
            data = await link.request("dashboard_query", topic, {})
            socket.send_json({"op": "delta", "cluster": cluster_id, "topic": topic, "data": data})

    def unsubscribe(self, socket: Socket, cluster_id: str, topics: list[str] | None) -> None:
        """Stop feeding these topics (all when None) of a cluster to this socket."""
        mine = {(c, t) for c, t in self.sockets.get(socket, set()) if c == cluster_id and (topics is None or t in topics)}
        for cluster, topic in mine:
            self.sockets[socket].discard((cluster, topic))
            self._drop(socket, cluster, topic)

    def _drop(self, socket: Socket, cluster_id: str, topic: str) -> None:
        subscribers = self.subscribers.get((cluster_id, topic))
        if subscribers is None:
            return
        subscribers.discard(socket)
        if not subscribers:
            del self.subscribers[(cluster_id, topic)]
            link = self.manager.links.get(cluster_id)
            if link is not None:
                link.unsubscribe({topic})

    # -- from the schedulers --------------------------------------------------
    def deliver(self, cluster_id: str, topic: str, data: Any) -> None:
        """A scheduler's delta: to every socket subscribed to it."""
        subscribers = self.subscribers.get((cluster_id, topic))
        if subscribers:
            message = {"op": "delta", "cluster": cluster_id, "topic": topic, "data": data}
            for socket in list(subscribers):
                socket.send_json(message)

    def cluster_gone(self, cluster_id: str) -> None:
        """A subscribed cluster's scheduler went away: say so, once, and forget its subscriptions."""
        sockets = set()
        for (cid, topic) in [k for k in self.subscribers if k[0] == cluster_id]:
            sockets |= self.subscribers.pop((cid, topic))
        for socket in sockets:
            self.sockets.get(socket, set()).difference_update({k for k in self.sockets.get(socket, set())
                                                              if k[0] == cluster_id})
            socket.send_json({"op": "gone", "cluster": cluster_id})

    # -- the cluster list -----------------------------------------------------
    async def _clusters_message(self) -> dict:
        return {"op": "clusters", "clusters": await self.manager.list()}

    async def _send_clusters_to(self, socket: Socket) -> None:
        try:
            socket.send_json(await self._clusters_message())
        except Exception:  # noqa: BLE001
            logger.exception("could not list the clusters")

    async def _push_clusters(self) -> None:
        while self.sockets:
            try:
                message = await self._clusters_message()
                text = json.dumps(message, sort_keys=True, default=str)
                if text != self._last_clusters:
                    self._last_clusters = text
                    for socket in list(self.sockets):
                        socket.send_json(message)
            except Exception:  # noqa: BLE001 - the list is tried again at the next tick
                logger.exception("could not list the clusters")
            await asyncio.sleep(CLUSTERS_INTERVAL)

    async def request(self, cluster_id: str, what: str, args: dict) -> Any:
        """A pane's question (profile, stacks, logs), asked of the cluster's scheduler."""
        if what not in ("profile", "stacks", "logs"):
            raise ValueError(f"unknown request {what!r}; ask for profile, stacks or logs")
        if not isinstance(args, dict):
            raise ValueError("request args must be a JSON object")
        link = self.manager.link(self.manager.record(cluster_id))
        return await link.request("dashboard_query", what, args)

    def close(self) -> None:
        """Stop pushing the cluster list."""
        if self._clusters_task is not None:
            self._clusters_task.cancel()
