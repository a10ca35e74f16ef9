"""``MultiLock``: several named locks taken at once, as ``distributed.MultiLock``.

The first tests drive the scheduler's side (``Coordination.multi_lock_*``) on an event loop of their
own, without sockets; the rest use the shared 2-worker cluster (conftest's ``client``), from the client
and from tasks. Tasks that must not overlap record ``time.monotonic()`` (one clock for every process of
this machine) on entering and leaving their section.
"""
import asyncio
import os
import pickle
import time
import uuid

import pytest

import jupyter_futures
from jupyter_futures import Client, Lock, MultiLock
from jupyter_futures.scheduler.coordination import Coordination

from procs import TIMEOUT, wait_until

SHORT = 0.3  # seconds to wait for something that must not happen

pytestmark = pytest.mark.timeout(120)


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# -- the scheduler's side, without sockets ---------------------------------------------------------
def coordination(alive=lambda client: True, lease_timeout=0.05):
    return Coordination(lambda *a: None, lambda *a: None, alive, lease_timeout=lease_timeout)


def run(coro_fn):
    return asyncio.run(asyncio.wait_for(coro_fn(), TIMEOUT))


def test_a_multilock_waits_until_every_name_is_free_then_holds_them_all():
    async def main():
        co = coordination()
        assert await co.multi_lock_acquire("c1", ["a"], "first", None, None) is True
        waiting = asyncio.ensure_future(co.multi_lock_acquire("c2", ["a", "b"], "second", None, None))
        await asyncio.sleep(0)
        assert not waiting.done()
        assert co.multi_queues == {"a": ["first", "second"], "b": ["second"]}  # holds b while it waits for a
        # A third request queues behind the second on b: it waits, though a is free for it later.
        third = asyncio.ensure_future(co.multi_lock_acquire("c3", ["b"], "third", None, None))
        await asyncio.sleep(0)
        co.multi_lock_release("c1", "first")
        assert await waiting is True
        assert not third.done()
        co.multi_lock_release("c2", "second")
        assert await third is True
        co.multi_lock_release("c3", "third")
        assert co.multi_queues == {} and co.multi_requests == {} and co.multi_left == {}
    run(main)


def test_a_multilock_that_times_out_holds_none_of_its_names():
    async def main():
        co = coordination()
        assert await co.multi_lock_acquire("c1", ["a"], "holder", None, None)
        assert await co.multi_lock_acquire("c2", ["a", "b"], "late", 0.05, None) is False
        assert await co.multi_lock_acquire("c2", ["a", "b"], "nowait", 0, None) is False
        assert co.multi_queues == {"a": ["holder"]}
        assert await co.multi_lock_acquire("c3", ["b"], "other", 0, None) is True
    run(main)


def test_num_locks_takes_the_free_names_first_and_drops_the_rest_once_granted():
    async def main():
        co = coordination()
        assert await co.multi_lock_acquire("c1", ["p"], "holder", None, None)
        assert await co.multi_lock_acquire("c2", ["p", "q"], "one", None, 1) is True
        assert co.multi_requests["one"] == {"q"}  # p, busy, was never asked for
        assert await co.multi_lock_acquire("c3", ["p", "q"], "any", 0, 1) is False
        waiting = asyncio.ensure_future(co.multi_lock_acquire("c3", ["p", "q"], "any", None, 1))
        await asyncio.sleep(0)
        co.multi_lock_release("c1", "holder")
        assert await waiting is True
        assert co.multi_queues == {"p": ["any"], "q": ["one"]}  # granted p, it left q's queue
    run(main)


def test_bad_requests_and_releases_are_refused_with_the_reason():
    async def main():
        co = coordination()
        with pytest.raises(ValueError, match="num_locks must be between 1 and the number of names, 2"):
            await co.multi_lock_acquire("c1", ["a", "b"], "x", None, 3)
        assert await co.multi_lock_acquire("c1", ["a"], "x", None, None)
        with pytest.raises(ValueError, match="already holds or waits"):
            await co.multi_lock_acquire("c1", ["a"], "x", None, None)
        with pytest.raises(ValueError, match="not acquired"):
            co.multi_lock_release("c2", "x")  # another client's id
        with pytest.raises(ValueError, match="not acquired"):
            co.multi_lock_release("c1", "unknown")
    run(main)


def test_a_gone_clients_waiting_multilock_is_dropped_at_once_and_its_held_one_after_the_lease():
    async def main():
        co = coordination(lease_timeout=0.05)
        assert await co.multi_lock_acquire("dead", ["a"], "held", None, None)
        assert await co.multi_lock_acquire("live", ["b"], "b-holder", None, None)
        dead_waiting = asyncio.ensure_future(co.multi_lock_acquire("dead", ["b", "c"], "waiting", None, None))
        live_waiting = asyncio.ensure_future(co.multi_lock_acquire("live", ["a", "c"], "live", None, None))
        await asyncio.sleep(0)
        co.client_gone("dead")
        with pytest.raises(RuntimeError, match="disconnected"):
            await dead_waiting
        assert "waiting" not in co.multi_requests
        assert not live_waiting.done()  # "dead" still holds a until its lease runs out
        assert await live_waiting is True
        assert co.multi_queues == {"a": ["live"], "b": ["b-holder"], "c": ["live"]}
    run(main)


# -- on a cluster ----------------------------------------------------------------------------------
def multilocked_interval(names, hold=0.05):
    """A task body: hold the MultiLock of ``names`` for ``hold`` s; returns (start, stop, pid)."""
    with MultiLock(names):
        start = time.monotonic()
        time.sleep(hold)
        stop = time.monotonic()
    return start, stop, os.getpid()


def try_multilock(names, blocking, timeout=None, num_locks=None):
    """A task body: (taken, seconds waited) of acquiring a MultiLock of ``names`` (released at once)."""
    lock = MultiLock(names)
    t0 = time.monotonic()
    taken = lock.acquire(blocking=blocking, timeout=timeout, num_locks=num_locks)
    waited = time.monotonic() - t0
    if taken:
        lock.release()
    return taken, waited


def test_multilock_is_exported_from_the_package_top_level():
    assert jupyter_futures.MultiLock is MultiLock
    assert "MultiLock" in jupyter_futures.__all__


def test_multilock_api_from_the_client(client):
    a, b, c = unique("a"), unique("b"), unique("c")
    lock = MultiLock([a, b])
    assert lock.locked() is False
    assert lock.acquire() is True
    assert lock.locked() is True
    other = MultiLock([b, c])
    assert other.acquire(blocking=False) is False
    assert other.locked() is False
    t0 = time.monotonic()
    assert other.acquire(timeout=0.2) is False
    assert time.monotonic() - t0 >= 0.19
    assert MultiLock([c]).acquire(blocking=False) is True  # the timed-out request kept nothing
    lock.release()
    assert lock.locked() is False
    with pytest.raises(ValueError, match="not yet acquired"):
        lock.release()
    with MultiLock([a, b]) as held:
        assert held.locked() is True
        assert MultiLock([b]).acquire(blocking=False) is False
    assert MultiLock([a, b]).acquire(blocking=False) is True


def test_multilock_names_are_not_locks_names(client):
    name = unique("shared")
    with MultiLock([name]):
        lock = Lock(name)
        assert lock.acquire(blocking=False) is True  # as in dask: two separate namespaces
        lock.release()


def test_multilock_refuses_bad_arguments_with_the_fix(client):
    with pytest.raises(ValueError, match="can't specify a timeout for a non-blocking call"):
        MultiLock([unique("a")]).acquire(blocking=False, timeout=1)
    with pytest.raises(ValueError, match="has no names to lock"):
        MultiLock().acquire()
    with pytest.raises(ValueError, match="num_locks=3.*from 1 to 2"):
        MultiLock([unique("a"), unique("b")]).acquire(num_locks=3)
    with pytest.raises(TypeError, match="names must be a list of str"):
        MultiLock([1, 2])


def test_num_locks_of_a_multilock_takes_any_free_ones(client):
    p, q = unique("p"), unique("q")
    holder = MultiLock([p])
    assert holder.acquire()
    some = MultiLock([p, q])
    assert some.acquire(num_locks=1, timeout=5) is True
    assert MultiLock([q]).acquire(blocking=False) is False  # it took q
    holder.release()
    assert MultiLock([p]).acquire(blocking=False) is True
    some.release()


def test_tasks_sharing_a_name_never_overlap(client):
    a, b, c = unique("a"), unique("b"), unique("c")
    futures = [client.submit(multilocked_interval, [a, b] if i % 2 else [b, c], pure=False) for i in range(8)]
    intervals = sorted(client.gather(futures))
    for (s1, e1, _), (s2, e2, _) in zip(intervals, intervals[1:]):
        assert e1 <= s2, f"two holders of {b} at once: {(s1, e1)} and {(s2, e2)}"
    assert len({pid for _, _, pid in intervals}) == 2, "both workers should have taken the locks"


def test_a_multilock_held_by_the_client_is_seen_from_tasks(client):
    a, b = unique("a"), unique("b")
    lock = MultiLock([a, b])
    assert lock.acquire()
    taken, _ = client.submit(try_multilock, [b], False, pure=False).result(timeout=TIMEOUT)
    assert taken is False
    taken, waited = client.submit(try_multilock, [a, b], True, 0.2, pure=False).result(timeout=TIMEOUT)
    assert taken is False and waited >= 0.19
    waiter = client.submit(try_multilock, [a, unique("c")], True, pure=False)
    assert not wait_until(waiter.done, SHORT)
    released_at = time.monotonic()
    lock.release()
    taken, _ = waiter.result(timeout=TIMEOUT)
    assert taken is True and time.monotonic() >= released_at


def test_a_multilock_passed_into_a_task_locks_the_same_names(client):
    a, b = unique("a"), unique("b")
    lock = MultiLock([a, b])
    copy = pickle.loads(pickle.dumps(lock))
    assert copy.names == [a, b] and copy.id != lock.id and copy.locked() is False
    assert lock.acquire()
    taken, _ = client.submit(lambda m: (m.acquire(blocking=False), 0), lock, pure=False).result(timeout=TIMEOUT)
    assert taken is False  # the task's copy is another holder of the same names
    lock.release()


def test_an_asynchronous_client_awaits_its_multilock(client):
    address = client.scheduler_address
    a, b = unique("a"), unique("b")

    async def main():
        async with Client(address, asynchronous=True) as c:
            lock = MultiLock([a, b], client=c)
            assert await lock.acquire() is True
            assert lock.locked() is True
            assert await MultiLock([b], client=c).acquire(blocking=False) is False
            await lock.release()
            assert lock.locked() is False
            async with MultiLock([a, b], client=c) as held:
                assert held.locked() is True
    asyncio.run(asyncio.wait_for(main(), TIMEOUT * 2))
    assert MultiLock([a, b]).acquire(blocking=False) is True
