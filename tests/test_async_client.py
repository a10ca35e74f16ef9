"""Integration tests of the asynchronous API: ``Client(asynchronous=True)`` used with ``await``.

pytest-asyncio is not installed: each test is a plain function that drives its
coroutine with ``asyncio.run``. Most tests connect an asynchronous client to one
cluster shared by the module (2 workers x 1 thread, started synchronously); a few
start their own cluster with ``Client(asynchronous=True, n_workers=2, ...)``.
"""
import asyncio
import gc
import os
import traceback

import pytest

from jupyter_futures import (
    ALL_COMPLETED,
    FIRST_COMPLETED,
    CancelledError,
    Client,
    ClientClosedError,
    Future,
    LocalCluster,
    TimeoutError,
    as_completed,
    fire_and_forget,
    wait,
)

from procs import Gate, blocked

TIMEOUT = 20  # seconds; any wait longer than this is a bug, not a slow machine
SHORT = 0.3

pytestmark = pytest.mark.timeout(60)


# --------------------------------------------------------------------------- task functions


async def async_wait_until(predicate, timeout=TIMEOUT, interval=0.005):
    """``wait_until`` for the client side of async tests: ``predicate`` may be a coroutine function."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout

    async def check():
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        return bool(value)

    while not await check():
        if loop.time() > deadline:
            return await check()
        await asyncio.sleep(interval)
    return True


class MyAsyncError(Exception):
    pass


def inc(x):
    return x + 1


def add(x, y):
    return x + y


def fail_with(message):
    raise MyAsyncError(message)


def make_bytes(n):
    return b"x" * n


def echo(*args, **kwargs):
    return args, kwargs


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1) as c:
        yield c


@pytest.fixture
def gates(tmp_path):
    made = []

    def make():
        g = Gate(tmp_path / f"gate{len(made)}")
        made.append(g)
        return g

    yield make
    for g in made:
        g.open()


def run(coro_fn, address, *args):
    """``asyncio.run`` a test body given an asynchronous client connected to ``address``."""

    async def main():
        async with Client(address, asynchronous=True) as c:
            assert c.status == "running"
            await asyncio.wait_for(coro_fn(c, *args), TIMEOUT * 2)
        assert c.status == "closed"

    asyncio.run(main())


async def drain(c):
    """Wait until no task is processing on any worker (after gates open)."""
    async def idle():
        info = await c.scheduler_info()
        return all(w["processing"] == 0 for w in info["workers"].values())

    assert await async_wait_until(idle, timeout=10)


# --------------------------------------------------------------------------- own clusters


def test_async_with_own_cluster():
    async def main():
        async with Client(asynchronous=True, n_workers=2, threads_per_worker=1) as c:
            assert c.status == "running"
            nthreads = await c.nthreads()
            assert sorted(nthreads.values()) == [1, 1]
            f = c.submit(inc, 1)
            assert isinstance(f, Future)
            assert await f == 2
            assert await c.submit(add, 2, 3) == 5
            assert await f.result() == 2
            fs = c.map(inc, range(5))
            assert await c.gather(fs) == [1, 2, 3, 4, 5]
            cluster = c.cluster
        assert c.status == "closed"
        assert cluster.status == "closed"

    asyncio.run(asyncio.wait_for(main(), TIMEOUT * 2))


def test_await_client_then_close():
    async def main():
        client = Client(asynchronous=True, n_workers=2, threads_per_worker=1)
        assert client.status == "newly-created"
        with pytest.raises(RuntimeError, match="await"):
            client.submit(inc, 1)
        same = await client
        assert same is client
        assert client.status == "running"
        assert await client.submit(inc, 10) == 11
        info = await client.scheduler_info()
        assert len(info["workers"]) == 2
        assert all(w["nthreads"] == 1 for w in info["workers"].values())
        cluster = client.cluster
        await client.close()
        assert client.status == "closed"
        assert cluster.status == "closed"
        with pytest.raises(ClientClosedError, match="closed"):
            client.submit(inc, 1)

    asyncio.run(asyncio.wait_for(main(), TIMEOUT * 2))


def test_async_client_on_existing_cluster_object(cluster):
    async def main():
        async with Client(cluster, asynchronous=True) as c:
            assert await c.submit(add, 20, 22) == 42
        # Closing a client that did not start the cluster leaves the cluster running.
        assert cluster.status == "running"

    asyncio.run(asyncio.wait_for(main(), TIMEOUT))


# --------------------------------------------------------------------------- shared cluster


def test_submit_await_and_keys(cluster):
    async def body(c):
        f = c.submit(add, 1, 2, key="async-explicit")
        assert f.key == "async-explicit"
        assert await f == 3
        assert f.status == "finished" and f.done()
        g1 = c.submit(inc, 100)
        g2 = c.submit(inc, 100)
        assert g1.key == g2.key and g1.key.startswith("inc-")
        assert c.submit(inc, 100, pure=False).key != g1.key
        assert await g2 == 101
        nested = c.submit(echo, [g1, (f, {"k": g2})], kw={"s": {f}})
        assert await nested == (([101, (3, {"k": 101})],), {"kw": {"s": {3}}})

    run(body, cluster.scheduler_address)


def test_await_errors(cluster):
    async def body(c):
        f = c.submit(fail_with, "async boom")
        with pytest.raises(MyAsyncError, match="async boom"):
            await f
        exc = await f.exception()
        assert isinstance(exc, MyAsyncError) and str(exc) == "async boom"
        tb = await f.traceback()
        assert "fail_with" in "".join(traceback.format_tb(tb))
        assert f.status == "error"
        dependent = c.submit(inc, f)
        with pytest.raises(MyAsyncError, match="async boom"):
            await dependent
        ok = c.submit(inc, 1)
        assert await ok.exception() is None

    run(body, cluster.scheduler_address)


def test_await_result_timeout(cluster, gates):
    async def body(c):
        gate = gates()
        f = c.submit(blocked, gate.started, gate.path, "v", pure=False)
        assert await async_wait_until(gate.has_started), "the blocked task never started"
        assert await async_wait_until(lambda: f.status == "running")
        with pytest.raises(TimeoutError):
            await f.result(timeout=SHORT)
        assert not f.done()
        gate.open()
        assert await f.result(timeout=TIMEOUT) == "v"

    run(body, cluster.scheduler_address)


def test_gather_async(cluster):
    async def body(c):
        fs = c.map(inc, range(4))
        assert await c.gather({"a": [fs[0], fs[1]], "b": (fs[2], fs[3])}) == {"a": [1, 2], "b": (3, 4)}
        assert await c.gather(fs[0]) == 1
        bad = c.submit(fail_with, "gather")
        with pytest.raises(MyAsyncError, match="gather"):
            await c.gather([fs[0], bad])
        assert await c.gather([fs[0], bad, fs[1]], errors="skip") == [1, 2]
        big = c.map(make_bytes, [2_000_000, 2_000_001])  # too large to travel with the "finished" message
        assert [len(b) for b in await c.gather(big)] == [2_000_000, 2_000_001]
        assert len(await big[0]) == 2_000_000

    run(body, cluster.scheduler_address)


def test_scatter_async(cluster):
    async def body(c):
        workers = sorted(await c.nthreads())
        one = await c.scatter(12345)
        assert isinstance(one, Future)
        assert await one == 12345
        many = await c.scatter([1, 2, 3])
        assert isinstance(many, list) and len(many) == 3
        assert await c.gather(many) == [1, 2, 3]
        named = await c.scatter({"async-x": 1, "async-y": 2})
        assert set(named) == {"async-x", "async-y"} and named["async-x"].key == "async-x"
        assert await c.gather(named) == {"async-x": 1, "async-y": 2}
        everywhere = await c.scatter("everywhere", broadcast=True)
        assert sorted((await c.who_has([everywhere]))[everywhere.key]) == workers
        there = await c.scatter("there", workers=[workers[1]])
        assert (await c.who_has([there]))[there.key] == [workers[1]]
        assert (await c.scatter("h")).key == (await c.scatter("h")).key
        assert (await c.scatter("h", hash=False)).key != (await c.scatter("h", hash=False)).key
        assert await c.submit(add, one, many[0]) == 12346

    run(body, cluster.scheduler_address)


def test_as_completed_async_order(cluster, gates):
    async def body(c):
        gate = gates()
        slow = c.submit(blocked, gate.started, gate.path, "slow", pure=False)
        assert await async_wait_until(gate.has_started), "the blocked task never started"
        fast = c.submit(inc, 1, pure=False)
        order = []
        async for f in as_completed([slow, fast]):
            order.append(f)
            if f is fast:
                gate.open()
        assert order == [fast, slow]

    run(body, cluster.scheduler_address)


def test_as_completed_async_with_results(cluster):
    async def body(c):
        fs = c.map(inc, range(5))
        bad = c.submit(fail_with, "ac")
        results = {}
        async for f, r in as_completed(fs + [bad], with_results=True, raise_errors=False):
            results[f.key] = r
        assert {k: v for k, v in results.items() if k != bad.key} == {f.key: i + 1 for i, f in enumerate(fs)}
        assert isinstance(results[bad.key][1], MyAsyncError)  # dask's (type, exception, traceback)
        ac = as_completed([c.submit(inc, 7)])
        ac.add(c.submit(inc, 8))
        assert ac.count() == 2
        got = sorted([await f async for f in ac])
        assert got == [8, 9]
        assert ac.is_empty()

    run(body, cluster.scheduler_address)


def test_wait_async(cluster, gates):
    async def body(c):
        fs = c.map(inc, range(3))
        done, not_done = await wait(fs, timeout=TIMEOUT)
        assert done == set(fs) and not not_done
        res = await wait(fs, timeout=TIMEOUT, return_when=ALL_COMPLETED)
        assert res.done == set(fs)
        gate = gates()
        slow = c.submit(blocked, gate.started, gate.path, pure=False)
        assert await async_wait_until(gate.has_started), "the blocked task never started"
        fast = c.submit(inc, 5, pure=False)
        done, not_done = await wait([slow, fast], timeout=TIMEOUT, return_when=FIRST_COMPLETED)
        assert fast in done and slow in not_done
        with pytest.raises(TimeoutError):
            await wait([slow], timeout=SHORT)
        gate.open()
        done, not_done = await wait([slow], timeout=TIMEOUT)
        assert done == {slow}

    run(body, cluster.scheduler_address)


def test_cancel_async(cluster, gates):
    async def body(c):
        gate = gates()
        f = c.submit(blocked, gate.started, gate.path, pure=False)
        assert await async_wait_until(gate.has_started), "the blocked task never started"
        await c.cancel([f])
        assert f.cancelled()
        assert f.status == "cancelled"
        with pytest.raises(CancelledError):
            await f
        assert f.key not in await c.who_has()
        gate.open()
        await drain(c)

    run(body, cluster.scheduler_address)


def test_introspection_async(cluster):
    async def body(c):
        nthreads = await c.nthreads()
        workers = sorted(nthreads)
        assert nthreads == {w: 1 for w in workers}
        f = c.submit(inc, 8080)
        assert await f == 8081
        wh = await c.who_has([f])
        assert wh[f.key][0] in workers
        hw = await c.has_what()
        assert f.key in hw[wh[f.key][0]]
        pids = await c.run(os.getpid)
        assert set(pids) == set(workers) and os.getpid() not in pids.values()
        sched_pid = await c.run_on_scheduler(os.getpid)
        assert sched_pid not in pids.values() and sched_pid != os.getpid()
        name = await c.run_on_scheduler(lambda dask_scheduler: type(dask_scheduler).__name__)
        assert name == "Scheduler"
        stream = await c.get_task_stream()
        assert f.key in {r["key"] for r in stream}

    run(body, cluster.scheduler_address)


def test_release_async(cluster):
    async def body(c):
        f = c.submit(inc, 9_000_009)
        key = f.key
        assert await f == 9_000_010
        assert key in await c.who_has()
        del f
        gc.collect()

        async def gone():
            return key not in await c.who_has()

        assert await async_wait_until(gone)

    run(body, cluster.scheduler_address)


async def settle_releases(c):
    """``procs.settle_releases`` for an asynchronous client: once a probe future dropped now is forgotten
    by the scheduler, every future dropped before it has reached the scheduler too."""
    probe = c.submit(os.getpid, pure=False)
    await probe
    key = probe.key
    del probe
    gc.collect()

    async def gone():
        return key not in await c.who_has()

    assert await async_wait_until(gone), "the probe future was never released"


def test_fire_and_forget_async(cluster, tmp_path, gates):
    out = str(tmp_path / "out")

    def write(path, _upstream):
        with open(path, "w") as fh:
            fh.write("written")
        return True

    async def body(c):
        gate = gates()
        upstream = c.submit(blocked, gate.started, gate.path, pure=False)
        f = c.submit(write, out, upstream, pure=False)  # waits on the scheduler for its input
        key = f.key
        fire_and_forget(f)
        del f
        gc.collect()
        await settle_releases(c)  # the scheduler knows the future is gone before the task can run
        gate.open()
        assert await async_wait_until(lambda: os.path.exists(out))

        async def gone():
            return key not in await c.who_has()

        assert await async_wait_until(gone)

    run(body, cluster.scheduler_address)
    with open(out) as fh:
        assert fh.read() == "written"


def test_add_done_callback_async(cluster):
    async def body(c):
        loop = asyncio.get_running_loop()
        called = asyncio.Event()
        seen = []

        def cb(fut):
            seen.append(fut)
            loop.call_soon_threadsafe(called.set)

        f = c.submit(inc, 31)
        f.add_done_callback(cb)
        await asyncio.wait_for(called.wait(), TIMEOUT)
        assert seen == [f]
        assert await f == 32

    run(body, cluster.scheduler_address)
