"""``Queue``, ``Lock``, ``MultiLock``, ``Event``, ``Variable``, ``Semaphore``: named, cluster-wide, usable
in tasks.

Each object is a handle on state the scheduler holds under its name; handles
pickle by name, so passing one into a task gives the task a handle on the same
thing. Blocking calls made inside a task step out of the worker's thread pool
while they wait. In an asynchronous client the methods return coroutines.
Timeouts are seconds or durations such as ``"1s"`` or ``"500 ms"``, as in dask.
"""
from __future__ import annotations

import io
import uuid
from typing import Any

import cloudpickle

from ..protocol import messages, serialize
from ..protocol.durations import parse_duration
from .actor import Actor, actor_key
from .current import task_client
from .future import Future
from .options import per_call_mode


def pack_value(value: Any) -> tuple[serialize.Serialized, list[str]]:
    """Pickle a value, listing the keys of the futures inside it (they stay futures)."""
    keys: list[str] = []

    def persistent_id(obj: Any):
        if isinstance(obj, Future):
            keys.append(obj.key)
        elif isinstance(obj, Actor):
            keys.append(actor_key(obj))  # a stored proxy keeps its actor alive
        return None

    buffers: list = []
    stream = io.BytesIO()
    pickler = cloudpickle.CloudPickler(stream, protocol=5, buffer_callback=buffers.append)
    pickler.persistent_id = persistent_id
    try:
        pickler.dump(value)
    except Exception as exc:
        raise serialize.SerializationError(
            f"cannot pickle the {type(value).__name__} to share it through the cluster: {exc}") from exc
    return serialize.Serialized(stream.getvalue(), [b.raw() for b in buffers]), keys


class _Held:
    """``with`` and ``async with`` of what is acquired and released (Lock, MultiLock, Semaphore)."""

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    async def __aenter__(self):
        await self.acquire()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.release()


class _Primitive:
    """A named handle; the scheduler keeps the state while any handle on the name exists."""

    kind = ""

    def __init__(self, name: str | None = None, client: Any = None):
        self.name = name or f"{self.kind}-{uuid.uuid4().hex}"
        self.client = client or task_client()
        self.client.outbox.send(messages.coord_ref(self.kind, self.name, 1))

    def __del__(self) -> None:
        try:
            if self.client.status == "running":
                self.client.outbox.send_later(messages.coord_ref(self.kind, self.name, -1))
        except Exception:
            pass

    def _call(self, op: str, *args: Any, post=None) -> Any:
        """Run an RPC on the scheduler (see ``Client.request``): its answer, or a coroutine of it."""
        return self.client.request(op, *args, post=post)

    def __reduce__(self):
        return (type(self), (self.name,))

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.name}>"


class Queue(_Primitive):
    """A cluster-wide FIFO queue of any picklable values, futures included."""

    kind = "queue"

    def __init__(self, name: str | None = None, client: Any = None, maxsize: int = 0):
        super().__init__(name, client)
        self.maxsize = maxsize
        # The first handle's maxsize holds for every handle on the name; an async client learns it on
        # its first put (a constructor cannot await).
        self._bound_known = not self.client.asynchronous
        if self._bound_known:
            self.maxsize = self._call("settle_bound", "queue", self.name, maxsize)

    @per_call_mode
    def put(self, value: Any, timeout: float | None = None) -> Any:
        """Append ``value``; with ``maxsize``, wait for room (TimeoutError after ``timeout`` s)."""
        timeout = parse_duration(timeout)
        blob, keys = pack_value(value)
        if self.client.asynchronous:
            async def settle_then_put():
                if not self._bound_known:
                    self.maxsize = await self._call("settle_bound", "queue", self.name, self.maxsize)
                    self._bound_known = True
                return await self._call("queue_put", self.name, blob, keys, timeout)
            return settle_then_put()
        if not self.maxsize:
            self.client.outbox.send(messages.queue_put(self.name, blob, keys))  # one-way: nothing to wait for
            return None
        return self._call("queue_put", self.name, blob, keys, timeout)

    @per_call_mode
    def get(self, timeout: float | None = None, batch: bool | int = False) -> Any:
        """The oldest value (waits for one; TimeoutError after ``timeout``). ``batch=True``: all there are
        now, as a list; ``batch=n``: a list of ``n`` values."""
        timeout = parse_duration(timeout)
        loads = self.client.loads
        post = (lambda blobs: [loads(b) for b in blobs]) if batch is not False else loads
        return self._call("queue_get", self.name, timeout, batch, post=post)

    @per_call_mode
    def qsize(self) -> Any:
        """How many values are waiting."""
        return self._call("queue_size", self.name)

    def __reduce__(self):
        return (_rebuild_queue, (self.name, self.maxsize))


def _rebuild_queue(name: str, maxsize: int) -> Queue:
    return Queue(name, maxsize=maxsize)


class Lock(_Held, _Primitive):
    """Mutual exclusion across every worker and client, by name (not re-entrant)."""

    kind = "lock"

    def __init__(self, name: str | None = None, client: Any = None):
        super().__init__(name, client)
        self.id = uuid.uuid4().hex

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> Any:
        """Take the lock; True if taken (False when not ``blocking`` or after ``timeout`` s)."""
        timeout = parse_duration(timeout)
        if timeout is not None and timeout < 0:
            timeout = None
        return self._call("lock_acquire", self.name, self.id, blocking, timeout)

    def release(self) -> Any:
        """Release the lock (ValueError if this object does not hold it)."""
        return self._call("lock_release", self.name, self.id)

    def locked(self) -> Any:
        """Whether anyone holds the lock."""
        return self._call("lock_locked", self.name)


class MultiLock(_Held):
    """Several named locks taken at once, cluster-wide, as ``distributed.MultiLock``: ``acquire`` returns
    once this object holds all of ``names`` (or ``num_locks`` of them), never some of them while it waits
    for the rest in a way that could deadlock. Its names are separate from ``Lock``'s (as in dask)."""

    def __init__(self, names: list[str] | None = None, client: Any = None):
        names = list(names or [])
        if not all(isinstance(name, str) for name in names):
            raise TypeError(f"MultiLock(names={names!r:.80}): names must be a list of str, e.g. "
                            f"MultiLock(['x', 'y'])")
        self.names = names
        self.client = client or task_client()
        self.id = uuid.uuid4().hex
        self._locked = False

    def acquire(self, blocking: bool = True, timeout: float | str | None = None, num_locks: int | None = None) -> Any:
        """Take the locks (``num_locks`` of them; default all); True if taken, False when not ``blocking``
        and they are not free, or after ``timeout`` (seconds or e.g. "200ms"), holding none then."""
        timeout = parse_duration(timeout)
        if not blocking:
            if timeout is not None:
                raise ValueError("can't specify a timeout for a non-blocking call: acquire(blocking=False) "
                                 "or acquire(timeout=...)")
            timeout = 0
        if not self.names:
            raise ValueError("this MultiLock has no names to lock: make it with MultiLock(names=['x', 'y'])")
        if num_locks is not None and (isinstance(num_locks, bool) or not isinstance(num_locks, int)
                                      or not 1 <= num_locks <= len(self.names)):
            raise ValueError(f"acquire(num_locks={num_locks!r}): need a whole number from 1 to {len(self.names)} "
                             f"(the number of names), or None for all of them")

        def taken(ok: bool) -> bool:
            self._locked = bool(ok)
            return ok
        return self.client.request("multi_lock_acquire", self.names, self.id, timeout, num_locks, post=taken)

    def release(self) -> Any:
        """Release the locks this object holds (ValueError if it holds none)."""
        if not self._locked:
            raise ValueError(f"Lock is not yet acquired: MultiLock({self.names!r}).acquire() before release()")

        def released(_: Any) -> None:
            self._locked = False
        return self.client.request("multi_lock_release", self.id, post=released)

    def locked(self) -> bool:
        """Whether this object holds its locks (known here, as dask's: no trip to the scheduler)."""
        return self._locked

    def __reduce__(self):
        return (type(self), (self.names,))

    def __repr__(self) -> str:
        return f"<MultiLock: {self.names}>"


class Event(_Primitive):
    """A cluster-wide flag that tasks and clients can wait on."""

    kind = "event"

    def set(self) -> Any:
        """Set the flag: every waiter wakes."""
        return self._call("event_set", self.name)

    def clear(self) -> Any:
        """Clear the flag."""
        return self._call("event_clear", self.name)

    def is_set(self) -> Any:
        """Whether the flag is set."""
        return self._call("event_is_set", self.name)

    def wait(self, timeout: float | None = None) -> Any:
        """Wait until the flag is set; True, or False after ``timeout`` s."""
        return self._call("event_wait", self.name, parse_duration(timeout))


class Variable(_Primitive):
    """A cluster-wide named value; a future stored in it keeps its data alive until replaced or deleted."""

    kind = "variable"

    @per_call_mode
    def set(self, value: Any) -> Any:
        """Store ``value``."""
        blob, keys = pack_value(value)
        return self._call("variable_set", self.name, blob, keys)

    @per_call_mode
    def get(self, timeout: float | None = None) -> Any:
        """The value; waits until one is set (TimeoutError after ``timeout`` s)."""
        return self._call("variable_get", self.name, parse_duration(timeout), post=self.client.loads)

    def delete(self) -> Any:
        """Remove the value."""
        return self._call("variable_delete", self.name)


class Semaphore(_Held, _Primitive):
    """At most ``max_leases`` holders at once, cluster-wide. Leases of a client or worker that dies are
    released after the scheduler's lease timeout."""

    kind = "semaphore"

    def __init__(self, max_leases: int = 1, name: str | None = None, client: Any = None,
                 register: bool = True, scheduler_rpc: Any = None, loop: Any = None):
        # register, scheduler_rpc and loop: accepted for dask code; here a handle always registers.
        if isinstance(max_leases, bool) or not isinstance(max_leases, int) or max_leases < 1:
            raise ValueError(f"Semaphore(max_leases={max_leases!r}): need a whole number of leases, at least 1")
        super().__init__(name, client)
        self.max_leases = max_leases
        self._held: list[str] = []
        self._bound_known = not self.client.asynchronous  # as Queue's: async clients learn it later
        if self._bound_known:
            self.max_leases = self._call("settle_bound", "semaphore", self.name, max_leases)

    def acquire(self, timeout: float | None = None) -> Any:
        """Take a lease; True, or False after ``timeout`` s."""
        timeout = parse_duration(timeout)
        lease = uuid.uuid4().hex

        def taken(ok: bool) -> bool:
            if ok:
                self._held.append(lease)
            return ok
        if self.client.asynchronous:
            async def settle_then_acquire():
                if not self._bound_known:
                    self.max_leases = await self._call("settle_bound", "semaphore", self.name, self.max_leases)
                    self._bound_known = True
                return taken(await self._call("semaphore_acquire", self.name, lease, timeout))
            return settle_then_acquire()
        return self._call("semaphore_acquire", self.name, lease, timeout, post=taken)

    def release(self) -> Any:
        """Give back the most recent lease this object took."""
        if not self._held:
            raise ValueError(f"Semaphore({self.name!r}).release() without a matching acquire()")
        return self._call("semaphore_release", self.name, self._held.pop())

    def get_value(self) -> Any:
        """How many leases are out."""
        return self._call("semaphore_value", self.name)

    def close(self) -> Any:
        """Close the semaphore for every holder: leases are dropped, waiting and later ``acquire`` calls
        raise RuntimeError (as dask's)."""
        self._held.clear()
        return self._call("semaphore_close", self.name)

    def __reduce__(self):
        return (_rebuild_semaphore, (self.max_leases, self.name))


def _rebuild_semaphore(max_leases: int, name: str) -> Semaphore:
    return Semaphore(max_leases, name)
