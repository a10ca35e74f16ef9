"""A worker's actors: their instances, and their method calls run in order on one thread.

Calls arrive straight from the callers (clients or other workers), not through the
scheduler, and the reply leaves from the actor thread itself. ``async def``
methods run on the worker's event loop.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import queue
import threading
import time
from typing import Any, Awaitable, Callable

from ..protocol import serialize
from ..protocol.comm import Comm

logger = logging.getLogger("jupyter_futures.worker")

QUICK_MAX = 0.0005  # a method never slower than this (seconds)...
QUICK_AFTER = 5  # ...over this many calls runs on the event loop, not the actor thread


class ActorRunner:
    """Actors by key; one thread runs their synchronous methods, first come first served."""

    def __init__(self, loop: asyncio.AbstractEventLoop, error_record: Callable[[BaseException, int], tuple],
                 has_client: Callable[[], bool], ensure_client: Callable[[], Awaitable[None]]):
        self.loop = loop
        self.error_record = error_record
        # Methods run on the loop only once the worker's client runs: futures in their arguments, and
        # get_client() in their code, need it, and it cannot be made on the loop.
        self.has_client = has_client
        self.ensure_client = ensure_client
        self.actors: dict[str, Any] = {}
        self._calls: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pending = 0  # calls queued for, or running on, the actor thread
        self._calls_seen: dict[tuple, int] = {}
        self._quick: set[tuple] = set()
        self._slow: set[tuple] = set()
        self._thread = threading.Thread(target=self._run, name="jf-actor", daemon=True)
        self._thread.start()

    def create(self, key: str, instance: Any) -> None:
        """Hold ``instance`` as the actor ``key``."""
        self.actors[key] = instance

    def drop(self, key: str) -> None:
        """Nothing refers to actor ``key`` any more: let it go."""
        self.actors.pop(key, None)

    def call(self, comm: Comm, rid: int, key: str, name: str, args: Any, kind: str) -> None:
        """On the loop: run method (``kind`` "call") or read attribute ("attr") ``name`` of actor ``key``."""
        instance = self.actors.get(key)
        if instance is None:
            comm.reply(rid, True, ("error", self.error_record(
                ValueError(f"actor {key!r} is gone: its future was released (or its worker restarted)"), 0)))
            return
        if kind == "call" and inspect.iscoroutinefunction(getattr(type(instance), name, None)):
            self.loop.create_task(self._call_async(comm, rid, instance, name, args))
        elif not self._pending and (type(instance), name) in self._quick and self.has_client():
            # Known to take microseconds and nothing queued before it: run it here, in order,
            # and save the trip to the actor thread.
            comm.reply(rid, True, self._invoke(instance, name, args, kind))
        else:
            self._queue(comm, rid, instance, name, args, kind)

    def call_here(self, key: str, name: str, args: Any, kind: str) -> tuple | None:
        """A call made by code running in this worker (a task, another actor's method) to an actor that
        lives here: it runs in the calling thread, as in dask, because an actor method waiting for the
        actor thread from the actor thread would wait forever. None: not an actor of this worker, or an
        ``async def`` method (those run on the loop as usual)."""
        instance = self.actors.get(key)
        if instance is None or (kind == "call" and inspect.iscoroutinefunction(getattr(type(instance), name, None))):
            return None
        return self._invoke(instance, name, args, kind)

    def _queue(self, *call) -> None:
        with self._lock:
            self._pending += 1
        self._calls.put(call)

    def _run(self) -> None:
        while True:
            item = self._calls.get()
            if item is None:
                return
            comm, rid, instance, name, args, kind = item
            answer = self._invoke(instance, name, args, kind)
            with self._lock:
                self._pending -= 1
            comm.reply(rid, True, answer)

    def _invoke(self, instance: Any, name: str, args: Any, kind: str) -> tuple:
        start = time.perf_counter()
        try:
            return self._invoke_timed(instance, name, args, kind)
        finally:
            self._learn(type(instance), name, time.perf_counter() - start)

    def _learn(self, cls: type, name: str, duration: float) -> None:
        """Methods that always took microseconds may run on the loop; one slow call bars them for good."""
        key = (cls, name)
        if duration > QUICK_MAX or key in self._slow:
            self._slow.add(key)
            self._quick.discard(key)
            return
        calls = self._calls_seen.get(key, 0) + 1
        self._calls_seen[key] = calls
        if calls >= QUICK_AFTER:
            self._quick.add(key)

    def _invoke_timed(self, instance: Any, name: str, args: Any, kind: str) -> tuple:
        try:
            if kind == "attr":
                value = getattr(instance, name)
            else:
                call_args, call_kwargs = serialize.loads(args)
                value = getattr(instance, name)(*call_args, **call_kwargs)
            return ("ok", serialize.dumps(value))
        except BaseException as exc:  # noqa: BLE001 - the caller gets the error, the actor lives on
            return ("error", self.error_record(exc, 1))

    async def _call_async(self, comm: Comm, rid: int, instance: Any, name: str, args: Any) -> None:
        try:
            await self.ensure_client()
            call_args, call_kwargs = serialize.loads(args)
            value = await getattr(instance, name)(*call_args, **call_kwargs)
            answer = ("ok", serialize.dumps(value))
        except BaseException as exc:  # noqa: BLE001
            answer = ("error", self.error_record(exc, 1))
        comm.reply(rid, True, answer)

    def close(self) -> None:
        """Stop the actor thread."""
        self._calls.put(None)
        self.actors.clear()
