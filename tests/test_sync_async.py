"""dask's sync/async client rules: a blocking client's methods called on its own event loop thread (a
coroutine run by ``client.sync``, a ``subscribe`` callback), or given ``asynchronous=True``, return
awaitables; nothing blocks the client's own loop (a call that would is refused with the fix)."""
from __future__ import annotations

import asyncio
import threading

import pytest

from jupyter_futures import Client, Queue, Variable, as_completed, wait

from procs import TIMEOUT


def inc(x):
    return x + 1


def test_a_coroutine_run_by_client_sync_awaits_the_clients_methods(client):
    futures = client.map(inc, range(5), pure=False)

    async def evolve():  # dask-examples' evolving-workflows pattern
        assert client.asynchronous  # on the client's loop thread
        first = await client.gather(futures)
        more = client.submit(sum, futures)
        total = await more.result()
        done, _ = await wait([more])
        [scattered] = await client.scatter([7])
        return first, total, len(done), await scattered.result()

    assert client.sync(evolve) == ([1, 2, 3, 4, 5], 15, 1, 7)
    assert not client.asynchronous  # the calling thread blocks again


def test_client_sync_takes_arguments_plain_functions_and_a_callback_timeout(client):
    async def add(a, b=0):
        return a + b

    assert client.sync(add, 1, b=2) == 3
    assert client.sync(lambda: 5) == 5  # a function that returns a value, as dask's sync takes
    with pytest.raises(TimeoutError):
        client.sync(asyncio.sleep, 10, callback_timeout="50 ms")


def test_asynchronous_true_on_one_call_of_a_blocking_client_returns_an_awaitable_for_any_loop(client):
    futures = client.map(inc, range(3), pure=False)
    assert asyncio.run(client.gather(futures, asynchronous=True)) == [1, 2, 3]  # the main thread's own loop

    async def main():
        [f] = await client.scatter([10], asynchronous=True)
        q = Queue(client=client)
        await q.put(f.key, asynchronous=True)
        v = Variable(client=client)
        await v.set(42, asynchronous=True)
        return await q.get(asynchronous=True), await v.get(asynchronous=True), f
    key, value, f = asyncio.run(main())
    assert (key, value) == (f.key, 42)
    assert f.result(timeout=TIMEOUT) == 10  # and the client blocks again afterwards
    g = client.submit(inc, 1, pure=False)
    asyncio.run(client.cancel([g], asynchronous=True))
    assert g.status == "cancelled"


def test_a_blocking_call_on_the_clients_own_loop_is_refused_not_a_deadlock(client):
    f = client.submit(inc, 1, pure=False)

    async def blocks():
        return client.gather([f], asynchronous=False)
    with pytest.raises(ValueError, match=r"gather\(asynchronous=False\) on the client's own event loop thread.*await"):
        client.sync(blocks)

    async def nested():
        return client.sync(asyncio.sleep, 0, asynchronous=False)
    with pytest.raises(RuntimeError, match="own event loop thread would wait forever"):
        client.sync(nested)
    assert f.result(timeout=TIMEOUT) == 2  # the loop is still alive


def test_a_subscribe_callback_on_the_loop_thread_gets_awaitables_not_a_hang(client):
    seen = []
    f = client.submit(inc, 1, pure=False)
    f.result(timeout=TIMEOUT)
    done = threading.Event()

    def callback():  # runs on the loop thread: result() returns an awaitable there, as in dask
        value = f.result()
        seen.append(asyncio.iscoroutine(value))
        value.close()
        done.set()
    client.loop.call_soon_threadsafe(callback)
    assert done.wait(TIMEOUT) and seen == [True]


def test_an_asynchronous_client_awaits_as_before_and_as_completed_works_in_a_coroutine():
    async def main():
        async with Client(n_workers=1, threads_per_worker=1, asynchronous=True, set_as_default=False) as c:
            futures = c.map(inc, range(4))
            got = sorted([await f.result() async for f in _aiter(as_completed(futures))])
            return got, await c.gather(futures, asynchronous=True)
    assert asyncio.run(main()) == ([1, 2, 3, 4], [1, 2, 3, 4])


async def _aiter(ac):
    async for f in ac:
        yield f
