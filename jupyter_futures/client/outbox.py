"""``Outbox``: everything a client sends its scheduler, in one order (submissions, releases, coordination),
so a release can never overtake the submission that depends on the key.

Threads: ``send`` from any thread. A user thread writes to the socket itself (no hop through the event
loop: that hop costs more than the rest of a submit); the loop thread batches per loop turn. One
sender at a time, in order, under the outbox's lock. ``send_later`` from ``__del__`` methods, which
garbage collection may run in the middle of a send: no lock, no I/O.
"""
from __future__ import annotations

import asyncio
import collections
import threading

from ..protocol import messages
from ..protocol.comm import Comm, CommClosedError
from .table import FutureTable

RELEASE_INTERVAL = 0.02  # seconds a dropped future's release may wait for a message to ride with


class Outbox:
    """The messages a client has for its scheduler, sent in the order they were made."""

    def __init__(self, loop: asyncio.AbstractEventLoop, futures: FutureTable):
        self.loop = loop
        self.futures = futures
        self.comm: Comm | None = None
        self.loop_ident: int | None = None
        self._lock = threading.RLock()  # one sender at a time; re-entered when a send's pickling sends
        self._queue: list[tuple] = []
        self._deferred: collections.deque = collections.deque()  # messages from __del__ methods
        self._scheduled = False  # a flush is scheduled on the loop
        self._flushing = False  # a flush is under way (in this thread, when re-entered)

    def open(self, comm: Comm) -> None:
        """Send through ``comm`` from now on (called on the client's loop thread)."""
        self.comm = comm
        self.loop_ident = threading.get_ident()

    def send(self, msg: tuple) -> None:
        """Send ``msg`` to the scheduler from any thread, in order with every other one."""
        with self._lock:
            self._queue.append(msg)
            if self._flushing or self._scheduled:
                return  # the flush under way, or the one scheduled, takes it
            if threading.get_ident() != self.loop_ident:
                self._flush_locked()
                return
            self._scheduled = True
        self.loop.call_soon(self.flush)

    def send_later(self, msg: tuple) -> None:
        """Queue ``msg`` to go with the next message, or with the periodic flush: no lock, no I/O."""
        self._deferred.append(msg)

    def pending(self) -> bool:
        """True when something waits to be sent: messages, or releases of dropped futures."""
        return bool(self._queue or self._deferred) or self.futures.drops_pending()

    def flush(self) -> None:
        """Send what is queued now (from any thread)."""
        with self._lock:
            self._scheduled = False
            self._flush_locked()

    def _flush_locked(self) -> None:
        comm = self.comm
        if comm is None or comm.closed:
            self._queue = []
            return
        self._flushing = True
        try:
            released = self.futures.settle_drops()
            if released:
                self._queue.append(messages.release_keys(released))
            while self._deferred:
                self._queue.append(self._deferred.popleft())
            while self._queue:
                msgs, self._queue = self._queue, []
                try:
                    comm.write_now(self._fold_releases(msgs))
                except CommClosedError:
                    return
        finally:
            self._flushing = False

    def _fold_releases(self, msgs: list[tuple]) -> list[tuple]:
        """``msgs`` with each run of release-keys messages as one, holding only the keys no future holds
        again since (``FutureTable.forget``: their states go as the release leaves)."""
        out: list[tuple] = []
        for msg in msgs:
            if msg[0] == messages.RELEASE_KEYS:
                _, keys = msg
                keys = self.futures.forget(keys)
                if not keys:
                    continue
                if out and out[-1][0] == messages.RELEASE_KEYS:
                    _, held = out[-1]
                    held.extend(keys)
                    continue
                msg = messages.release_keys(keys)
            out.append(msg)
        return out
