"""dask collections on our cluster: ``Client.get/compute/persist``, and ``dask.compute``,
``.compute()`` and ``dask.persist`` going to the default client while it is open, as with dask's
own Client. Each test checks the work ran in a worker process, not in this one."""
import os

import pytest

dask = pytest.importorskip("dask")  # the test extra installs it; the engine itself never needs it
import dask.array as da  # noqa: E402
import dask.bag as db  # noqa: E402
from dask import delayed  # noqa: E402

from jupyter_futures import Client, Future  # noqa: E402
from procs import TIMEOUT  # noqa: E402


def inc(x):
    return x + 1


def pid_plus(x):
    return os.getpid(), x


def fails(x):
    raise ValueError(f"bad {x}")


@pytest.fixture(scope="module")
def dask_client():
    with Client(n_workers=2, threads_per_worker=1) as client:
        client.wait_for_workers(2, timeout=TIMEOUT)
        yield client


def worker_pids(client):
    return set(client.run(os.getpid).values())


def test_compute_of_a_dask_array_runs_on_the_workers(dask_client):
    x = da.ones((200, 200), chunks=(50, 50))
    assert (x + 1).sum().compute() == 2 * 200 * 200
    pids = {pid for pid, _ in dask.compute(*[delayed(pid_plus)(i) for i in range(20)])}
    assert pids and pids <= worker_pids(dask_client)


def test_dask_compute_of_many_delayed_calls_gives_their_values(dask_client):
    values = dask.compute(*[delayed(inc)(i) for i in range(500)])
    assert values == tuple(range(1, 501))


def test_client_compute_returns_futures_and_keeps_the_shape_of_its_argument(dask_client):
    total = delayed(sum)([delayed(inc)(i) for i in range(10)])
    future = dask_client.compute(total)
    assert isinstance(future, Future) and future.result(timeout=TIMEOUT) == 55
    futures = dask_client.compute([total, delayed(inc)(41)])
    assert [f.result(timeout=TIMEOUT) for f in futures] == [55, 42]
    assert dask_client.compute([total], sync=True) == [55]


def test_persist_backs_the_collection_with_futures_held_on_the_cluster(dask_client):
    x = da.arange(100, chunks=10) * 2
    persisted = dask_client.persist(x)
    held = [v for v in dict(persisted.__dask_graph__()).values() if isinstance(v, Future)]
    assert len(held) == 10
    dask_client.gather(held)
    assert set(dask_client.who_has()) >= {f.key for f in held}
    assert persisted.sum().compute() == 2 * sum(range(100))
    (again,) = dask.persist(x + 1)
    assert any(isinstance(v, Future) for v in dict(again.__dask_graph__()).values())
    assert again.sum().compute() == 2 * sum(range(100)) + 100


def test_get_runs_a_raw_graph_with_tuple_keys_and_nested_key_lists(dask_client):
    graph = {"a": 1, "b": (inc, "a"), ("c", 0): (inc, "b"), ("c", 1): (inc, ("c", 0))}
    assert dask_client.get(graph, [("c", 1), ["b", "a"]]) == [4, [2, 1]]
    futures = dask_client.get(graph, ["b"], sync=False)
    assert futures[0].result(timeout=TIMEOUT) == 2


def test_a_bag_computes_on_the_cluster(dask_client):
    bag = db.from_sequence(range(100), npartitions=5).map(inc).filter(lambda v: v % 2 == 0)
    assert sorted(bag.compute()) == list(range(2, 101, 2))


def test_options_apply_to_every_task_of_the_graph(dask_client):
    worker = sorted(dask_client.scheduler_info()["workers"])[0]
    wanted_pid = dask_client.run(os.getpid, workers=[worker])[worker]
    results = dask_client.compute([delayed(pid_plus)(i) for i in range(6)], workers=[worker], sync=True)
    assert {pid for pid, _ in results} == {wanted_pid}


def test_an_error_in_a_graph_task_is_raised_by_compute(dask_client):
    with pytest.raises(ValueError, match="bad 3"):
        delayed(fails)(3).compute()


AFTER_CLOSE = """
import os, sys
from jupyter_futures import Client
def pid(x):
    return os.getpid()
with Client(n_workers=1, threads_per_worker=1) as client:
    imported_before = "dask" in sys.modules
    import dask  # after the client: it still routes dask's collections to it
    from dask import delayed
    during = delayed(pid)(1).compute()
after = delayed(pid)(1).compute()
print(imported_before, during != os.getpid(), after == os.getpid(), dask.config.get("scheduler", None))
"""


def test_dask_imported_after_the_client_runs_on_it_until_the_client_closes(tmp_path):
    import subprocess
    import sys

    from procs import clean_env

    out = subprocess.run([sys.executable, "-c", AFTER_CLOSE], capture_output=True, text=True, timeout=TIMEOUT,
                         env=clean_env(), cwd=tmp_path)
    assert out.stdout.split() == ["False", "True", "True", "None"], out.stderr[-2000:]


def test_a_second_default_client_takes_over_when_the_newest_closes(dask_client):
    with Client(n_workers=1, threads_per_worker=1) as newer:
        newer.wait_for_workers(1, timeout=TIMEOUT)
        assert delayed(pid_plus)(1).compute()[0] in worker_pids(newer)
    assert delayed(pid_plus)(1).compute()[0] in worker_pids(dask_client)
