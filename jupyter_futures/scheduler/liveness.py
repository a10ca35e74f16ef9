"""Who was heard from lately: workers and clients that fall silent past their time-to-live are
taken for dead, even while their TCP connection stays open (a frozen process, a lost network)."""
from __future__ import annotations

from typing import Hashable

from ..protocol.durations import duration_from_environment

WORKER_TTL_ENV = "JUPYTER_FUTURES_WORKER_TTL"
CLIENT_TTL_ENV = "JUPYTER_FUTURES_CLIENT_TTL"
DEFAULT_TTL = 300.0  # seconds, as dask's distributed.scheduler.worker-ttl


def ttl_from_environment(name: str) -> float:
    """Seconds of silence after which a peer is taken for dead (``name``: one of the *_TTL_ENV)."""
    return duration_from_environment(name, DEFAULT_TTL)


class Liveness:
    """Last time each peer was heard from; no I/O, no clock of its own (the caller passes ``now``)."""

    def __init__(self, ttl: float):
        self.ttl = ttl
        self.last: dict[Hashable, float] = {}

    def watch(self, peer: Hashable, now: float) -> None:
        """Start watching ``peer`` (one that promised to send something at least every few seconds)."""
        self.last[peer] = now

    def heard(self, peer: Hashable, now: float) -> None:
        """``peer`` sent something at ``now`` (peers not watched are ignored)."""
        if peer in self.last:
            self.last[peer] = now

    def forget(self, peer: Hashable) -> None:
        """``peer`` left: stop watching it."""
        self.last.pop(peer, None)

    def silent(self, now: float) -> list[tuple[Hashable, float]]:
        """The peers not heard from for longer than the time-to-live, with how long they were silent."""
        return [(peer, now - when) for peer, when in self.last.items() if now - when > self.ttl]

    @property
    def check_interval(self) -> float:
        """How often to look for silent peers: often enough to notice within a quarter of the TTL."""
        return min(max(self.ttl / 4, 0.1), 10.0)
