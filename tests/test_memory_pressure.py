"""Results worth 3x the workers' memory limits: all correct, no worker killed, nothing left on disk.

Values past a worker's ``spill`` share go to disk; reading them back (to a client, or as a task's input)
makes room first or streams them from disk, so no worker passes its ``terminate`` share (where its
nanny kills it). Thresholds are configurable and checked.
"""
import os

import pytest

from jupyter_futures import Client, LocalCluster, wait
from jupyter_futures.worker.memory import DEFAULT_THRESHOLDS, UNLIMITED_REPLY_BYTES, memory_thresholds, reply_bytes
from jupyter_futures.worker.process import parse_args
from jupyter_futures.worker.server import Worker
from jupyter_futures.worker.store import DataStore
from procs import TIMEOUT

pytestmark = pytest.mark.timeout(180)

LIMIT = 300 * 2**20
SIZE = 10 * 2**20
N = 180  # 180 x 10 MB = 1.8 GB = 3 x the two workers' 600 MB


def make(i, n):
    return bytes([i % 251]) * n


def first_byte(value):
    return value[0], len(value)


def spilled(dask_worker):
    return len(dask_worker.data.spilled)


def test_results_worth_three_times_the_memory_limits_are_all_read_back_and_no_worker_is_killed(tmp_path):
    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=LIMIT, local_directory=str(tmp_path)) \
            as cluster, Client(cluster) as client:
        client.wait_for_workers(2, timeout=TIMEOUT)
        pids = sorted(client.run(os.getpid).values())
        futures = [client.submit(make, i, SIZE) for i in range(N)]
        wait(futures, timeout=TIMEOUT)
        values = client.gather(futures)  # all at once
        assert all(v == make(i, SIZE) for i, v in enumerate(values))
        del values
        on_disk = client.run(spilled)
        assert sum(on_disk.values()) >= N // 2, on_disk  # most of them were on disk
        for i, fut in enumerate(futures):  # one at a time
            assert fut.result(timeout=TIMEOUT) == make(i, SIZE)
        # As inputs of other tasks: each is read back into a worker whose memory is full.
        assert client.gather(client.map(first_byte, futures)) == [(i % 251, SIZE) for i in range(N)]
        assert [n.restarts for n in cluster.workers] == [0, 0], [n.exit_reasons for n in cluster.workers]
        assert sorted(client.run(os.getpid).values()) == pids, [n.exit_reasons for n in cluster.workers]
        folders = [n.folder.path for n in cluster.workers]
        assert all(os.listdir(f) for f in folders)  # the spill files were in the nannies' folders
    assert os.listdir(tmp_path) == [], "spill files outlived the cluster"


def total_length(*values):
    return sum(len(v) for v in values)


def test_a_worker_answers_a_data_request_with_a_part_of_its_memory_limit_and_names_the_keys_left(tmp_path):
    assert reply_bytes(LIMIT) == LIMIT // 10 and reply_bytes(0) == UNLIMITED_REPLY_BYTES
    worker = Worker("tcp://127.0.0.1:1", "token", local_directory=str(tmp_path))
    worker.reply_bytes = 2500
    for key in "abcd":
        worker.data.put(key, key.encode() * 1000, 1000)
    values, rest = worker._rpc_get_data(None, ["a", "not-here", "b", "c", "d"])
    assert sorted(values) == ["a", "b"] and rest == ["c", "d"]
    values, rest = worker._rpc_get_data(None, ["c", "d"])
    assert sorted(values) == ["c", "d"] and rest == []
    worker.reply_bytes = 10  # one value is always sent, however large
    assert list(worker._rpc_get_data(None, ["d", "a"])[0]) == ["d"]
    worker.data.close()


def test_inputs_larger_than_a_reply_reach_a_task_on_another_worker_and_a_client_in_parts(tmp_path):
    size, n = 4 * 2**20, 8  # 32 MB of inputs; each worker replies with 10 MB at most
    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=100 * 2**20, local_directory=str(tmp_path),
                      memory_thresholds={"spill": None, "pause": None}) as cluster, Client(cluster) as client:
        client.wait_for_workers(2, timeout=TIMEOUT)
        a, b = sorted(client.scheduler_info()["workers"])
        futures = client.scatter([make(i, size) for i in range(n)], workers=[a])
        assert client.submit(total_length, *futures, workers=[b]).result(timeout=TIMEOUT) == n * size
        assert client.gather(futures) == [make(i, size) for i in range(n)]


def test_reading_a_spilled_value_back_makes_room_first(tmp_path):
    store = DataStore(1000, spill_fraction=0.5, local_dir=str(tmp_path))  # 500 bytes in memory at most
    for key in "abcd":
        store.put(key, key.encode() * 200, 200)
        assert store.fast_bytes <= 500
    assert set(store.spilled) == {"a", "b"}
    assert store.get("a") == b"a" * 200  # loaded back: the least recently used went to disk first
    assert store.fast_bytes <= 500 and "a" in store.fast and "c" in store.spilled
    # Sending a spilled value reads its file as it is; it stays on disk.
    from jupyter_futures.protocol import serialize

    assert serialize.loads(store.serialized("b")) == b"b" * 200 and "b" in store.spilled
    # A value larger than the target is read from disk each time, never kept in memory.
    store.put("big", b"x" * 600, 600)
    assert "big" in store.spilled and store.fast_bytes <= 500
    assert store.get("big") == b"x" * 600 and "big" in store.spilled and store.fast_bytes <= 500
    store.close()
    assert os.listdir(tmp_path) == []


def test_memory_thresholds_are_configurable_and_checked(tmp_path):
    with LocalCluster(n_workers=1, memory_limit=LIMIT, memory_thresholds={"spill": 0.3, "pause": None},
                      local_directory=str(tmp_path)) as cluster, Client(cluster) as client:
        [(thresholds, target)] = client.run(lambda dask_worker: (dask_worker.thresholds,
                                                                 dask_worker.data.target)).values()
        assert thresholds == {"spill": 0.3, "pause": None, "terminate": DEFAULT_THRESHOLDS["terminate"]}
        assert target == int(0.3 * LIMIT)
        assert cluster.workers[0].thresholds == thresholds
    with pytest.raises(ValueError, match="between 0 and 1"):
        LocalCluster(n_workers=0, memory_thresholds={"pause": 80})
    with pytest.raises(ValueError, match="unknown memory thresholds"):
        memory_thresholds({"target": 0.5})
    with pytest.raises(SystemExit):
        parse_args(["tcp://127.0.0.1:1", "--memory-thresholds", "{\"pause\": 2}"])
    args = parse_args(["tcp://127.0.0.1:1", "--memory-thresholds", "{\"pause\": 0.9}"])
    assert args.memory_thresholds["pause"] == 0.9
