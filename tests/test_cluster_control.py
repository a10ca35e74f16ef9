"""Cluster-wide controls of the dask API: ``Client.restart()``, ``Client.shutdown()``, ``futures_of``."""
import os

import psutil
import pytest

from jupyter_futures import CancelledError, Client, futures_of

from procs import Gate, blocked

TIMEOUT = 30

pytestmark = pytest.mark.timeout(120)


def inc(x):
    return x + 1


def test_restart_starts_new_worker_processes_and_cancels_every_future(tmp_path):
    with Client(n_workers=2, threads_per_worker=1) as client, Client(client.scheduler_address) as other:
        pids = set(client.run(os.getpid).values())
        done = client.submit(inc, 1)
        assert done.result(timeout=TIMEOUT) == 2
        gate = Gate(tmp_path / "gate")
        running = client.submit(blocked, gate.started, gate.path, "never", pure=False)
        gate.wait_started()
        scattered = other.scatter("data of another client")
        assert client.restart(timeout=TIMEOUT) is client
        for future in (done, running, scattered):
            assert future.status == "cancelled"
            with pytest.raises(CancelledError):
                future.result(timeout=TIMEOUT)
        new_pids = set(client.run(os.getpid).values())
        assert len(new_pids) == 2 and not new_pids & pids
        assert not any(psutil.pid_exists(p) for p in pids)
        assert client.has_what() == {w: [] for w in client.nthreads()}
        # The cluster works on, for both clients.
        assert client.submit(inc, 10).result(timeout=TIMEOUT) == 11
        assert other.gather(other.map(inc, range(5))) == [1, 2, 3, 4, 5]


def test_restart_says_when_workers_do_not_come_back():
    """A worker with no nanny (its process started by hand) ends at a restart and is not started again."""
    import subprocess

    from procs import PYTHON, clean_env, kill_tree

    with Client(n_workers=0) as client:
        env = clean_env(JUPYTER_FUTURES_TOKEN=client.cluster.token)
        proc = subprocess.Popen([PYTHON, "-m", "jupyter_futures.worker.process", client.scheduler_address],
                                env=env, stdin=subprocess.DEVNULL)
        try:
            client.wait_for_workers(1, timeout=TIMEOUT)
            with pytest.raises(TimeoutError, match="0 of 1 workers came back within 2 s.*without a nanny"):
                client.restart(timeout=2)
            assert proc.wait(timeout=TIMEOUT) == 0
        finally:
            kill_tree(proc)


def test_futures_of_finds_nested_futures():
    with Client(n_workers=1, threads_per_worker=1) as client:
        a, b = client.submit(inc, 1), client.submit(inc, 2)
        found = futures_of({"x": [a, (b, 3)], "y": {a}, "z": "text"})
        assert sorted(f.key for f in found) == sorted([a.key, b.key])
        assert futures_of(a) == [a] and futures_of([1, "x"]) == []


def test_published_datasets_outlive_their_publisher():
    """dask's publish_dataset: a name another client (here, after the publisher left) gets the futures of."""
    with Client(n_workers=1, threads_per_worker=1) as client:
        with Client(client.scheduler_address, set_as_default=False) as publisher:
            data = publisher.map(inc, range(3))
            publisher.publish_dataset(data, name="numbers")
            publisher.publish_dataset(total=publisher.submit(sum, data))
            with pytest.raises(KeyError, match="'numbers' already exists.*override=True"):
                publisher.publish_dataset(numbers=[])
            with pytest.raises(ValueError, match="name="):
                publisher.publish_dataset(data)
        assert client.list_datasets() == ["numbers", "total"]
        numbers = client.get_dataset("numbers")
        assert client.gather(numbers) == [1, 2, 3]
        assert client.datasets["total"].result(timeout=TIMEOUT) == 6
        client.datasets["note"] = "plain values too"
        assert dict(client.datasets.items())["note"] == "plain values too" and len(client.datasets) == 3
        client.publish_dataset(note="replaced", override=True)
        assert client.get_dataset("note") == "replaced"
        del client.datasets["note"]
        client.unpublish_dataset("total")
        assert client.list_datasets() == ["numbers"]
        with pytest.raises(KeyError, match="no dataset 'total'"):
            client.get_dataset("total")
        assert client.get_dataset("total", default=None) is None
        with pytest.raises(KeyError):
            client.unpublish_dataset("total")
