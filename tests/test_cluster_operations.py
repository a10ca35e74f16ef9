"""Operations on workers and their data, on a real LocalCluster: upload_file, replicate, rebalance,
retire_workers, restart_workers, and the scheduler's and workers' logs."""
import importlib
import os
import uuid

import pytest

from jupyter_futures import Client
from procs import TIMEOUT, wait_until

MB = 2**20


@pytest.fixture(scope="module")
def client():
    """Three workers, one thread each, for the tests that leave the cluster as they found it."""
    with Client(n_workers=3, threads_per_worker=1, dashboard_address=None) as c:
        yield c


@pytest.fixture
def fresh():
    """Two workers, for a test that retires, restarts or adds workers."""
    with Client(n_workers=2, threads_per_worker=1, dashboard_address=None) as c:
        yield c


def workers_of(client):
    return sorted(client.scheduler_info()["workers"])


def held_on_workers(client, key):
    """Where the workers' own data stores hold ``key`` (not what the scheduler says)."""
    return sorted(w for w, has in client.run(lambda dask_worker: key in dask_worker.data).items() if has)


def module_file(tmp_path, body):
    name = f"jf_upload_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{name}.py"
    path.write_text(body)
    return name, path


def import_and_call(name, x):
    return importlib.import_module(name).triple(x)


def pid():
    return os.getpid()


# -- upload_file -------------------------------------------------------------------------------------
def test_an_uploaded_module_is_importable_in_tasks_also_on_a_worker_that_joins_later(fresh, tmp_path):
    name, path = module_file(tmp_path, "def triple(x):\n    return 3 * x\n")
    replies = fresh.upload_file(str(path))
    assert replies == {w: {"status": "OK"} for w in workers_of(fresh)}
    assert fresh.submit(import_and_call, name, 2).result(TIMEOUT) == 6
    before = set(workers_of(fresh))
    fresh.cluster.scale(3)
    (new,) = set(workers_of(fresh)) - before
    assert fresh.submit(import_and_call, name, 5, workers=[new]).result(TIMEOUT) == 15


def test_an_error_importing_an_upload_is_raised_to_the_caller(client, tmp_path):
    _, path = module_file(tmp_path, "raise RuntimeError('broken at import')\n")
    with pytest.raises(RuntimeError, match="broken at import"):
        client.upload_file(str(path))
    with pytest.raises(ValueError, match=r"\.py, \.egg or \.zip"):
        client.upload_file(str(tmp_path / "notes.txt"))


def test_an_upload_without_load_is_importable_but_not_imported(client, tmp_path):
    name, path = module_file(tmp_path, "def triple(x):\n    return 3 * x\n")
    client.upload_file(str(path), load=False)
    assert not any(client.run(lambda: name in __import__("sys").modules).values())
    assert client.submit(import_and_call, name, 1).result(TIMEOUT) == 3


# -- replicate ----------------------------------------------------------------------------------------
def test_replicate_copies_a_value_to_every_worker_and_n_brings_it_back_down(client):
    [f] = client.scatter([b"r" * MB], workers=[workers_of(client)[0]])
    client.replicate(f)
    assert sorted(client.who_has(f)[f.key]) == workers_of(client) == held_on_workers(client, f.key)
    client.replicate(f, n=1)
    assert len(client.who_has(f)[f.key]) == 1
    assert wait_until(lambda: held_on_workers(client, f.key) == client.who_has(f)[f.key])
    assert f.result(TIMEOUT) == b"r" * MB


def test_replicate_to_named_workers_waits_for_a_running_task(client):
    w0, w1, w2 = workers_of(client)
    f = client.submit(lambda: b"t" * 1000, workers=[w0], pure=False)
    client.replicate([f], workers=[w1, w2])  # f may still run: replicate waits for it
    assert {w1, w2} <= set(client.who_has(f)[f.key])
    assert {w1, w2} <= set(held_on_workers(client, f.key))
    with pytest.raises(ValueError, match="no such workers"):
        client.replicate(f, workers=["tcp://127.0.0.1:1"])
    with pytest.raises(ValueError, match="n >= 1|>= 1"):
        client.replicate(f, n=0)


# -- rebalance ----------------------------------------------------------------------------------------
def test_rebalance_moves_data_from_the_loaded_worker_and_keeps_who_has_true(client):
    w0, w1, w2 = workers_of(client)
    futures = client.map(lambda i: bytes([i]) * MB, range(12), workers=[w0], pure=False)
    client.gather(futures)
    client.rebalance(futures)
    who_has = client.who_has(futures)
    per_worker = {w: sum(1 for f in futures if who_has[f.key] == [w]) for w in (w0, w1, w2)}
    assert all(len(who_has[f.key]) == 1 for f in futures)  # moved, not copied
    assert per_worker == {w0: 4, w1: 4, w2: 4}
    for f in futures:
        assert wait_until(lambda: held_on_workers(client, f.key) == who_has[f.key])
    assert client.gather(futures) == [bytes([i]) * MB for i in range(12)]


def test_rebalance_of_data_held_nowhere_names_it(client):
    f = client.submit(lambda: 1)
    f.result(TIMEOUT)
    client.cancel(f)
    with pytest.raises(KeyError, match="Could not rebalance"):
        client.rebalance([f])


# -- retire_workers -----------------------------------------------------------------------------------
def test_retire_workers_moves_what_only_they_hold_then_closes_them_for_good(fresh):
    w0, w1 = workers_of(fresh)
    [scattered] = fresh.scatter([b"s" * MB], workers=[w1])
    computed = fresh.submit(lambda: b"c" * MB, workers=[w1], pure=False)
    computed.result(TIMEOUT)
    nanny = next(n for n in fresh.cluster.workers if n.worker_address == w1)
    proc = nanny.proc
    retired = fresh.retire_workers([w1])
    assert list(retired) == [w1] and retired[w1]["name"] and retired[w1]["nthreads"] == 1
    assert workers_of(fresh) == [w0]
    assert fresh.who_has([scattered, computed]) == {scattered.key: [w0], computed.key: [w0]}
    assert fresh.gather([scattered, computed]) == [b"s" * MB, b"c" * MB]
    assert wait_until(lambda: proc.poll() is not None)
    assert wait_until(nanny.stopped.is_set)  # the nanny stopped too: no new worker comes back
    assert nanny.proc is proc
    assert workers_of(fresh) == [w0]


def test_retire_workers_refuses_an_unknown_worker_naming_the_workers(client):
    with pytest.raises(ValueError, match="no such workers.*tcp://127.0.0.1:1"):
        client.retire_workers(["tcp://127.0.0.1:1"])


# -- restart_workers ----------------------------------------------------------------------------------
def test_restart_workers_restarts_just_those_workers_and_waits_for_them(fresh):
    w0, w1 = workers_of(fresh)
    pids = fresh.run(pid)
    assert fresh.restart_workers([w0]) == {w0: "OK"}
    now = workers_of(fresh)
    assert len(now) == 2 and w1 in now and w0 not in now
    new_pids = fresh.run(pid)
    assert new_pids[w1] == pids[w1]
    (new,) = set(now) - {w1}
    assert new_pids[new] != pids[w0]
    with pytest.raises(ValueError, match="no such workers"):
        fresh.restart_workers(["tcp://127.0.0.1:1"])


# -- logs ---------------------------------------------------------------------------------------------
def test_scheduler_and_worker_logs_come_as_dask_shapes_newest_first(client):
    lines = client.get_scheduler_logs()
    assert lines and all(isinstance(r, tuple) and len(r) == 2 for r in lines)
    assert any("joined" in line for _level, line in lines)
    assert len(client.get_scheduler_logs(n=1)) == 1
    logs = client.get_worker_logs()
    assert sorted(logs) == workers_of(client)
    for records in logs.values():
        assert any(level == "INFO" and "connected to" in line for level, line in records)
    one = workers_of(client)[0]
    assert list(client.get_worker_logs(n=1, workers=[one])) == [one]
    assert len(client.get_worker_logs(n=1, workers=[one])[one]) == 1
    with pytest.raises(ValueError, match="nanny"):
        client.get_worker_logs(nanny=True)


def test_local_cluster_get_logs_has_the_scheduler_and_every_worker(client):
    logs = client.cluster.get_logs()
    assert set(logs) == {"Cluster", "Scheduler", *workers_of(client)}
    assert "joined" in logs["Scheduler"]
    assert "connected to" in logs[workers_of(client)[0]]
    assert set(client.cluster.get_logs(cluster=False, workers=False)) == {"Scheduler"}
