"""The examples of the user guide (SPEC-futures-guide.md), run against jupyter_futures.

One test per example, in the order of the guide. The functions the guide leaves
abstract are defined below, small and deterministic, so that every result can be
checked against what plain Python computes.
"""
import gc
import json
import os
import threading
import traceback
from itertools import product

import pytest

from jupyter_futures import Client, LocalCluster, as_completed, fire_and_forget

from procs import settle_releases, wait_until

TIMEOUT = 30  # seconds; any wait longer than this is a bug, not a slow machine


# --------------------------------------------------------------------------- helpers


def wait_for_gate(gate):
    """Block (inside a task) until the file ``gate`` exists; fail after TIMEOUT."""
    if not wait_until(lambda: os.path.exists(gate)):
        raise TimeoutError(f"gate {gate} never opened")
    return True


def add(x, y):
    return x + y


def square(x):
    return x**2


def expensive_function(n, gate=None):
    """Sum of squares below ``n``; with ``gate``, first waits until that file exists."""
    if gate is not None:
        wait_for_gate(gate)
    return sum(i * i for i in range(n))


def might_fail(x):
    if x < 0:
        raise ValueError("Negative value")
    return x**2


def func1(x):
    return x * 3


def func2(y):
    return y - 4


def func3(a, b):
    return a * 10 + b


STRIPES = 100


def process(data, i=None):
    """The guide's ``process``: sum of squares of ``data``, or of its ``i``-th stripe."""
    if i is not None:
        data = data[i::STRIPES]
    return sum(int(x) * int(x) for x in data)


def make_big_data():
    """One megabyte of deterministic bytes (scattered as a single object)."""
    return bytes(i % 251 for i in range(1_000_000))


def log_to_database(data, database, ready=None):
    """Side effect only: write ``data`` as JSON to the file ``database`` (atomically).

    ``ready`` is an upstream future's value, passed only to make this task wait for it.
    """
    tmp = database + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, database)


def expensive_calc(data):
    return sum(x * x for x in data)


def process1(x):
    return x + 1


def process2(x):
    return x * 2


def use_result(x):
    return x - 7


def expensive_computation(item):
    return sum(i * i for i in range(item % 97)) + item


def process_item(item):
    # Independent computation
    return expensive_computation(item)


def simulate(param1, param2, param3):
    return (param1, param2, param3), param1 * param1 + param2 * param3 - param3


def run_simulation(param1, param2, param3):
    # Run simulation with parameters
    return simulate(param1, param2, param3)


def load_data(file):
    """Read one integer per line."""
    with open(file) as f:
        return [int(line) for line in f if line.strip()]


def aggregate(results):
    return {"count": len(results), "total": sum(results)}


def update_function(x):
    """One Newton step towards sqrt(2)."""
    return (x + 2.0 / x) / 2.0


def check_convergence(x):
    return abs(x * x - 2.0) < 1e-12


# --------------------------------------------------------------------------- Setting Up Client


def test_client_default_local_cluster():
    """Setting Up Client: ``Client()`` starts a local cluster on this machine: one single-threaded
    worker process per core (README: "a scheduler + one worker process per core")."""
    with Client() as client:
        nthreads = client.nthreads()
        assert list(nthreads.values()) == [1] * (os.cpu_count() or 1)
        pids = {w["pid"] for w in client.scheduler_info()["workers"].values()}
        assert len(pids) == len(nthreads) and os.getpid() not in pids  # separate processes
        assert client.submit(add, 1, 2).result(timeout=TIMEOUT) == 3


def test_client_with_resources():
    """Setting Up Client: ``Client(n_workers=4, threads_per_worker=2)``."""
    with Client(n_workers=4, threads_per_worker=2) as client:
        nthreads = client.nthreads()
        assert len(nthreads) == 4
        assert sorted(nthreads.values()) == [2, 2, 2, 2]
        assert sum(client.nthreads().values()) == 8
        futures = client.map(square, range(16))
        assert client.gather(futures) == [x**2 for x in range(16)]


def test_client_connects_to_existing_cluster():
    """Setting Up Client: ``Client('scheduler-address')`` (and ``Client(cluster)``) join a running cluster."""
    with LocalCluster(n_workers=1, threads_per_worker=1) as cluster:
        address = cluster.scheduler_address
        assert isinstance(address, str) and address
        with Client(address) as by_address, Client(cluster) as by_cluster:
            assert len(by_address.nthreads()) == 1
            assert by_address.nthreads() == by_cluster.nthreads()
            assert by_address.submit(add, 20, 1).result(timeout=TIMEOUT) == 21
            assert by_cluster.submit(add, 40, 2).result(timeout=TIMEOUT) == 42


# --------------------------------------------------------------------------- Submitting Tasks


def test_basic_submit(client):
    """Submitting Tasks / Basic Submit: ``client.submit(add, 1, 2).result() == 3``."""
    future = client.submit(add, 1, 2)
    result = future.result(timeout=TIMEOUT)  # Blocks until complete
    assert result == 3
    assert future.key.startswith("add-")
    assert future.done()
    assert future.status == "finished"


def test_multiple_tasks(client):
    """Submitting Tasks / Multiple Tasks: ten submits gathered at once."""
    futures = []
    for i in range(10):
        future = client.submit(add, i, i)
        futures.append(future)
    results = client.gather(futures)
    assert results == [i + i for i in range(10)]


def test_map_over_inputs(client):
    """Submitting Tasks / Map Over Inputs: ``client.map(square, range(100))``."""
    futures = client.map(square, range(100))
    assert len(futures) == 100
    results = client.gather(futures)
    assert results == [x**2 for x in range(100)]


# --------------------------------------------------------------------------- Working with Futures


def test_check_status(client, tmp_path):
    """Working with Futures / Check Status: ``done()`` and ``status`` before and after completion."""
    gate = tmp_path / "gate"
    future = client.submit(expensive_function, 1000, str(gate))
    assert future.done() is False
    assert future.status in ("pending", "running")
    gate.touch()
    assert future.result(timeout=TIMEOUT) == sum(i * i for i in range(1000))
    assert future.done() is True
    assert future.status == "finished"


def test_non_blocking_result_retrieval(client, tmp_path):
    """Working with Futures / Non-Blocking Result Retrieval: ``done()`` check and ``add_done_callback``."""
    gate = tmp_path / "gate"
    future = client.submit(expensive_function, 500, str(gate))
    expected = sum(i * i for i in range(500))

    messages = []
    if future.done():
        messages.append(f"Result: {future.result()}")
    else:
        messages.append("Still computing...")
    assert messages == ["Still computing..."]

    seen = []
    called = threading.Event()

    def handle_result(future):
        seen.append((future, future.result()))
        called.set()

    future.add_done_callback(handle_result)
    assert not called.is_set()
    gate.touch()
    assert called.wait(TIMEOUT)
    assert len(seen) == 1
    assert seen[0][0] is future
    assert seen[0][1] == expected

    # A callback added once the future is done runs too.
    late = threading.Event()
    late_results = []

    def handle_late(future):
        late_results.append(future.result())
        late.set()

    future.add_done_callback(handle_late)
    assert late.wait(TIMEOUT)
    assert late_results == [expected]
    assert future.done()
    assert future.result(timeout=TIMEOUT) == expected


def test_error_handling(client):
    """Working with Futures / Error Handling: the task's ValueError is re-raised with its message."""
    future = client.submit(might_fail, -5)
    failures = []
    try:
        future.result(timeout=TIMEOUT)
    except ValueError as e:
        failures.append(f"Task failed: {e}")
    assert failures == ["Task failed: Negative value"]

    with pytest.raises(ValueError, match="^Negative value$"):
        future.result(timeout=TIMEOUT)
    assert future.status == "error"
    assert future.done()

    exc = future.exception(timeout=TIMEOUT)
    assert isinstance(exc, ValueError)
    assert str(exc) == "Negative value"
    tb = future.traceback(timeout=TIMEOUT)
    assert tb is not None
    assert "might_fail" in "".join(traceback.format_tb(tb))

    ok = client.submit(might_fail, 5)
    assert ok.result(timeout=TIMEOUT) == 25
    assert ok.status == "finished"


# --------------------------------------------------------------------------- Task Dependencies


def test_automatic_dependency_tracking(client):
    """Task Dependencies / Automatic Dependency Tracking: add(add(add(1, 2), 10), 100) == 113."""
    future1 = client.submit(add, 1, 2)
    future2 = client.submit(add, future1, 10)  # Depends on future1
    future3 = client.submit(add, future2, 100)  # Depends on future2
    result = future3.result(timeout=TIMEOUT)
    assert result == 113
    assert future1.result(timeout=TIMEOUT) == 3
    assert future2.result(timeout=TIMEOUT) == 13
    assert [f.status for f in (future1, future2, future3)] == ["finished"] * 3


def test_complex_dependencies(client):
    """Task Dependencies / Complex Dependencies: ``func3(a, b)`` waits for both inputs."""
    x, y = 7, 30
    a = client.submit(func1, x)
    b = client.submit(func2, y)
    c = client.submit(func3, a, b)  # Depends on both a and b
    result = c.result(timeout=TIMEOUT)
    assert result == func3(func1(x), func2(y)) == 236


# --------------------------------------------------------------------------- Data Movement


def test_scatter_data(client):
    """Data Movement Optimization / Scatter Data: one scattered dataset used by 100 tasks."""
    big_data = make_big_data()
    large_dataset = client.scatter(big_data)  # Returns future
    assert not isinstance(large_dataset, (list, tuple, dict))
    assert large_dataset.status == "finished"
    assert large_dataset.result(timeout=TIMEOUT) == big_data

    futures = [client.submit(process, large_dataset, i) for i in range(100)]
    results = client.gather(futures)
    assert results == [process(big_data, i) for i in range(100)]
    assert sum(results) == process(big_data)


def test_efficient_gathering(client):
    """Data Movement Optimization / Efficient Gathering: ``gather`` equals sequential ``result()``."""
    futures = client.map(square, range(50, 100))
    results = client.gather(futures)
    sequential = [f.result(timeout=TIMEOUT) for f in futures]
    assert results == sequential == [x**2 for x in range(50, 100)]


# --------------------------------------------------------------------------- Fire-and-Forget


def test_fire_and_forget(client, tmp_path):
    """Fire-and-Forget: the task still runs, and writes its file, after the future is dropped."""
    database = tmp_path / "database.json"
    gate = tmp_path / "gate"
    data = {"event": "login", "user": "ada", "n": 3}

    # The task waits on another one, so it is surely not done when its future goes away.
    ready = client.submit(wait_for_gate, str(gate))
    future = client.submit(log_to_database, data, str(database), ready)
    fire_and_forget(future)
    del future
    gc.collect()
    settle_releases(client)  # the scheduler knows the future is gone before the task can run

    gate.touch()
    assert ready.result(timeout=TIMEOUT) is True
    assert wait_until(database.exists), "fire-and-forget task never wrote its file"
    assert json.loads(database.read_text()) == data


# --------------------------------------------------------------------------- Memory Management


def test_memory_management_keep_references(client):
    """Memory Management / Keep References: a held future's data stays on the cluster for reuse."""
    data = [3, 1, 4, 1, 5, 9, 2, 6]
    expected = expensive_calc(data)

    important_result = client.submit(expensive_calc, data)
    future1 = client.submit(process1, important_result)
    future2 = client.submit(process2, important_result)
    assert future1.result(timeout=TIMEOUT) == expected + 1
    assert future2.result(timeout=TIMEOUT) == expected * 2

    # Its dependents are done, but we hold the reference: the data must still be there.
    key = important_result.key
    assert client.who_has()[key]
    assert any(key in keys for keys in client.has_what().values())
    assert important_result.status == "finished"
    assert important_result.result(timeout=TIMEOUT) == expected
    future3 = client.submit(process1, important_result)
    assert future3.result(timeout=TIMEOUT) == expected + 1


# --------------------------------------------------------------------------- Best Practices


def test_best_practice_pre_scatter_large_data(client):
    """Best Practices 1 / Pre-scatter Large Data: upload once, use in 100 tasks."""
    big_dataset = make_big_data()[::-1]
    large_data = client.scatter(big_dataset)
    assert client.who_has()[large_data.key]  # it lives on the cluster
    futures = [client.submit(process, large_data, i) for i in range(100)]
    assert client.gather(futures) == [process(big_dataset, i) for i in range(100)]


def test_best_practice_gather_for_bulk_retrieval(client):
    """Best Practices 2 / Use Gather for Bulk Retrieval: ``gather`` and a ``result()`` loop agree."""
    futures = [client.submit(add, i, 1000) for i in range(40)]
    results = client.gather(futures)
    assert results == [i + 1000 for i in range(40)]
    results = [f.result(timeout=TIMEOUT) for f in futures]
    assert results == [i + 1000 for i in range(40)]


def test_best_practice_manage_memory_with_references(client):
    """Best Practices 3 / Manage Memory with References: after ``del important`` the key is freed."""
    data = list(range(11, 29))
    expected = expensive_calc(data)

    important = client.submit(expensive_calc, data)
    f1 = client.submit(use_result, important)
    f2 = client.submit(use_result, important)
    assert f1.result(timeout=TIMEOUT) == expected - 7
    assert f2.result(timeout=TIMEOUT) == expected - 7

    key = important.key
    assert client.who_has()[key]  # held, so in memory on a worker

    def freed():
        on_workers = client.who_has().get(key)
        listed = any(key in keys for keys in client.has_what().values())
        return not on_workers and not listed

    del important
    gc.collect()
    assert wait_until(freed), f"{key} still held on the cluster after its last future was dropped"
    # The dependents' own results are unaffected.
    assert f1.result(timeout=TIMEOUT) == expected - 7


def test_best_practice_handle_errors(client):
    """Best Practices 4 / Handle Errors Appropriately: errors and results sorted out via as_completed."""
    inputs = range(-5, 10)
    futures = client.map(might_fail, inputs)
    results = []
    errors = []
    for future in as_completed(futures):
        try:
            results.append(future.result(timeout=TIMEOUT))
        except Exception as e:
            errors.append(e)
    assert sorted(results) == [x**2 for x in range(10)]
    assert len(errors) == 5
    assert all(type(e) is ValueError and str(e) == "Negative value" for e in errors)
    assert sorted(f.status for f in futures) == ["error"] * 5 + ["finished"] * 10


def test_best_practice_as_completed_progressive(client):
    """Best Practices 5 / Use as_completed for Progressive Processing."""
    items = [list(range(n)) for n in range(30)]
    futures = client.map(process, items)
    handled = []

    def handle_result(result):
        handled.append(result)

    seen = set()
    for future in as_completed(futures):
        assert future.done()
        seen.add(future.key)
        result = future.result(timeout=TIMEOUT)
        handle_result(result)
    assert seen == {f.key for f in futures}
    assert sorted(handled) == sorted(process(item) for item in items)


# --------------------------------------------------------------------------- Common Patterns


def test_pattern_embarrassingly_parallel(client):
    """Common Patterns / Embarrassingly Parallel Tasks: map over 1000 items and gather."""
    items = range(1000)
    futures = client.map(process_item, items)
    results = client.gather(futures)
    assert results == [expensive_computation(item) for item in items]


def test_pattern_parameter_sweep(client):
    """Common Patterns / Parameter Sweep: 10x10x10 submits consumed with as_completed."""
    params = product(range(10), range(10), range(10))
    futures = [client.submit(run_simulation, p1, p2, p3) for p1, p2, p3 in params]
    assert len(futures) == 1000

    collected = []

    def process_result(result):
        collected.append(result)

    for future in as_completed(futures):
        result = future.result(timeout=TIMEOUT)
        process_result(result)
    expected = [simulate(*p) for p in product(range(10), range(10), range(10))]
    assert len(collected) == 1000
    assert sorted(collected) == sorted(expected)


def test_pattern_pipeline_with_dependencies(client, tmp_path):
    """Common Patterns / Pipeline with Dependencies: load -> process -> aggregate a list of futures."""
    files = []
    for k in range(6):
        path = tmp_path / f"part-{k}.txt"
        path.write_text("".join(f"{k * 10 + j}\n" for j in range(k + 3)))
        files.append(str(path))

    load_futures = [client.submit(load_data, file) for file in files]
    process_futures = [client.submit(process, f) for f in load_futures]
    agg_future = client.submit(aggregate, process_futures)
    result = agg_future.result(timeout=TIMEOUT)

    expected = aggregate([process(load_data(file)) for file in files])
    assert result == expected
    assert result["count"] == 6


def test_pattern_iterative_algorithm(client):
    """Common Patterns / Iterative Algorithm: scattered state updated until converged."""
    initial_state = 1.0
    num_iterations = 50

    state = client.scatter(initial_state)
    for iteration in range(num_iterations):
        state = client.submit(update_function, state)
        converged = client.submit(check_convergence, state)
        if converged.result(timeout=TIMEOUT):
            break
    final_state = state.result(timeout=TIMEOUT)

    # The same loop in plain Python.
    x, expected_iterations = initial_state, 0
    for _ in range(num_iterations):
        x = update_function(x)
        expected_iterations += 1
        if check_convergence(x):
            break
    assert iteration + 1 == expected_iterations < num_iterations
    assert final_state == x
    assert abs(final_state - 2**0.5) < 1e-12
