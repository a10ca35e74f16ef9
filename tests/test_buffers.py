"""Receive buffers: mapped before data arrives, reused only once nothing refers to them."""
import asyncio
import pickle

import numpy as np
import pytest

from jupyter_futures import Client
from jupyter_futures.protocol import buffers
from jupyter_futures.protocol.buffers import MIB, BufferPool

from procs import wait_until

SIZE = 4 * MIB


def array_on(buf) -> np.ndarray:
    """An array over ``buf`` the way a received frame builds one (pickle protocol 5, out of band)."""
    source = np.arange(len(buf) // 8, dtype=np.float64)
    frames = []
    header = pickle.dumps(source, protocol=5, buffer_callback=frames.append)
    memoryview(buf)[:] = frames[0].raw()
    return pickle.loads(header, buffers=[buf])


def test_small_parts_get_plain_bytearrays_outside_the_pool():
    pool = BufferPool()
    buf = pool.take(1000)
    assert isinstance(buf, bytearray) and len(buf) == 1000
    assert pool.stats()["mapped"] == 0


def test_a_buffer_is_reused_once_the_array_over_it_is_gone():
    pool = BufferPool()
    arr = array_on(pool.take(SIZE))
    assert arr[123] == 123.0
    second = pool.take(SIZE)
    assert pool.reused == 0 and pool.stats()["mapped"] == 2  # the live array keeps its buffer
    memoryview(second)[:] = b"\xff" * SIZE
    assert arr[123] == 123.0 and arr[-1] == SIZE // 8 - 1
    del arr, second
    pool.take(SIZE)
    assert pool.reused == 1 and pool.stats()["mapped"] == 2


def test_a_larger_free_buffer_serves_a_smaller_part_as_an_exact_view():
    pool = BufferPool()
    pool.take(2 * SIZE)
    part = pool.take(SIZE + 8)
    assert pool.reused == 1 and len(part) == SIZE + 8
    arr = array_on(part)
    assert pool.stats()["free"] == 0  # the view over it counts as a user
    del arr, part
    assert pool.stats()["free"] == 1
    pool.take(SIZE // 4)  # far smaller: not worth holding twice its size
    assert pool.reused == 1


def test_free_buffers_over_the_limit_are_unmapped_before_a_new_one():
    pool = BufferPool(limit=3 * SIZE)
    pool.take(SIZE), pool.take(SIZE + MIB), pool.take(SIZE + 2 * MIB)  # all dropped at once
    assert pool.stats()["free"] == 3
    pool.take(4 * SIZE)  # fits none: the free ones make room for it
    stats = pool.stats()
    assert stats["mapped"] == 1 and stats["mapped_bytes"] == 4 * SIZE


def test_trim_unmaps_idle_buffers_and_keeps_used_ones():
    pool = BufferPool()
    kept = array_on(pool.take(SIZE))
    pool.take(SIZE)
    assert pool.stats()["free"] == 1
    assert pool.trim(max_idle=0) == SIZE
    assert pool.stats() == {"mapped": 1, "free": 0, "mapped_bytes": SIZE, "free_bytes": 0, "reused": 0}
    assert kept[5] == 5.0


def test_the_event_loop_trims_idle_buffers_by_itself():
    pool = BufferPool(idle_seconds=0.05)

    async def main():
        pool.take(SIZE)
        for _ in range(200):
            if not pool.stats()["mapped"]:
                return True
            await asyncio.sleep(0.01)
        return False

    assert asyncio.run(main())


def test_a_bad_pool_size_in_the_environment_names_the_variable(monkeypatch):
    monkeypatch.setenv("JUPYTER_FUTURES_BUFFER_POOL_BYTES", "lots")
    with pytest.raises(ValueError, match="JUPYTER_FUTURES_BUFFER_POOL_BYTES='lots'.*integer"):
        buffers.limit_from_environment()


def pool_stats():
    return buffers.pool.stats()


def worker_pool(client) -> dict:
    """The buffer pool figures of the cluster's one worker."""
    (stats,) = client.run(pool_stats).values()
    return stats


def add(x, y):
    return x + y


def test_scattered_arrays_reuse_released_buffers_and_keep_live_ones_intact():
    n = 3 * MIB // 8
    with Client(n_workers=1, threads_per_worker=1) as client:
        first = client.scatter(np.full(n, 1.0))
        second = client.scatter(np.full(n, 2.0))  # the first is alive: needs a buffer of its own
        assert client.submit(add, first, 0).result(timeout=30)[::1000].tolist() == [1.0] * len(range(0, n, 1000))
        before = worker_pool(client)
        del second
        assert wait_until(lambda: worker_pool(client)["free"] >= 1)
        third = client.scatter(np.full(n, 3.0))
        after = worker_pool(client)
        assert after["reused"] > before["reused"]
        assert np.all(client.gather(first) == 1.0) and np.all(client.gather(third) == 3.0)
        result = client.gather(client.submit(add, third, 1))
        assert np.all(result == 4.0)
