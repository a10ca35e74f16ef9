"""Queues, locks, multi-locks, events, variables and semaphores, by name, held by the scheduler.

Waiters are asyncio futures woken by the operation that satisfies them: nobody
polls. Values are opaque blobs; the futures inside them are listed so the
scheduler keeps their keys alive while a queue or variable holds them. Locks and
semaphore leases held by a client that disconnects (a crashed worker's client,
a killed notebook) are released after ``lease_timeout`` seconds.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import os
from typing import Any, Callable

logger = logging.getLogger("jupyter_futures.scheduler")

LEASE_TIMEOUT_ENV = "JUPYTER_FUTURES_LEASE_TIMEOUT"


def _default_lease_timeout() -> float:
    return float(os.environ.get(LEASE_TIMEOUT_ENV, "10"))


class _Waiters:
    """FIFO of (client, token, future) waiting for something; timed-out ones are skipped."""

    def __init__(self) -> None:
        self.queue: collections.deque = collections.deque()

    def add(self, client: str, token: Any = None) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        self.queue.append((client, token, fut))
        return fut

    def wake_one(self, value: Any = True, grant: Callable[[str, Any], bool] | None = None) -> bool:
        """Wake the first live waiter; ``grant(client, token)`` hands it the resource first (False: skip)."""
        while self.queue:
            client, token, fut = self.queue.popleft()
            if fut.done() or (grant is not None and not grant(client, token)):
                continue
            fut.set_result(value)
            return True
        return False

    def wake_all(self, value: Any = True) -> None:
        while self.wake_one(value):
            pass

    def fail_all(self, exc: BaseException) -> None:
        """Every waiter gets ``exc``."""
        while self.queue:
            _, _, fut = self.queue.popleft()
            if not fut.done():
                fut.set_exception(exc)

    def __bool__(self) -> bool:
        return any(not fut.done() for _, _, fut in self.queue)


def _closed(name: str) -> str:
    return f"Semaphore({name!r}) was closed: make a new one (Semaphore(max_leases, name={name!r})) to use the name again"


async def _wait(fut: asyncio.Future, timeout: float | None) -> bool:
    """True once ``fut`` resolves, False on timeout (and ``fut`` is cancelled)."""
    if timeout is not None and timeout <= 0:
        if not fut.done():
            fut.cancel()
            return False
    try:
        await asyncio.wait_for(fut, timeout)
        return True
    except asyncio.TimeoutError:
        return False


class Coordination:
    """All named primitives of one scheduler. ``keep``/``drop`` pin and unpin keys for holders."""

    def __init__(self, keep: Callable[[str, list[str]], None], drop: Callable[[str, list[str]], None],
                 alive: Callable[[str], bool], lease_timeout: float | None = None):
        self.keep = keep
        self.drop = drop
        self.alive = alive
        self.lease_timeout = _default_lease_timeout() if lease_timeout is None else lease_timeout
        self.refs: dict[tuple[str, str], collections.Counter] = collections.defaultdict(collections.Counter)
        self.queues: dict[str, collections.deque] = {}
        self.queue_getters: dict[str, _Waiters] = collections.defaultdict(_Waiters)
        self.queue_putters: dict[str, _Waiters] = collections.defaultdict(_Waiters)
        self.lock_holders: dict[str, tuple[str, str]] = {}  # name -> (client, holder id)
        self.lock_waiters: dict[str, _Waiters] = collections.defaultdict(_Waiters)
        self.events: dict[str, bool] = {}
        self.event_waiters: dict[str, _Waiters] = collections.defaultdict(_Waiters)
        self.variables: dict[str, tuple[Any, list[str]]] = {}
        self.datasets: dict[str, tuple[Any, list[str]]] = {}  # published: live until unpublished
        self.variable_waiters: dict[str, _Waiters] = collections.defaultdict(_Waiters)
        self.leases: dict[str, dict[str, str]] = collections.defaultdict(dict)  # name -> lease id -> client
        self.closed_semaphores: set[str] = set()  # closed: acquires fail until a new handle makes it again
        self.lease_waiters: dict[str, _Waiters] = collections.defaultdict(_Waiters)
        self._item_ids = iter(range(1, 1 << 62))
        self.bounds: dict[str, dict[str, int]] = {}  # kind -> name -> maxsize / max_leases
        # MultiLock (dask's MultiLockExtension; its names are not Lock's): each name's queue of MultiLock
        # ids, the first holding it; what each id asked for, how many it still needs, whose it is.
        self.multi_queues: dict[str, list[str]] = {}
        self.multi_requests: dict[str, set[str]] = {}
        self.multi_left: dict[str, int] = {}
        self.multi_owner: dict[str, str] = {}  # MultiLock id -> client
        self.multi_waiters: dict[str, asyncio.Future] = {}

    # -- handles ------------------------------------------------------------
    def ref(self, client: str, kind: str, name: str, delta: int) -> None:
        """A client made (+1) or dropped (-1) a handle on a primitive; the last one gone drops its state."""
        counts = self.refs[(kind, name)]
        counts[client] += delta
        if counts[client] <= 0:
            del counts[client]
        if not counts:
            del self.refs[(kind, name)]
            self._drop_state(kind, name)
            self.bounds.get(kind, {}).pop(name, None)

    def _drop_state(self, kind: str, name: str) -> None:
        if kind == "queue" and not self.queue_getters.get(name) and not self.queue_putters.get(name):
            for holder, _, keys in self.queues.pop(name, ()):
                self.drop(holder, keys)
            self.queue_getters.pop(name, None)
            self.queue_putters.pop(name, None)
        elif kind == "variable" and not self.variable_waiters.get(name):
            self._unset_variable(name)
            self.variable_waiters.pop(name, None)
        elif kind == "event" and not self.event_waiters.get(name):
            self.events.pop(name, None)
            self.event_waiters.pop(name, None)
        elif kind == "lock" and name not in self.lock_holders and not self.lock_waiters.get(name):
            self.lock_waiters.pop(name, None)
        elif kind == "semaphore" and not self.leases.get(name) and not self.lease_waiters.get(name):
            self.leases.pop(name, None)
            self.lease_waiters.pop(name, None)

    def client_gone(self, client: str) -> None:
        """Forget a disconnected client's handles now; release its locks and leases after the lease timeout."""
        for key in [k for k, counts in self.refs.items() if client in counts]:
            self.ref(client, key[0], key[1], -self.refs[key][client])
        held = [n for n, (c, _) in self.lock_holders.items() if c == client]
        leased = [n for n, leases in self.leases.items() if client in leases.values()]
        for lock_id in [i for i, c in self.multi_owner.items() if c == client and i in self.multi_waiters]:
            self._multi_abandon(lock_id)  # a dead client's waiting MultiLock must never be granted
        held += [n for i, c in self.multi_owner.items() if c == client for n in sorted(self.multi_requests[i])]
        if held or leased:
            logger.warning("client %s left holding locks %s and semaphore leases on %s: releasing them in %g s",
                           client, held, leased, self.lease_timeout)
            asyncio.get_running_loop().call_later(self.lease_timeout, self._expire, client)

    def _expire(self, client: str) -> None:
        for name, (holder_client, holder) in list(self.lock_holders.items()):
            if holder_client == client:
                self.lock_release(client, name, holder)
        for name, leases in list(self.leases.items()):
            for lease_id, holder_client in list(leases.items()):
                if holder_client == client:
                    self.semaphore_release(client, name, lease_id)
        for lock_id in [i for i, c in self.multi_owner.items() if c == client]:
            self._multi_leave(lock_id)

    def settle_bound(self, kind: str, name: str, value: int) -> int:
        """The bound of queue or semaphore ``name``: the first handle's; 0 from a handle means "as set"."""
        bounds = self.bounds.setdefault(kind, {})
        if kind == "semaphore":
            self.closed_semaphores.discard(name)  # a new handle makes a closed semaphore anew
        if name not in bounds or not bounds[name]:
            bounds[name] = value
        elif value and value != bounds[name] and kind == "semaphore":
            raise ValueError(f"Semaphore({name!r}) exists with max_leases={bounds[name]}, not {value}")
        return bounds[name]

    # -- queues ---------------------------------------------------------------
    async def queue_put(self, client: str, name: str, blob: Any, keys: list[str], timeout: float | None) -> None:
        """Append an item; with a ``maxsize``, wait for room (TimeoutError after ``timeout``)."""
        maxsize = self.bounds.get("queue", {}).get(name, 0)
        queue = self.queues.setdefault(name, collections.deque())
        while maxsize and len(queue) >= maxsize:
            if not await _wait(self.queue_putters[name].add(client), timeout):
                raise TimeoutError(f"Queue({name!r}).put timed out after {timeout} s: the queue stayed full")
            queue = self.queues.setdefault(name, collections.deque())
        holder = f"queue:{name}:{next(self._item_ids)}"
        if keys:
            self.keep(holder, keys)
        queue.append((holder, blob, keys))
        self.queue_getters[name].wake_one()

    async def queue_get(self, client: str, name: str, timeout: float | None, batch: bool | int) -> Any:
        """Take one item (or ``batch`` items, or with ``batch=True`` all there are now)."""
        if batch is True:
            queue = self.queues.get(name) or collections.deque()
            return [self._take(client, name, queue) for _ in range(len(queue))]
        count = 1 if batch is False else int(batch)
        items: list = []
        while len(items) < count:
            queue = self.queues.get(name)
            if queue:
                items.append(queue.popleft())
                self.queue_putters[name].wake_one()
                continue
            if not await _wait(self.queue_getters[name].add(client), timeout):
                self.queues.setdefault(name, collections.deque()).extendleft(reversed(items))  # all or nothing
                raise TimeoutError(f"Queue({name!r}).get timed out after {timeout} s: the queue stayed empty")
        blobs = [self._hand_over(client, item) for item in items]
        return blobs if batch is not False else blobs[0]

    def _take(self, client: str, name: str, queue: collections.deque) -> Any:
        item = queue.popleft()
        self.queue_putters[name].wake_one()
        return self._hand_over(client, item)

    def _hand_over(self, client: str, item: tuple) -> Any:
        holder, blob, keys = item
        if keys:
            self.keep(client, keys)  # the getter holds them now...
            self.drop(holder, keys)  # ...and the queue no longer does
        return blob

    def queue_size(self, name: str) -> int:
        """Items waiting in the queue."""
        return len(self.queues.get(name) or ())

    def queue_put_nowait(self, name: str, blob: Any, keys: list[str]) -> None:
        """Append to an unbounded queue (a one-way message: the putter does not wait)."""
        holder = f"queue:{name}:{next(self._item_ids)}"
        if keys:
            self.keep(holder, keys)
        self.queues.setdefault(name, collections.deque()).append((holder, blob, keys))
        self.queue_getters[name].wake_one()

    # -- locks ------------------------------------------------------------------
    async def lock_acquire(self, client: str, name: str, holder: str, blocking: bool,
                           timeout: float | None) -> bool:
        """Take the lock for (client, holder); wait unless ``blocking`` is False. True if taken."""
        if name not in self.lock_holders:
            self.lock_holders[name] = (client, holder)
            return True
        if not blocking:
            return False
        return await _wait(self.lock_waiters[name].add(client, holder), timeout)

    def lock_release(self, client: str, name: str, holder: str) -> None:
        """Release; ValueError unless (client, holder) holds it. The next waiter gets it."""
        if self.lock_holders.get(name) != (client, holder):
            raise ValueError(f"Lock({name!r}) is not held by this Lock object: acquire it before releasing")
        del self.lock_holders[name]

        def grant(waiter: str, waiter_holder: str) -> bool:
            if not self.alive(waiter):
                return False
            self.lock_holders[name] = (waiter, waiter_holder)  # handed over: nobody can slip in between
            return True
        if not self.lock_waiters[name].wake_one(grant=grant) and ("lock", name) not in self.refs:
            self._drop_state("lock", name)

    def lock_locked(self, name: str) -> bool:
        """Whether someone holds the lock."""
        return name in self.lock_holders

    # -- events -----------------------------------------------------------------
    def event_set(self, name: str) -> None:
        """Set the flag and wake every waiter."""
        self.events[name] = True
        self.event_waiters[name].wake_all()

    def event_clear(self, name: str) -> None:
        """Clear the flag."""
        self.events[name] = False

    def event_is_set(self, name: str) -> bool:
        """Whether the flag is set."""
        return self.events.get(name, False)

    async def event_wait(self, client: str, name: str, timeout: float | None) -> bool:
        """Wait until the flag is set; False after ``timeout``."""
        if self.events.get(name):
            return True
        return await _wait(self.event_waiters[name].add(client), timeout)

    # -- variables --------------------------------------------------------------
    def variable_set(self, name: str, blob: Any, keys: list[str]) -> None:
        """Store a value (futures inside it stay alive until it is replaced or deleted)."""
        holder = f"variable:{name}"
        if keys:
            self.keep(holder, keys)
        self._unset_variable(name)
        self.variables[name] = (blob, keys)
        self.variable_waiters[name].wake_all()

    async def variable_get(self, client: str, name: str, timeout: float | None) -> Any:
        """The value; waits until one is set (TimeoutError after ``timeout``)."""
        while name not in self.variables:
            if not await _wait(self.variable_waiters[name].add(client), timeout):
                raise TimeoutError(f"Variable({name!r}).get timed out after {timeout} s: no value was set")
        blob, keys = self.variables[name]
        if keys:
            self.keep(client, keys)
        return blob

    def variable_delete(self, name: str) -> None:
        """Remove the value."""
        self._unset_variable(name)

    def _unset_variable(self, name: str) -> None:
        old = self.variables.pop(name, None)
        if old is not None and old[1]:
            self.drop(f"variable:{name}", old[1])

    # -- published datasets -----------------------------------------------------
    def dataset_publish(self, names: list[str], blobs: list[Any], keys: list[list[str]], override: bool) -> None:
        """Publish values under names (futures inside them stay alive until unpublished)."""
        taken = [name for name in names if name in self.datasets]
        if taken and not override:
            raise KeyError(f"dataset {taken[0]!r} already exists: unpublish it first, or publish with "
                           f"override=True")
        for name, blob, ks in zip(names, blobs, keys):
            self._unpublish(name)
            if ks:
                self.keep(f"dataset:{name}", ks)
            self.datasets[name] = (blob, ks)

    def dataset_get(self, client: str, name: str) -> Any:
        """The value published under ``name``; KeyError if there is none."""
        if name not in self.datasets:
            raise KeyError(f"no dataset {name!r}: published are {sorted(self.datasets)}")
        blob, keys = self.datasets[name]
        if keys:
            self.keep(client, keys)
        return blob

    def dataset_names(self) -> list[str]:
        """The published names, sorted."""
        return sorted(self.datasets)

    def dataset_unpublish(self, name: str) -> None:
        """Remove ``name``; KeyError if it is not published."""
        if name not in self.datasets:
            raise KeyError(f"no dataset {name!r}: published are {sorted(self.datasets)}")
        self._unpublish(name)

    def _unpublish(self, name: str) -> None:
        old = self.datasets.pop(name, None)
        if old is not None and old[1]:
            self.drop(f"dataset:{name}", old[1])

    # -- semaphores -------------------------------------------------------------
    async def semaphore_acquire(self, client: str, name: str, lease_id: str, timeout: float | None) -> bool:
        """Take a lease if fewer than ``max_leases`` are out; wait otherwise. True if taken."""
        if name in self.closed_semaphores:
            raise RuntimeError(_closed(name))
        max_leases = self.bounds.get("semaphore", {}).get(name, 1)
        leases = self.leases[name]
        if len(leases) < max_leases:
            leases[lease_id] = client
            return True
        return await _wait(self.lease_waiters[name].add(client, lease_id), timeout)

    def semaphore_release(self, client: str, name: str, lease_id: str) -> None:
        """Give a lease back; the next waiter may take it. ValueError for an unknown lease (none: the
        semaphore was closed, which dropped its leases)."""
        if name in self.closed_semaphores:
            return
        leases = self.leases.get(name, {})
        if leases.pop(lease_id, None) is None:
            raise ValueError(f"Semaphore({name!r}): release() without a matching acquire()")

        def grant(waiter: str, waiter_lease: str) -> bool:
            if not self.alive(waiter):
                return False
            leases[waiter_lease] = waiter
            return True
        if not self.lease_waiters[name].wake_one(grant=grant) and ("semaphore", name) not in self.refs:
            self._drop_state("semaphore", name)  # the last lease of a name nobody holds a handle on

    def semaphore_close(self, name: str) -> None:
        """Close semaphore ``name``: its leases are dropped, its waiters and later acquires get
        RuntimeError (as dask's ``Semaphore.close``)."""
        self.closed_semaphores.add(name)
        self.leases.pop(name, None)
        self.bounds.get("semaphore", {}).pop(name, None)
        waiters = self.lease_waiters.pop(name, None)
        if waiters is not None:
            waiters.fail_all(RuntimeError(_closed(name)))

    def semaphore_value(self, name: str) -> int:
        """How many leases are out."""
        return len(self.leases.get(name) or ())

    # -- multi-locks ------------------------------------------------------------
    async def multi_lock_acquire(self, client: str, names: list[str], lock_id: str, timeout: float | None,
                                 num_locks: int | None) -> bool:
        """Take ``num_locks`` (default: all) of the locks ``names`` for MultiLock ``lock_id`` at once, as
        dask's: the request joins each name's queue in one step; the first of a queue holds that name, and
        the request is granted once it holds ``num_locks`` names. True if taken; False after ``timeout``
        (0: do not wait), and then it holds none of them."""
        names = list(dict.fromkeys(names))
        needed = len(names) if num_locks is None else num_locks
        if not 1 <= needed <= len(names):
            raise ValueError(f"MultiLock({names!r}).acquire(num_locks={num_locks!r}): num_locks must be between "
                             f"1 and the number of names, {len(names)}")
        if lock_id in self.multi_requests:
            raise ValueError(f"MultiLock({names!r}) already holds or waits for its locks: release() it before "
                             f"acquiring again")
        self.multi_requests[lock_id] = set()
        self.multi_left[lock_id] = needed
        self.multi_owner[lock_id] = client
        for name in sorted(names, key=lambda n: len(self.multi_queues.get(n, ()))):  # free names first
            queue = self.multi_queues.setdefault(name, [])
            queue.append(lock_id)
            self.multi_requests[lock_id].add(name)
            if len(queue) == 1:
                self.multi_left[lock_id] -= 1
                if not self.multi_left[lock_id]:
                    return True  # the names not reached yet were never asked for
        fut = asyncio.get_running_loop().create_future()
        self.multi_waiters[lock_id] = fut
        granted = False
        try:
            granted = await _wait(fut, timeout)
            return granted
        finally:
            if self.multi_waiters.get(lock_id) is fut:
                del self.multi_waiters[lock_id]
            if not granted:
                self._multi_leave(lock_id)

    def multi_lock_release(self, client: str, lock_id: str) -> None:
        """Release every lock MultiLock ``lock_id`` holds; the next in each queue moves up. ValueError if it
        holds none."""
        if self.multi_owner.get(lock_id) != client or self.multi_left.get(lock_id) != 0:
            raise ValueError("this MultiLock is not acquired: acquire() it before release()")
        self._multi_leave(lock_id)

    def _multi_leave(self, lock_id: str) -> None:
        """``lock_id`` leaves every queue it is in (released, timed out, or its client gone); whoever
        then holds all it needs is granted."""
        names = self.multi_requests.pop(lock_id, None)
        if names is None:
            return
        del self.multi_left[lock_id]
        self.multi_owner.pop(lock_id, None)
        ready = []
        for name in names:
            queue = self.multi_queues[name]
            if queue[0] == lock_id:
                queue.pop(0)
                if queue:
                    self.multi_left[queue[0]] -= 1
                    if not self.multi_left[queue[0]]:
                        ready.append(queue[0])
            else:
                queue.remove(lock_id)
            if not queue:
                del self.multi_queues[name]
        for waiter in ready:
            self._multi_grant(waiter)

    def _multi_grant(self, lock_id: str) -> None:
        """``lock_id`` holds all it needs: it leaves the queues where it is not first (it will never need
        those names), and its ``acquire`` returns."""
        for name in list(self.multi_requests[lock_id]):
            queue = self.multi_queues[name]
            if queue[0] != lock_id:
                queue.remove(lock_id)
                self.multi_requests[lock_id].discard(name)
        fut = self.multi_waiters.get(lock_id)
        if fut is not None and not fut.done():
            fut.set_result(True)

    def _multi_abandon(self, lock_id: str) -> None:
        """A waiting MultiLock whose client is gone: out of every queue now; its ``acquire`` fails."""
        fut = self.multi_waiters.pop(lock_id, None)
        self._multi_leave(lock_id)
        if fut is not None and not fut.done():
            fut.set_exception(RuntimeError("the client waiting for this MultiLock disconnected"))
