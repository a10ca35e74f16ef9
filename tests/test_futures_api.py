"""Integration tests of the dask.distributed-compatible futures API of jupyter_futures.

Most tests run against one real cluster (a scheduler and 2 worker processes x 1
thread, shared by the module: the ``client`` fixture of conftest.py) and check values, states and errors as
dask.distributed defines them. Tasks that must stay running block on a "gate"
file in ``tmp_path`` (bounded); the ``gates`` fixture opens every gate at
teardown so that no worker stays blocked after a test.
"""
import builtins
import gc
import os
import re
import socket
import threading
import time
import traceback

import pytest

import jupyter_futures
from jupyter_futures import (
    ALL_COMPLETED,
    FIRST_COMPLETED,
    FIRST_EXCEPTION,
    CancelledError,
    Client,
    LocalCluster,
    ClientClosedError,
    Future,
    SerializationError,
    TimeoutError,
    as_completed,
    fire_and_forget,
    get_worker,
    wait,
)
from jupyter_futures.protocol import messages

from procs import (JF, Gate, blocked, clean_env, kill_tree, refused_address, settle_releases, start_process, stop,
                   wait_until)

TIMEOUT = 20  # seconds; any wait longer than this is a bug, not a slow machine
SHORT = 0.3  # seconds; for timeouts that are expected to expire

pytestmark = pytest.mark.timeout(60)


# --------------------------------------------------------------------------- helpers (also run on workers)


class MyError(Exception):
    """An exception class of the test module: must come back as itself."""


def inc(x):
    return x + 1


def add(x, y):
    return x + y


def add3(x, y, z):
    return x + y + z


def scale(x, factor=1, offset=0):
    return x * factor + offset


def echo(*args, **kwargs):
    """The arguments as the worker received them."""
    return args, kwargs


def fail_with(message):
    raise MyError(message)


def raise_value_error(x):
    raise ValueError(f"bad value {x}")


def getpid(_token=None):
    return os.getpid()


def append_line(path, text):
    """Side effect: one line appended to ``path``; returns the number of lines now."""
    with open(path, "a") as f:
        f.write(text + "\n")
    with open(path) as f:
        return len(f.read().splitlines())


def flaky(path, fail_times):
    """Fails ``fail_times`` times (counted in the file ``path``), then returns the attempt number."""
    attempt = append_line(path, "attempt")
    if attempt <= fail_times:
        raise MyError(f"attempt {attempt} failed")
    return attempt


def make_generator(n):
    return (i for i in range(n))


def make_lock():
    return threading.Lock()


def lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return f.read().splitlines()


def barrier(client):
    """A round trip to the scheduler: every message this client queued before is processed after it."""
    client.who_has([])


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def workers(client):
    addrs = sorted(client.nthreads())
    assert len(addrs) == 2
    return addrs


def idle(client):
    """True when the scheduler has no task processing on any worker."""
    return all(w["processing"] == 0 for w in client.scheduler_info()["workers"].values())


@pytest.fixture
def gates(client, tmp_path):
    """``gates(name)`` makes a Gate; at teardown every gate is opened and the workers drain,
    so that no test starts with a worker still busy from the previous one."""
    made = []

    def make(name=None):
        g = Gate(tmp_path / (name or f"gate{len(made)}"))
        made.append(g)
        return g

    yield make
    for g in made:
        g.open()
    assert wait_until(lambda: idle(client), timeout=10), client.scheduler_info()["workers"]


def start_blocked(client, gate, value=None, **options):
    """Submit a ``blocked`` task (distinct key every call) and wait until it runs."""
    f = client.submit(blocked, gate.started, gate.path, value, pure=False, **options)
    gate.wait_started()
    return f


# --------------------------------------------------------------------------- exports


def test_exports():
    assert TimeoutError is builtins.TimeoutError
    assert jupyter_futures.TimeoutError is builtins.TimeoutError
    assert issubclass(CancelledError, Exception)
    assert issubclass(SerializationError, TypeError)
    assert issubclass(ClientClosedError, RuntimeError)
    assert {ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION} == {"ALL_COMPLETED", "FIRST_COMPLETED", "FIRST_EXCEPTION"}
    assert jupyter_futures.KilledWorker.__name__ == "KilledWorker"


# --------------------------------------------------------------------------- submit options


def test_submit_explicit_key(client):
    f = client.submit(add, 1, 2, key="my-explicit-key")
    assert f.key == "my-explicit-key"
    assert f.result(timeout=TIMEOUT) == 3
    assert "my-explicit-key" in client.who_has([f])


def test_key_format(client):
    f = client.submit(add, 10, 20)
    assert re.fullmatch(r"add-[0-9a-f]{8,}", f.key), f.key
    g = client.submit(lambda x: x, 5)
    assert re.fullmatch(r"lambda-[0-9a-f]{8,}", g.key), g.key
    assert f.result(timeout=TIMEOUT) == 30
    assert g.result(timeout=TIMEOUT) == 5


def test_pure_default_same_key_runs_once(client, tmp_path):
    path = str(tmp_path / "log")
    f1 = client.submit(append_line, path, "run")
    f2 = client.submit(append_line, path, "run")
    assert f1.key == f2.key
    assert f1.result(timeout=TIMEOUT) == 1
    assert f2.result(timeout=TIMEOUT) == 1
    # A third equal submit after completion reuses the result too.
    f3 = client.submit(append_line, path, "run")
    assert f3.key == f1.key
    assert f3.result(timeout=TIMEOUT) == 1
    assert lines(path) == ["run"]


def test_pure_different_args_different_keys(client):
    assert client.submit(inc, 1).key != client.submit(inc, 2).key
    assert client.submit(inc, 1).key != client.submit(add, 1, 0).key
    assert client.submit(scale, 2, factor=3).key != client.submit(scale, 2, factor=4).key


def test_pure_key_independent_of_kwargs_and_dict_order(client, tmp_path):
    """Equal calls get equal keys: keyword order and dict insertion order do not matter (dask tokenize)."""
    assert client.submit(scale, 2, factor=3, offset=1).key == client.submit(scale, 2, offset=1, factor=3).key
    assert client.submit(echo, {"a": 1, "b": 2}).key == client.submit(echo, {"b": 2, "a": 1}).key
    path = str(tmp_path / "log")
    f1 = client.submit(append_line, path=path, text="once")
    f2 = client.submit(append_line, text="once", path=path)
    assert f1.result(timeout=TIMEOUT) == f2.result(timeout=TIMEOUT) == 1
    assert lines(path) == ["once"]


def test_pure_false_distinct_keys_runs_each(client, tmp_path):
    path = str(tmp_path / "log")
    f1 = client.submit(append_line, path, "run", pure=False)
    f2 = client.submit(append_line, path, "run", pure=False)
    assert f1.key != f2.key
    assert f1.key.startswith("append_line-") and f2.key.startswith("append_line-")
    assert sorted(client.gather([f1, f2])) == [1, 2]
    assert lines(path) == ["run", "run"]


def test_workers_restriction(client, workers):
    pids = client.run(os.getpid)
    assert set(pids) == set(workers)
    for addr in workers:
        for i in range(3):
            f = client.submit(getpid, (addr, i), workers=[addr])
            assert f.result(timeout=TIMEOUT) == pids[addr]
            assert client.who_has([f])[f.key] == [addr]
    # A single address as a string is accepted too.
    f = client.submit(getpid, "str", workers=workers[1])
    assert f.result(timeout=TIMEOUT) == pids[workers[1]]


def test_allow_other_workers_with_unknown_worker(client):
    """A restriction to a worker that is not there holds the task back, unless allow_other_workers=True."""
    nowhere = ["tcp://127.0.0.1:1"]
    stuck = client.submit(inc, 41, workers=nowhere, pure=False)
    f = client.submit(inc, 41, workers=nowhere, allow_other_workers=True, pure=False)
    assert f.result(timeout=TIMEOUT) == 42
    with pytest.raises(TimeoutError):
        stuck.result(timeout=SHORT)
    assert stuck.status == "pending"
    stuck.cancel()


def test_retries_succeed_after_failures(client, tmp_path):
    path = str(tmp_path / "attempts")
    f = client.submit(flaky, path, 2, retries=2)
    assert f.result(timeout=TIMEOUT) == 3
    assert len(lines(path)) == 3


def test_retries_exhausted_raise_last_error(client, tmp_path):
    path = str(tmp_path / "attempts")
    f = client.submit(flaky, path, 2, retries=1)
    with pytest.raises(MyError, match="attempt 2 failed"):
        f.result(timeout=TIMEOUT)
    assert len(lines(path)) == 2


def test_no_retries_by_default(client, tmp_path):
    path = str(tmp_path / "attempts")
    f = client.submit(flaky, path, 1)
    with pytest.raises(MyError, match="attempt 1 failed"):
        f.result(timeout=TIMEOUT)
    assert len(lines(path)) == 1


def test_priority_accepted(client):
    f = client.submit(inc, 100, priority=10)
    g = client.submit(inc, 200, priority=-5)
    assert client.gather([f, g]) == [101, 201]
    assert client.gather(client.map(inc, [1, 2], priority=3)) == [2, 3]


def test_priority_orders_queued_tasks(client, workers, gates, tmp_path):
    """Tasks waiting on a busy worker run highest priority first."""
    a = workers[0]
    gate = gates()
    blocker = start_blocked(client, gate, workers=[a])
    log = str(tmp_path / "order")
    low = client.submit(append_line, log, "low", workers=[a], priority=0)
    high = client.submit(append_line, log, "high", workers=[a], priority=10)
    # Barrier: the worker has received both tasks once it answers a run() sent after them.
    barrier(client)
    client.run(getpid, workers=[a])
    gate.open()
    client.gather([blocker, low, high])
    assert lines(log) == ["high", "low"]


@pytest.mark.parametrize("freed", [0, 1])
def test_task_runs_on_first_free_worker(client, workers, gates, freed):
    """A task submitted while every worker is busy runs on the first worker that frees up
    (dask queues it on the scheduler, or steals it), not behind a long task on the other one."""
    g = [gates(), gates()]
    blockers = [start_blocked(client, g[i], i, workers=[workers[i]]) for i in range(2)]
    quick = client.submit(getpid, "quick", pure=False)
    g[freed].open()
    assert blockers[freed].result(timeout=TIMEOUT) == freed
    pid = client.run(os.getpid)[workers[freed]]
    assert quick.result(timeout=TIMEOUT) == pid  # behind the blocked task, it would never come
    assert not blockers[1 - freed].done()


def test_short_tasks_not_stuck_behind_long_task(client, gates):
    """While one worker runs a long task, a batch of short tasks all run on the other worker."""
    client.gather(client.map(inc, range(1000, 1050)))  # warm up: the scheduler has seen short tasks
    gate = gates()
    long_task = start_blocked(client, gate, "long")
    fs = client.map(inc, range(2000, 2040))
    done, not_done = wait(fs, timeout=5)
    assert len(done) == 40 and not not_done
    assert not long_task.done()


def test_scale_to_a_bad_number_is_refused_and_keeps_the_workers():
    with LocalCluster(n_workers=1, threads_per_worker=1) as cluster:
        for bad in (-1, "2", 1.5):
            with pytest.raises(ValueError, match=r"scale\(.*\): give the number of workers to run, a whole number"):
                cluster.scale(bad)
        assert len(cluster.workers) == 1


def test_resources_option_of_local_cluster():
    """``Client(..., resources=...)`` gives every worker of the local cluster those resources."""
    with Client(n_workers=1, threads_per_worker=1, resources={"GPU": 1}) as c:
        (worker,) = c.scheduler_info()["workers"].values()
        assert worker["resources"] == {"GPU": 1}
        assert c.submit(inc, 1, resources={"GPU": 1}).result(timeout=TIMEOUT) == 2


@pytest.fixture(scope="module")
def gpu_cluster(tmp_path_factory):
    """A client on two workers: a local cluster's plain 1-thread worker, and a 2-thread worker with
    ``{"GPU": 1}`` started by ``jupyter-futures worker --resources``. Yields (client, plain, gpu) addresses."""
    tmp_path = tmp_path_factory.mktemp("gpu")
    with Client(n_workers=1, threads_per_worker=1, set_as_default=False) as c:
        (plain,) = c.nthreads()
        env = clean_env(JUPYTER_FUTURES_TOKEN=c.cluster.token,
                        PYTHONPATH=os.path.dirname(os.path.abspath(__file__)))
        proc, _ = start_process([JF, "worker", c.scheduler_address, "--nthreads", "2", "--name", "gpu",
                                 "--resources", '{"GPU": 1}'], env=env,
                                stderr_path=str(tmp_path / "gpu-worker.log"), name="gpu-worker")
        try:
            c.wait_for_workers(2, timeout=TIMEOUT)
            (gpu,) = set(c.nthreads()) - {plain}
            yield c, plain, gpu
        finally:
            if stop(proc) is None:
                kill_tree(proc)


def test_resources_restrict_placement(gpu_cluster, tmp_path):
    c, plain, gpu = gpu_cluster
    workers = c.scheduler_info()["workers"]
    assert workers[plain]["resources"] == {}
    assert workers[gpu]["resources"] == {"GPU": 1}
    assert c.nthreads() == {plain: 1, gpu: 2}
    pids = c.run(os.getpid)

    # Both threads of the GPU worker busy, the other worker idle: tasks asking for a GPU wait for
    # the GPU worker, while a task without resources runs on the idle one.
    gates = [Gate(tmp_path / "gate0"), Gate(tmp_path / "gate1")]
    try:
        blockers = [start_blocked(c, g, i, workers=[gpu]) for i, g in enumerate(gates)]
        fs = c.map(getpid, range(8), resources={"GPU": 1})
        free = c.submit(getpid, "free", pure=False)
        assert free.result(timeout=TIMEOUT) == pids[plain]
        assert not any(f.done() for f in fs), [f.status for f in fs]
    finally:
        for g in gates:
            g.open()
    assert c.gather(blockers) == [0, 1]
    assert c.gather(fs) == [pids[gpu]] * 8
    assert all(holders == [gpu] for holders in c.who_has(fs).values()), c.who_has(fs)
    assert c.submit(getpid, "one", resources={"GPU": 1}).result(timeout=TIMEOUT) == pids[gpu]

    # With both workers idle, tasks without resources run on either of them.
    assert set(c.gather(c.map(getpid, range(100, 120)))) <= {pids[plain], pids[gpu]}


def hold_gpu(i, seconds):
    """A task that holds its resource for ``seconds``; returns (pid, start, stop) on the system-wide monotonic clock."""
    start = time.monotonic()
    time.sleep(seconds)
    return os.getpid(), start, time.monotonic()


def test_resources_limit_concurrent_tasks(gpu_cluster):
    """The GPU worker has 2 threads but only 1 GPU: two GPU=1 tasks never run at the same time."""
    c, plain, gpu = gpu_cluster
    pids = c.run(os.getpid)
    runs = c.gather(c.map(hold_gpu, range(2), seconds=0.3, resources={"GPU": 1}))
    assert [pid for pid, _, _ in runs] == [pids[gpu]] * 2
    (s1, e1), (s2, e2) = sorted((start, stop) for _, start, stop in runs)
    assert e1 <= s2, f"GPU tasks overlapped: {runs}"


# --------------------------------------------------------------------------- map


def test_map_several_iterables(client):
    fs = client.map(add3, [1, 2, 3], [10, 20, 30], (100, 200, 300))
    assert len(fs) == 3
    assert all(isinstance(f, Future) for f in fs)
    assert client.gather(fs) == [111, 222, 333]
    # Shortest iterable wins, as with builtins.map / zip; iterators work.
    fs = client.map(add, iter(range(5)), range(3))
    assert client.gather(fs) == [0, 2, 4]


def test_map_key_list(client):
    keys = ["mk-a", "mk-b", "mk-c"]
    fs = client.map(inc, [1, 2, 3], key=keys)
    assert [f.key for f in fs] == keys
    assert client.gather(fs) == [2, 3, 4]
    with pytest.raises(ValueError):
        client.map(inc, [1, 2], key=["only-one"])


def test_map_key_prefix(client):
    fs = client.map(inc, [1, 2], key="my_prefix")
    assert all(re.fullmatch(r"my_prefix-[0-9a-f]{8,}", f.key) for f in fs), [f.key for f in fs]
    assert client.gather(fs) == [2, 3]


def spy_update_graph(client_id, dask_scheduler):
    """On the scheduler: record the number of tasks of each update-graph message from ``client_id``
    (the scheduler still handles every message itself)."""
    dask_scheduler.test_update_graph_sizes = spy_messages(
        dask_scheduler, client_id, messages.UPDATE_GRAPH, lambda records: len(list(records)))


def spy_messages(dask_scheduler, client_id: str, op: str, note) -> list:
    """On the scheduler: ``note(*fields)`` of each ``op`` message from ``client_id`` lands in the list
    returned, as the connection delivers it (``unspy_messages`` ends it)."""
    comm = dask_scheduler.client_comms[client_id]
    real = comm.handler
    seen = []

    def handler(c, msgs):
        seen.extend(note(*msg[1:]) for msg in msgs if msg[0] == op)
        return real(c, msgs)
    comm.handler = handler
    comm.test_real_handler = real
    return seen


def unspy_messages(dask_scheduler, client_id: str) -> None:
    comm = dask_scheduler.client_comms[client_id]
    comm.handler = comm.__dict__.pop("test_real_handler")


def unspy_update_graph(client_id, dask_scheduler):
    unspy_messages(dask_scheduler, client_id)
    return dask_scheduler.__dict__.pop("test_update_graph_sizes")


def update_graph_sizes(client, submit):
    """Run ``submit()``; return its futures and the sizes of the update-graph messages the scheduler got."""
    client.run_on_scheduler(spy_update_graph, client.id)
    try:
        futures = submit()
        barrier(client)
    finally:
        sizes = client.run_on_scheduler(unspy_update_graph, client.id)
    return futures, sizes


def test_map_batch_size(client):
    """``batch_size`` sends the tasks to the scheduler in graph updates of at most that many tasks."""
    fs, sizes = update_graph_sizes(client, lambda: client.map(inc, range(7), batch_size=2, pure=False))
    assert sizes == [2, 2, 2, 1]
    assert client.gather(fs) == list(range(1, 8))
    fs, sizes = update_graph_sizes(client, lambda: client.map(inc, range(7), pure=False))
    assert sizes == [7]
    assert client.gather(fs) == list(range(1, 8))
    fs, sizes = update_graph_sizes(client, lambda: client.map(inc, range(3), batch_size=10, pure=False))
    assert sizes == [3]
    assert client.gather(fs) == [1, 2, 3]


def test_map_pure(client):
    fs = client.map(inc, [7, 7, 8])
    assert fs[0].key == fs[1].key != fs[2].key
    fs2 = client.map(inc, [7, 7, 8], pure=False)
    assert len({f.key for f in fs2}) == 3
    assert client.gather(fs) == client.gather(fs2) == [8, 8, 9]


def test_map_kwargs_to_every_call(client):
    fs = client.map(scale, [1, 2, 3], factor=10, offset=5)
    assert client.gather(fs) == [15, 25, 35]


def test_map_empty(client):
    assert client.map(inc, []) == []
    assert client.gather(client.map(inc, [])) == []


def test_map_workers_restriction(client, workers):
    pids = client.run(os.getpid)
    for addr in workers:
        fs = client.map(getpid, [(addr, i) for i in range(6)], workers=[addr])
        assert client.gather(fs) == [pids[addr]] * 6
        assert all(holders == [addr] for holders in client.who_has(fs).values()), client.who_has(fs)


def test_map_retries(client, tmp_path):
    """``retries`` applies to each task of the map: each item retries on its own attempt count."""
    paths = [str(tmp_path / f"attempts{i}") for i in range(3)]
    fs = client.map(flaky, paths, [1, 2, 0], retries=2)
    assert client.gather(fs) == [2, 3, 1]
    assert [len(lines(p)) for p in paths] == [2, 3, 1]
    # Without enough retries the item that keeps failing raises its last error; the others succeed.
    paths = [str(tmp_path / f"again{i}") for i in range(2)]
    fs = client.map(flaky, paths, [1, 2], retries=1)
    assert fs[0].result(timeout=TIMEOUT) == 2
    with pytest.raises(MyError, match="attempt 2 failed"):
        fs[1].result(timeout=TIMEOUT)
    assert [len(lines(p)) for p in paths] == [2, 2]


def test_map_with_futures_as_items(client):
    xs = client.map(inc, range(4))
    ys = client.map(add, xs, [10, 20, 30, 40])
    assert client.gather(ys) == [11, 22, 33, 44]


# --------------------------------------------------------------------------- futures inside arguments


def test_futures_nested_in_args_and_kwargs(client):
    a, b, c, d, e = (client.submit(inc, i) for i in range(5))  # 1..5
    out = client.submit(
        echo,
        [a, (b, [c])],
        {"k": d, "nested": {"deep": [e, (a,)]}},
        {a, b},
        (c,),
        kw_list=[d, e],
        kw_dict={"x": (a, {"y": b})},
        kw_set=frozenset([c]),
        plain=7,
    )
    args, kwargs = out.result(timeout=TIMEOUT)
    assert args == (
        [1, (2, [3])],
        {"k": 4, "nested": {"deep": [5, (1,)]}},
        {1, 2},
        (3,),
    )
    assert kwargs == {"kw_list": [4, 5], "kw_dict": {"x": (1, {"y": 2})}, "kw_set": frozenset([3]), "plain": 7}


def test_future_as_direct_argument_and_chain(client):
    x = client.submit(inc, 1)
    y = client.submit(add, x, x)
    z = client.submit(scale, y, factor=x)
    assert z.result(timeout=TIMEOUT) == 8


# --------------------------------------------------------------------------- gather


def make_bytes(n, fill):
    return bytes([fill]) * n


def peers(dask_worker):
    """The workers this worker opened a connection to (to fetch data from them)."""
    return sorted(dask_worker.peers)


def test_inputs_move_from_worker_to_worker_directly():
    """A dependent on another worker fetches its input from the holding worker itself: the worker
    connects to its peer (not through the scheduler or the client)."""
    with Client(n_workers=2, threads_per_worker=1, set_as_default=False) as c:
        a, b = sorted(c.nthreads())
        assert c.run(peers) == {a: [], b: []}
        x = c.submit(make_bytes, 3_000_000, 9, workers=[a])
        y = c.submit(len, x, workers=[b])
        assert y.result(timeout=TIMEOUT) == 3_000_000
        assert c.run(peers) == {a: [], b: [a]}
        assert c.who_has([x])[x.key] == [a]  # b's copy was only for y


def test_large_results_fetched_from_workers(client, workers):
    n = 3_000_000
    fs = [client.submit(make_bytes, n, i, workers=[w]) for i, w in enumerate(workers)]
    assert fs[0].result(timeout=TIMEOUT) == bytes([0]) * n
    assert client.gather(fs) == [bytes([0]) * n, bytes([1]) * n]
    assert client.submit(len, fs[1], workers=[workers[0]]).result(timeout=TIMEOUT) == n


def test_gather_nested_structures(client):
    fs = client.map(inc, range(6))  # 1..6
    structure = {"a": [fs[0], fs[1]], "b": (fs[2], [fs[3], {"c": fs[4]}]), "plain": 42, "d": fs[5]}
    assert client.gather(structure) == {"a": [1, 2], "b": (3, [4, {"c": 5}]), "plain": 42, "d": 6}
    assert client.gather((fs[0], fs[1])) == (1, 2)
    assert client.gather(fs[2]) == 3
    assert client.gather([]) == []


def test_gather_errors_raise(client):
    good = client.submit(inc, 1)
    bad = client.submit(raise_value_error, 13)
    with pytest.raises(ValueError, match="bad value 13"):
        client.gather([good, bad])
    with pytest.raises(ValueError, match="bad value 13"):
        client.gather({"x": [bad]}, errors="raise")


def test_gather_errors_skip(client):
    good1 = client.submit(inc, 10)
    bad = client.submit(raise_value_error, 1)
    good2 = client.submit(inc, 20)
    assert client.gather([good1, bad, good2], errors="skip") == [11, 21]
    assert client.gather({"a": good1, "b": bad}, errors="skip") == {"a": 11}


# --------------------------------------------------------------------------- scatter


def test_scatter_one_object(client):
    g = client.scatter(123456789)
    assert isinstance(g, Future)
    assert g.result(timeout=TIMEOUT) == 123456789
    assert g.status == "finished"
    h = client.submit(inc, g)
    assert h.result(timeout=TIMEOUT) == 123456790
    big = bytes(range(256)) * 4096
    fb = client.scatter(big)
    assert isinstance(fb, Future)
    assert client.submit(len, fb).result(timeout=TIMEOUT) == len(big)
    assert fb.result(timeout=TIMEOUT) == big


def test_scatter_list(client):
    fs = client.scatter([10, 20, 30])
    assert isinstance(fs, list) and len(fs) == 3
    assert all(isinstance(f, Future) for f in fs)
    assert client.gather(fs) == [10, 20, 30]
    assert client.gather(client.map(inc, fs)) == [11, 21, 31]


def test_scatter_dict(client):
    fs = client.scatter({"scatter-x": 1, "scatter-y": [2, 3]})
    assert isinstance(fs, dict)
    assert set(fs) == {"scatter-x", "scatter-y"}
    assert fs["scatter-x"].key == "scatter-x"
    assert fs["scatter-y"].key == "scatter-y"
    assert client.gather(fs) == {"scatter-x": 1, "scatter-y": [2, 3]}


def test_scatter_broadcast(client, workers):
    f = client.scatter("broadcast me", broadcast=True)
    assert sorted(client.who_has([f])[f.key]) == workers
    has_what = client.has_what()
    assert all(f.key in has_what[w] for w in workers)
    assert f.result(timeout=TIMEOUT) == "broadcast me"


def test_scatter_to_workers(client, workers):
    for addr in workers:
        f = client.scatter(f"only on {addr}", workers=[addr])
        assert client.who_has([f])[f.key] == [addr]
        assert client.submit(len, f, workers=[addr]).result(timeout=TIMEOUT) == len(f"only on {addr}")


def test_scatter_hash(client):
    a = client.scatter([1, 2, 3, "hashed"], hash=True)
    b = client.scatter([1, 2, 3, "hashed"], hash=True)
    assert [f.key for f in a] == [f.key for f in b]
    c = client.scatter("same", hash=True)
    d = client.scatter("same")  # hash=True is the default
    assert c.key == d.key
    e = client.scatter("same", hash=False)
    g = client.scatter("same", hash=False)
    assert len({c.key, e.key, g.key}) == 3
    assert client.gather([c, d, e, g]) == ["same"] * 4


def where_with(big, small):
    """The worker running this task, with the sizes of its inputs."""
    return get_worker().address, len(big), len(small)


@pytest.mark.parametrize("big_on", [0, 1])
def test_task_runs_where_its_large_input_is(client, workers, big_on):
    """A task with a ~10 MB input on one worker and a tiny one on the other runs on the first:
    moving the tiny input costs less than moving the large one."""
    a, b = workers[big_on], workers[1 - big_on]
    big = client.scatter(bytes([big_on]) * 10_000_000, workers=[a])
    small = client.scatter(f"tiny {big_on}", workers=[b])
    assert client.who_has([big, small]) == {big.key: [a], small.key: [b]}
    f = client.submit(where_with, big, small)
    assert f.result(timeout=TIMEOUT) == (a, 10_000_000, len(f"tiny {big_on}"))
    assert client.who_has([f])[f.key] == [a]


# --------------------------------------------------------------------------- Future


def test_future_status_lifecycle(client, gates):
    gate = gates()
    f = client.submit(blocked, gate.started, gate.path, "value", pure=False)
    assert f.status in ("pending", "running")
    assert not f.done()
    gate.wait_started()
    assert wait_until(lambda: f.status == "running"), f.status
    assert not f.done()
    assert "running" in repr(f) and f.key in repr(f)
    gate.open()
    assert f.result(timeout=TIMEOUT) == "value"
    assert f.status == "finished"
    assert f.done()
    assert "finished" in repr(f) and f.key in repr(f)


def test_result_timeout(client, gates):
    gate = gates()
    f = start_blocked(client, gate, 5)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        f.result(timeout=SHORT)
    assert time.monotonic() - t0 < SHORT + 5
    assert not f.done()
    gate.open()
    assert f.result(timeout=TIMEOUT) == 5


def test_exception_and_traceback(client):
    f = client.submit(fail_with, "went wrong")
    exc = f.exception(timeout=TIMEOUT)
    assert isinstance(exc, MyError)
    assert str(exc) == "went wrong"
    assert f.status == "error"
    assert f.done()
    tb = f.traceback(timeout=TIMEOUT)
    assert tb is not None
    assert "fail_with" in "".join(traceback.format_tb(tb))
    assert "error" in repr(f) and f.key in repr(f)
    with pytest.raises(MyError, match="went wrong"):
        f.result(timeout=TIMEOUT)
    ok = client.submit(inc, 1)
    assert ok.exception(timeout=TIMEOUT) is None
    assert ok.traceback(timeout=TIMEOUT) is None


def test_exception_timeout(client, gates):
    gate = gates()
    f = start_blocked(client, gate)
    with pytest.raises(TimeoutError):
        f.exception(timeout=SHORT)


def test_add_done_callback(client, gates):
    gate = gates()
    f = start_blocked(client, gate, 3)
    called = threading.Event()
    seen = []

    def cb(fut):
        seen.append(fut)
        called.set()

    f.add_done_callback(cb)
    assert not called.wait(0.05)  # not while the task still runs
    gate.open()
    assert called.wait(TIMEOUT)
    assert len(seen) == 1
    assert seen[0] is f
    assert seen[0].status == "finished"
    assert seen[0].result(timeout=TIMEOUT) == 3


def test_add_done_callback_when_already_done(client):
    f = client.submit(inc, 99)
    assert f.result(timeout=TIMEOUT) == 100
    called = threading.Event()
    seen = []

    def cb(fut):
        seen.append(fut)
        called.set()

    f.add_done_callback(cb)
    assert called.wait(TIMEOUT)
    assert seen == [f]


def test_add_done_callback_on_error(client):
    f = client.submit(fail_with, "cb error")
    called = threading.Event()
    seen = []
    f.add_done_callback(lambda fut: (seen.append(fut.status), called.set()))
    assert called.wait(TIMEOUT)
    assert seen == ["error"]


def test_cancel_future(client, gates):
    gate = gates()
    f = start_blocked(client, gate)
    f.cancel()
    assert f.cancelled()
    assert f.status == "cancelled"
    assert f.done()
    assert "cancelled" in repr(f) and f.key in repr(f)
    with pytest.raises(CancelledError):
        f.result(timeout=TIMEOUT)
    assert f.key not in client.who_has()
    with pytest.raises(CancelledError):
        client.gather([f])
    done, not_done = wait([f], timeout=TIMEOUT)
    assert done == {f} and not not_done


def test_cancel_cancels_dependents(client, gates):
    """Cancelling a task cancels the tasks that depend on it (CancelledError, not another error)."""
    gate = gates()
    f = start_blocked(client, gate)
    dependent = client.submit(inc, f)
    grandchild = client.submit(inc, dependent)
    f.cancel()
    assert f.cancelled()
    for d in (dependent, grandchild):
        assert wait_until(d.done, timeout=TIMEOUT), d.status
        assert d.cancelled(), (d.status, d.exception(timeout=1))
        with pytest.raises(CancelledError):
            d.result(timeout=TIMEOUT)
    assert not {dependent.key, grandchild.key} & set(client.who_has())


def test_cancel_then_resubmit_same_key(client):
    """After cancelling a pure task, submitting the same call again computes it afresh (as in dask)."""
    f = client.submit(inc, 5000)
    assert f.result(timeout=TIMEOUT) == 5001
    f.cancel()
    assert f.cancelled()
    g = client.submit(inc, 5000)
    assert g.key == f.key
    assert g.result(timeout=TIMEOUT) == 5001
    assert f.cancelled()


def test_client_cancel_many(client, workers, gates):
    gate = gates()
    a = workers[0]
    f1 = start_blocked(client, gate, workers=[a])
    f2 = client.submit(blocked, gate.started, gate.path, 2, pure=False, workers=[a])  # queued behind f1
    client.cancel([f1, f2])
    assert f1.cancelled() and f2.cancelled()
    for f in (f1, f2):
        with pytest.raises(CancelledError):
            f.result(timeout=TIMEOUT)
    client.cancel([])  # nothing to do, no error


def test_release(client):
    f = client.submit(inc, 31337)
    assert f.result(timeout=TIMEOUT) == 31338
    key = f.key
    assert key in client.who_has()
    f.release()
    assert wait_until(lambda: key not in client.who_has()), client.who_has()
    f.release()  # a second release is a no-op, as in dask


def worker_keys(dask_worker):
    return set(dask_worker.data.keys())


def test_worker_memory_freed(client, workers):
    """Results and the input copies made for dependents leave every worker's memory once released."""
    a, b = workers
    x = client.submit(inc, 4_000_004, workers=[a])
    y = client.submit(add, x, 10, workers=[b])  # b copies x from a
    big = client.submit(make_bytes, 1_000_000, 7, workers=[a])
    n = client.submit(len, big, workers=[b])
    assert client.gather([y, n]) == [4_000_015, 1_000_000]
    keys = {f.key for f in (x, y, big, n)}
    held = client.run(worker_keys)
    assert keys <= held[a] | held[b]
    del x, y, big, n
    gc.collect()
    assert wait_until(lambda: not any(keys & k for k in client.run(worker_keys).values())), client.run(worker_keys)


def test_future_equality_and_hash(client):
    f1 = client.submit(inc, 777)
    f2 = client.submit(inc, 777)
    assert f1 == f2 and hash(f1) == hash(f2)
    assert len({f1, f2}) == 1
    assert f1 != client.submit(inc, 778)


# --------------------------------------------------------------------------- exceptions


def test_custom_exception_reraised_as_itself(client):
    f = client.submit(fail_with, "custom boom")
    with pytest.raises(MyError) as info:
        f.result(timeout=TIMEOUT)
    assert type(info.value) is MyError
    assert str(info.value) == "custom boom"


def test_builtin_exception_type_kept(client):
    f = client.submit(raise_value_error, 3)
    with pytest.raises(ValueError, match="bad value 3"):
        f.result(timeout=TIMEOUT)
    g = client.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        g.result(timeout=TIMEOUT)
    h = client.submit(lambda d: d["missing"], {})
    with pytest.raises(KeyError):
        h.result(timeout=TIMEOUT)


def test_dependents_of_failed_task_fail_with_same_exception(client):
    bad = client.submit(fail_with, "upstream failure")
    child = client.submit(inc, bad)
    grandchild = client.submit(add, child, 1)
    with pytest.raises(MyError, match="upstream failure"):
        child.result(timeout=TIMEOUT)
    with pytest.raises(MyError, match="upstream failure"):
        grandchild.result(timeout=TIMEOUT)
    assert child.status == grandchild.status == "error"
    # Submitted after the failure is known: fails the same way.
    late = client.submit(inc, bad)
    with pytest.raises(MyError, match="upstream failure"):
        late.result(timeout=TIMEOUT)


# --------------------------------------------------------------------------- as_completed


def test_as_completed_follows_completion_order(client, gates):
    gate = gates()
    slow = start_blocked(client, gate, "slow")
    fast = client.submit(inc, 1, pure=False)
    ac = as_completed([slow, fast], timeout=TIMEOUT)
    first = next(ac)
    assert first is fast
    gate.open()
    second = next(ac)
    assert second is slow
    with pytest.raises(StopIteration):
        next(ac)


def test_as_completed_with_results(client):
    fs = client.map(inc, range(5))
    results = {}
    for f, r in as_completed(fs, with_results=True, timeout=TIMEOUT):
        results[f.key] = r
    assert results == {f.key: i + 1 for i, f in enumerate(fs)}


def test_as_completed_raise_errors(client):
    good = client.submit(inc, 1)
    bad = client.submit(fail_with, "in as_completed")
    with pytest.raises(MyError, match="in as_completed"):
        for _ in as_completed([good, bad], with_results=True, timeout=TIMEOUT):
            pass
    out = dict(as_completed([good, bad], with_results=True, raise_errors=False, timeout=TIMEOUT))
    assert out[good] == 2
    typ, exc, tb = out[bad]  # dask's (type, exception, traceback)
    assert typ is MyError and isinstance(exc, MyError) and str(exc) == "in as_completed" and tb is not None


def test_as_completed_add_update_count_is_empty(client):
    ac = as_completed(timeout=TIMEOUT)
    assert ac.count() == 0
    assert ac.is_empty()
    f1 = client.submit(inc, 1)
    ac.add(f1)
    ac.update(client.map(inc, [10, 20]))
    assert ac.count() == 3
    assert not ac.is_empty()
    got = []
    for f in ac:
        got.append(f.result(timeout=TIMEOUT))
    assert sorted(got) == [2, 11, 21]
    assert ac.count() == 0
    assert ac.is_empty()


def test_as_completed_add_while_iterating(client):
    ac = as_completed([client.submit(inc, 0)], timeout=TIMEOUT)
    seen = []
    for f in ac:
        value = f.result(timeout=TIMEOUT)
        seen.append(value)
        if value < 4:
            ac.add(client.submit(inc, value))
    assert seen == [1, 2, 3, 4]


def test_as_completed_batches(client):
    fs = client.map(inc, range(6))
    ac = as_completed(fs, timeout=TIMEOUT)
    batches = list(ac.batches())
    assert all(isinstance(b, list) and b for b in batches)
    flat = [f for b in batches for f in b]
    assert sorted(f.key for f in flat) == sorted(f.key for f in fs)
    assert ac.is_empty()
    ac2 = as_completed(client.map(inc, range(3)), with_results=True, timeout=TIMEOUT)
    assert sorted(r for b in ac2.batches() for _, r in b) == [1, 2, 3]


# --------------------------------------------------------------------------- wait


def test_wait_all_completed(client):
    fs = client.map(inc, range(4))
    done, not_done = wait(fs, timeout=TIMEOUT)
    assert done == set(fs)
    assert not_done == set()
    res = wait(fs, timeout=TIMEOUT, return_when=ALL_COMPLETED)
    assert res.done == set(fs) and res.not_done == set()
    single = client.submit(inc, 1)
    done, not_done = wait(single, timeout=TIMEOUT)
    assert done == {single}


def test_wait_first_completed(client, gates):
    gate = gates()
    slow = start_blocked(client, gate)
    fast = client.submit(inc, 2, pure=False)
    done, not_done = wait([slow, fast], timeout=TIMEOUT, return_when=FIRST_COMPLETED)
    assert fast in done
    assert slow in not_done
    assert done | not_done == {slow, fast}


def test_wait_first_exception(client, gates):
    gate = gates()
    slow = start_blocked(client, gate)
    bad = client.submit(fail_with, "first exception")
    done, not_done = wait([slow, bad], timeout=TIMEOUT, return_when=FIRST_EXCEPTION)
    assert done == {bad}
    assert not_done == {slow}
    gate.open()
    assert slow.result(timeout=TIMEOUT) is None
    # With no exception, FIRST_EXCEPTION waits for all.
    fs = client.map(inc, range(3))
    done, not_done = wait(fs, timeout=TIMEOUT, return_when=FIRST_EXCEPTION)
    assert done == set(fs) and not not_done


def test_wait_timeout(client, gates):
    gate = gates()
    slow = start_blocked(client, gate)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        wait([slow], timeout=SHORT)
    assert time.monotonic() - t0 < SHORT + 5


def test_wait_bad_return_when(client):
    with pytest.raises(ValueError):
        wait([client.submit(inc, 1)], timeout=TIMEOUT, return_when="SOMETIMES")


# --------------------------------------------------------------------------- fire_and_forget


def append_line_after(path, text, _upstream):
    return append_line(path, text)


def test_fire_and_forget_runs_without_future(client, gates, tmp_path):
    """Two tasks wait on the scheduler for a blocked input; both futures are dropped. The one given to
    fire_and_forget still runs once its input is there, the other one is forgotten and never runs."""
    gate = gates()
    out = str(tmp_path / "out")
    upstream = start_blocked(client, gate, "up")
    kept = client.submit(append_line_after, out, "fire-and-forget", upstream, pure=False)
    dropped = client.submit(append_line_after, out, "dropped", upstream, pure=False)
    key = kept.key
    fire_and_forget(kept)
    del kept, dropped
    gc.collect()
    settle_releases(client)  # both drops reached the scheduler before the input is ready
    gate.open()
    assert upstream.result(timeout=TIMEOUT) == "up"
    assert wait_until(lambda: lines(out) == ["fire-and-forget"]), lines(out)
    assert wait_until(lambda: key not in client.who_has()), "fire_and_forget key never released"
    assert wait_until(lambda: idle(client))
    assert lines(out) == ["fire-and-forget"], "a dropped task without fire_and_forget ran anyway"


def test_fire_and_forget_kept_while_running(client, gates):
    gate = gates()
    f = start_blocked(client, gate, "ff")
    key = f.key
    fire_and_forget(f)
    del f
    gc.collect()
    settle_releases(client)
    assert key in client.who_has(), "a fire_and_forget task was forgotten while running"
    gate.open()
    assert wait_until(lambda: key not in client.who_has()), "fire_and_forget key never released"


def test_fire_and_forget_nested_collection(client, gates, tmp_path):
    gate = gates()
    out = str(tmp_path / "nested")
    upstream = start_blocked(client, gate)
    fs = [client.submit(append_line_after, out, str(i), upstream, pure=False) for i in range(3)]
    fire_and_forget({"a": fs[:2], "b": (fs[2],)})
    del fs
    gc.collect()
    settle_releases(client)
    gate.open()
    assert wait_until(lambda: sorted(lines(out)) == ["0", "1", "2"]), lines(out)


# --------------------------------------------------------------------------- cluster introspection


def test_who_has_has_what(client, workers):
    f = client.submit(inc, 424242)
    f.result(timeout=TIMEOUT)
    wh = client.who_has([f])
    assert set(wh) == {f.key}
    assert len(wh[f.key]) == 1 and wh[f.key][0] in workers
    holder = wh[f.key][0]
    assert f.key in client.who_has()
    hw = client.has_what()
    assert set(hw) == set(workers)
    assert f.key in hw[holder]
    assert client.who_has(f) == wh  # a single future works too
    assert set(client.has_what(workers=[holder])) == {holder}


def test_processing_lists_the_tasks_each_worker_runs(client, workers, gates):
    gate = gates()
    f = start_blocked(client, gate, "done", workers=[workers[0]])
    assert client.processing() == {workers[0]: [f.key], workers[1]: []}
    assert client.processing(workers=[workers[1]]) == {workers[1]: []}
    gate.open()
    assert f.result(timeout=TIMEOUT) == "done"
    assert wait_until(lambda: client.processing() == {w: [] for w in workers})


def test_nthreads_and_scheduler_info(client, workers):
    assert client.nthreads() == {w: 1 for w in workers}
    info = client.scheduler_info()
    assert info["address"] == client.scheduler_address
    assert set(info["workers"]) == set(workers)
    for w in workers:
        assert info["workers"][w]["nthreads"] == 1


def test_run_on_every_worker(client, workers):
    pids = client.run(os.getpid)
    assert set(pids) == set(workers)
    assert len(set(pids.values())) == 2
    assert os.getpid() not in pids.values()
    assert client.run(add, 1, 2) == {w: 3 for w in workers}
    assert client.run(scale, 2, factor=5) == {w: 10 for w in workers}
    assert client.run(os.getpid, workers=[workers[0]]) == {workers[0]: pids[workers[0]]}
    with pytest.raises(ValueError, match="no such workers"):
        client.run(os.getpid, workers=["tcp://127.0.0.1:1"])


def test_run_raises_remote_error(client):
    with pytest.raises(MyError, match="from run"):
        client.run(fail_with, "from run")
    out = client.run(fail_with, "returned", on_error="return")
    assert len(out) == 2 and all(isinstance(e, MyError) for e in out.values())


def scheduler_address_of(dask_scheduler):
    return dask_scheduler.address


def test_run_on_scheduler(client):
    worker_pids = set(client.run(os.getpid).values())
    pid = client.run_on_scheduler(os.getpid)
    assert isinstance(pid, int)
    assert pid != os.getpid() and pid not in worker_pids
    assert client.run_on_scheduler(add, 2, 3) == 5
    assert client.run_on_scheduler(scheduler_address_of) == client.scheduler_address
    assert client.run_on_scheduler(lambda dask_scheduler: type(dask_scheduler).__name__) == "Scheduler"


# --------------------------------------------------------------------------- memory


def test_key_released_after_last_future_deleted(client):
    f = client.submit(inc, 1_000_001)
    key = f.key
    assert f.result(timeout=TIMEOUT) == 1_000_002
    g = client.submit(inc, 1_000_001)  # a second handle on the same key
    assert g.key == key
    del f
    gc.collect()
    settle_releases(client)  # the drop of f has reached the scheduler
    assert key in client.who_has(), "released while another future still holds the key"
    del g
    gc.collect()
    assert wait_until(lambda: key not in client.who_has()), client.who_has()
    assert wait_until(lambda: all(key not in keys for keys in client.has_what().values()))


def spy_release_keys(client_id, dask_scheduler):
    """On the scheduler: record the keys of each release message from ``client_id`` (still handled)."""
    dask_scheduler.test_release_calls = spy_messages(dask_scheduler, client_id, messages.RELEASE_KEYS, list)


def unspy_release_keys(client_id, dask_scheduler):
    unspy_messages(dask_scheduler, client_id)
    return dask_scheduler.__dict__.pop("test_release_calls")


def test_dropped_futures_are_released_in_batches(client):
    """500 futures dropped at once reach the scheduler in a few release messages, not one each."""
    fs = client.map(inc, range(500), pure=False)
    assert client.gather(fs)[-1] == 500
    keys = {f.key for f in fs}
    client.run_on_scheduler(spy_release_keys, client.id)
    try:
        del fs
        gc.collect()
        settle_releases(client)
    finally:
        calls = client.run_on_scheduler(unspy_release_keys, client.id)
    ours = [c for c in calls if keys & set(c)]
    assert set().union(*ours) >= keys, "some dropped futures were never released"
    assert len(ours) <= 5, f"{len(ours)} release messages for 500 futures: {[len(c) for c in ours]}"
    assert not keys & set(client.who_has())


def test_scattered_key_released(client):
    f = client.scatter("to be released", hash=False)
    key = f.key
    assert key in client.who_has()
    del f
    gc.collect()
    assert wait_until(lambda: key not in client.who_has())
    assert wait_until(lambda: all(key not in keys for keys in client.has_what().values()))


def test_data_released_and_scattered_again_at_once_under_the_same_keys_is_kept(client):
    """The release of the old futures and the worker's "free" of their keys may still be on their way
    when the same values (hashed keys) or names come back: the new data must never be freed by them."""
    for i in range(60):
        hashed = client.scatter([1, 2, 3, 4])
        named = client.scatter({"jf-rescattered-a": i, "jf-rescattered-b": -i})
        assert client.gather(hashed) == [1, 2, 3, 4], f"round {i}"
        assert client.gather(named) == {"jf-rescattered-a": i, "jf-rescattered-b": -i}, f"round {i}"
        assert all(client.who_has(hashed).values()), f"round {i}: the scheduler forgot a scattered key"
        del hashed, named


def test_key_kept_while_dependent_needs_it(client, gates):
    gate = gates()
    x = client.submit(blocked, gate.started, gate.path, 10, pure=False)
    y = client.submit(inc, x)
    x_key = x.key
    del x
    gc.collect()
    settle_releases(client)
    assert x_key in client.who_has(), "input released while a dependent still waits for it"
    gate.open()
    assert y.result(timeout=TIMEOUT) == 11
    # Once the dependent is done and no future holds it, the input goes.
    assert wait_until(lambda: x_key not in client.who_has()), client.who_has()
    y_key = y.key
    del y
    gc.collect()
    assert wait_until(lambda: y_key not in client.who_has())


def test_key_kept_while_other_client_holds_it(client):
    with Client(client.scheduler_address, set_as_default=False) as other:
        mine = client.submit(inc, 2_000_002)
        theirs = other.submit(inc, 2_000_002)
        key = mine.key
        assert theirs.key == key
        assert mine.result(timeout=TIMEOUT) == theirs.result(timeout=TIMEOUT) == 2_000_003
        del mine
        gc.collect()
        settle_releases(client)
        assert key in client.who_has(), "released while another client holds a future for it"
        assert other.gather(theirs) == 2_000_003
        del theirs
        gc.collect()
        assert wait_until(lambda: key not in client.who_has())


def test_key_released_when_other_client_closes(client):
    with Client(client.scheduler_address, set_as_default=False) as other:
        f = other.submit(inc, 3_000_003)
        key = f.key
        assert f.result(timeout=TIMEOUT) == 3_000_004
        assert key in client.who_has()
    assert wait_until(lambda: key not in client.who_has())


# --------------------------------------------------------------------------- clear errors


@pytest.mark.parametrize("options, message", [
    ({"priority": "high"}, r"priority='high': give a number"),
    ({"retries": -1}, r"retries=-1: .*whole number >= 0"),
    ({"retries": "x"}, r"retries='x': .*whole number >= 0"),
    ({"resources": {"GPU": "1"}}, r"resources=.*dict of resource names to amounts, e.g. \{'GPU': 1\}"),
    ({"workers": 5}, r"workers=5: give a worker's address or name"),
    ({"key": 123}, r"key=123: give a string"),
])
def test_bad_task_options_name_the_option_and_the_fix(client, options, message):
    with pytest.raises((TypeError, ValueError), match=message):
        client.submit(inc, 1, pure=False, **options)
    with pytest.raises((TypeError, ValueError), match=message):
        client.map(inc, [1, 2], **({**options, "key": [123, "b"]} if "key" in options else options))
    assert client.submit(inc, 1, pure=False).result(timeout=TIMEOUT) == 2  # nothing was sent, nothing broke


def test_map_of_a_non_iterable_names_the_fix(client):
    with pytest.raises(TypeError, match=r"map\(\) takes iterables of arguments, got int 5: use client.submit"):
        client.map(inc, 5)


def test_a_malformed_message_is_dropped_and_the_rest_of_its_batch_still_runs(client):
    """A message the scheduler cannot handle is logged and dropped; the others of its batch still count."""
    client.outbox.send(messages.update_graph([("bad-record",)]))  # not a task record at all
    assert client.submit(inc, 41, pure=False).result(timeout=TIMEOUT) == 42


def test_submit_not_callable(client):
    """The error says what was passed and how to call submit instead."""
    with pytest.raises(TypeError) as info:
        client.submit(42)
    msg = str(info.value)
    assert "needs a callable" in msg and "got int 42" in msg, msg
    assert "pass the function itself, e.g. client.submit(f, x), not f(x)" in msg, msg
    with pytest.raises(TypeError, match=r"needs a callable as its first argument, got int 42.*"
                                         r"pass the function itself.*client\.map\(f, "):
        client.map(42, [1, 2])


def test_unpicklable_argument(client):
    t0 = time.monotonic()
    with pytest.raises(SerializationError) as info:
        client.submit(echo, 1, threading.Lock())
    assert isinstance(info.value, TypeError)
    msg = str(info.value)
    assert "argument 1" in msg and "lock" in msg.lower(), msg
    with pytest.raises(SerializationError, match="'guard'"):
        client.submit(echo, guard=threading.Lock())
    with pytest.raises(SerializationError):
        client.map(echo, [1, threading.Lock()])
    assert time.monotonic() - t0 < 5
    # The client still works afterwards.
    assert client.submit(inc, 1, pure=False).result(timeout=TIMEOUT) == 2


def test_unpicklable_result(client):
    for fn in (make_generator, make_lock):
        f = client.submit(fn, 3) if fn is make_generator else client.submit(fn)
        with pytest.raises(TypeError) as info:
            f.result(timeout=TIMEOUT)
        msg = str(info.value)
        assert f.key in msg and "pickle" in msg, msg
        assert f.status == "error"
    assert client.submit(inc, 2, pure=False).result(timeout=TIMEOUT) == 3


@pytest.mark.parametrize("token", ["not-a-real-token", None], ids=["with-token", "without-token"])
def test_connect_nothing_listening(monkeypatch, tmp_path, token):
    """Nothing listens at the address (with a token given, or none anywhere): OSError within the timeout,
    naming the address."""
    monkeypatch.delenv("JUPYTER_FUTURES_TOKEN", raising=False)
    monkeypatch.setenv("JUPYTER_FUTURES_TOKEN_FILE", str(tmp_path / "no-token-here"))
    with refused_address() as address:
        t0 = time.monotonic()
        with pytest.raises(OSError) as info:
            Client(address, timeout=2, token=token)
        assert time.monotonic() - t0 < 2 + 3
    assert address.split("://")[1] in str(info.value), str(info.value)


def test_connect_silent_server_times_out():
    """Something listens but never answers the handshake: OSError after ``timeout``, naming the address."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        address = f"tcp://127.0.0.1:{server.getsockname()[1]}"
        t0 = time.monotonic()
        with pytest.raises(OSError) as info:
            Client(address, timeout=1, token="not-a-real-token")
        elapsed = time.monotonic() - t0
    assert 0.5 < elapsed < 1 + 3
    assert address.split("://")[1] in str(info.value), str(info.value)


def test_connect_address_without_scheme(client):
    """``Client("127.0.0.1:PORT")`` (no ``tcp://``) connects to the running scheduler, like dask."""
    address = client.scheduler_address
    assert address.startswith("tcp://127.0.0.1:")
    bare = address[len("tcp://"):]
    with Client(bare, set_as_default=False, timeout=TIMEOUT) as other:
        assert other.status == "running"
        assert other.nthreads() == client.nthreads()
        assert other.submit(add, 40, 2, pure=False).result(timeout=TIMEOUT) == 42


def worker_memory_limit(dask_worker):
    return dask_worker.memory_limit


def test_client_memory_limit_per_worker():
    """``memory_limit`` is each worker's limit, as the scheduler and the workers themselves report it."""
    with Client(n_workers=2, threads_per_worker=1, memory_limit="300MB", set_as_default=False) as c:
        workers = c.scheduler_info()["workers"]
        assert len(workers) == 2
        assert {a: w["memory_limit"] for a, w in workers.items()} == dict.fromkeys(workers, 300_000_000)
        assert c.run(worker_memory_limit) == dict.fromkeys(workers, 300_000_000)
        assert c.submit(inc, 1).result(timeout=TIMEOUT) == 2


@pytest.fixture
def closed_client(client):
    """A second client on the shared cluster, used once and closed; with one future it made."""
    other = Client(client.scheduler_address, set_as_default=False)
    f = other.submit(inc, 1, pure=False)
    assert f.result(timeout=TIMEOUT) == 2
    other.close()
    assert other.status == "closed"
    other.close()  # closing twice is fine
    return other, f


CLOSED_CALLS = {
    "submit": lambda c, f: c.submit(inc, 1),
    "map": lambda c, f: c.map(inc, [1]),
    "scatter": lambda c, f: c.scatter(1),
    "gather": lambda c, f: c.gather([f]),
    "cancel": lambda c, f: c.cancel([f]),
    "who_has": lambda c, f: c.who_has(),
    "has_what": lambda c, f: c.has_what(),
    "nthreads": lambda c, f: c.nthreads(),
    "scheduler_info": lambda c, f: c.scheduler_info(),
    "run": lambda c, f: c.run(os.getpid),
    "run_on_scheduler": lambda c, f: c.run_on_scheduler(os.getpid),
    "get_task_stream": lambda c, f: c.get_task_stream(),
}


@pytest.mark.parametrize("method", sorted(CLOSED_CALLS))
def test_closed_client_raises_client_closed_error(closed_client, method):
    other, f = closed_client
    with pytest.raises(ClientClosedError) as info:
        CLOSED_CALLS[method](other, f)
    assert str(info.value) == "this Client is closed: create a new one with `client = Client(...)`"
