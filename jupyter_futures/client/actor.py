"""Actor proxies: method calls go straight to the worker holding the actor, in the order made."""
from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

from ..protocol import serialize
from ..protocol.context import blocking_wait, current_task, process_worker
from ..protocol.durations import parse_duration
from ..protocol.eventloop import PATIENCE
from .current import task_client
from .future import error_from


class Actor:
    """A handle on an object living on a worker: ``actor.method(...)`` returns an ``ActorFuture``,
    ``actor.attribute`` returns the attribute's value."""

    def __init__(self, cls: type, address: str, key: str, future: Any = None):
        self._cls = cls
        self._address = address
        self._key = key
        self._future = future  # keeps the actor alive while this handle exists
        self._comm = None

    def __reduce__(self):
        return (_rebuild_actor, (self._cls, self._address, self._key))

    def __repr__(self) -> str:
        return f"<Actor: {self._cls.__name__}, key={self._key}>"

    def __dir__(self):
        return sorted(set(dir(self._cls)) | set(object.__dir__(self)))

    def _client(self):
        return self._future.client if self._future is not None else task_client()

    def _send(self, kind: str, name: str, args: Any) -> ActorFuture:
        client = self._client()
        worker = process_worker()
        if worker is not None and worker.address == self._address:
            answer = worker.actors.call_here(self._key, name, args, kind)
            if answer is not None:
                done: concurrent.futures.Future = concurrent.futures.Future()
                done.set_result(answer)
                return ActorFuture(done, client, self._key)
        comm = self._comm
        if comm is None or comm.closed:
            comm = client.worker_connection(self._address)
            if comm is None:
                raise RuntimeError(f"no connection to the actor's worker {self._address}: "
                                   f"`await client.wait_for_workers()` and retry")
            self._comm = comm
        return ActorFuture(comm.request_from_thread("actor_call", self._key, name, args, kind), client, self._key)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        attr = getattr(self._cls, name, None)
        if callable(attr):
            def method(*args: Any, **kwargs: Any) -> ActorFuture:
                return self._send("call", name, serialize.dumps((args, kwargs)))
            method.__name__ = name
            method.__doc__ = getattr(attr, "__doc__", None)
            return method
        future = self._send("attr", name, None)  # a property or a plain attribute: its value
        return future if self._client().asynchronous else future.result()


def actor_key(actor: Actor) -> str:
    """The key of the task that made ``actor`` (its attributes are the remote object's, so not a property)."""
    return actor._key


def _rebuild_actor(cls: type, address: str, key: str) -> Actor:
    client = task_client()
    return Actor(cls, address, key, client.adopt_future(key))


class ActorFuture:
    """The result of an actor method call: ``result(timeout=)``, ``done()``, ``await``."""

    def __init__(self, cf: Any, client: Any, key: str):
        self._cf = cf
        self._client = client
        self._key = key

    def done(self) -> bool:
        """True once the call returned or raised."""
        return self._cf.done()

    def add_done_callback(self, fn: Any) -> None:
        """Call ``fn(self)`` once the call returned or raised (at once if it has), in the thread that saw it end."""
        self._cf.add_done_callback(lambda _cf: fn(self))

    def result(self, timeout: float | str | None = None) -> Any:
        """The method's return value (re-raises its exception); ``timeout``: seconds or e.g. ``"1s"``."""
        timeout = parse_duration(timeout)
        if self._client.asynchronous and not self._cf.done():
            return self._await(timeout)
        try:
            if current_task() is not None and not self._cf.done():
                try:
                    answer = self._cf.result(PATIENCE)
                except TimeoutError:
                    with blocking_wait():
                        answer = self._cf.result(timeout)
            else:
                answer = self._cf.result(timeout)
        except TimeoutError:
            raise TimeoutError(f"actor {self._key} did not answer within {timeout} s") from None
        return self._decode(answer)

    def _decode(self, answer: tuple) -> Any:
        kind, payload = answer
        if kind == "ok":
            return self._client.loads(payload)
        raise error_from(self._key, *payload)

    async def _await(self, timeout: float | None = None) -> Any:
        try:
            answer = await asyncio.wait_for(asyncio.wrap_future(self._cf), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"actor {self._key} did not answer within {timeout} s") from None
        return self._decode(answer)

    def __await__(self):
        return self._await().__await__()

    def __repr__(self) -> str:
        return f"<ActorFuture: {'done' if self.done() else 'pending'}, actor {self._key}>"
