"""``Client.get_executor()``: the cluster as a ``concurrent.futures.Executor`` (as distributed's
ClientExecutor, whose tests these follow), on a real 2-worker cluster."""
import concurrent.futures as cf
import os
import threading

import pytest

from procs import TIMEOUT, Gate, wait_until


def inc(x):
    return x + 1


def slow_inc(x, gate):
    from procs import blocked

    return blocked(gate + f".{x}.started", gate, x + 1)


def div(x, y):
    return x / y


def worker_pid(_=None):
    return os.getpid()


@pytest.fixture(scope="module")
def executor(client):
    return client.get_executor(pure=False)


def test_submit_gives_a_concurrent_future_of_the_result(executor):
    future = executor.submit(inc, 1)
    assert isinstance(future, cf.Future)
    assert future.result(timeout=TIMEOUT) == 2


def test_a_tasks_exception_is_the_futures_exception(executor):
    future = executor.submit(div, 1, 0)
    with pytest.raises(ZeroDivisionError):
        future.result(timeout=TIMEOUT)
    assert isinstance(future.exception(timeout=TIMEOUT), ZeroDivisionError)


def test_map_gives_results_in_order(executor):
    assert list(executor.map(inc, range(20), timeout=TIMEOUT)) == list(range(1, 21))
    assert list(executor.map(div, [1, 4], [2, 2])) == [0.5, 2.0]


def test_map_raises_the_first_error_when_it_is_reached(executor):
    results = executor.map(div, [1, 1, 1], [1, 0, 1])
    assert next(results) == 1.0
    with pytest.raises(ZeroDivisionError):
        next(results)


def test_map_past_its_timeout_raises_concurrent_timeout_error(executor, tmp_path):
    gate = Gate(tmp_path / "gate")
    results = executor.map(slow_inc, [1], [gate.path], timeout="100ms")
    with pytest.raises(cf.TimeoutError):
        list(results)
    gate.open()


def test_wait_and_as_completed_of_concurrent_futures_work(executor):
    futures = [executor.submit(inc, i) for i in range(10)]
    done, not_done = cf.wait(futures, timeout=TIMEOUT)
    assert len(done) == 10 and not not_done
    assert sorted(f.result() for f in cf.as_completed(futures, timeout=TIMEOUT)) == list(range(1, 11))


def test_cancelling_the_concurrent_future_cancels_the_task(client, executor, tmp_path):
    gate = Gate(tmp_path / "gate")
    blocker = executor.submit(slow_inc, 1, gate.path)
    queued = executor.submit(inc, 41)
    assert wait_until(lambda: os.path.exists(gate.path + ".1.started"))
    behind = [executor.submit(slow_inc, i, gate.path) for i in range(2, 6)]
    assert behind[-1].cancel()
    assert behind[-1].cancelled()
    done, _ = cf.wait([behind[-1]], timeout=TIMEOUT)
    assert behind[-1] in done
    gate.open()
    assert blocker.result(timeout=TIMEOUT) == 2 and queued.result(timeout=TIMEOUT) == 42
    assert [f.result(timeout=TIMEOUT) for f in behind[:-1]] == [3, 4, 5]


def test_options_apply_to_every_call(client):
    worker = sorted(client.scheduler_info()["workers"])[0]
    pid = client.run(os.getpid, workers=[worker])[worker]
    pinned = client.get_executor(workers=[worker], pure=False)
    assert {pinned.submit(worker_pid).result(timeout=TIMEOUT) for _ in range(5)} == {pid}
    assert set(pinned.map(worker_pid, range(5))) == {pid}


def test_unknown_options_are_refused_with_the_allowed_ones(client):
    with pytest.raises(TypeError, match="unsupported arguments to ClientExecutor: \\['bogus'\\]"):
        client.get_executor(bogus=1)


def test_shutdown_waits_for_the_tasks_then_refuses_new_ones(client, tmp_path):
    gate = Gate(tmp_path / "gate")
    executor = client.get_executor(pure=False)
    future = executor.submit(slow_inc, 1, gate.path)
    opener = threading.Timer(0.2, gate.open)
    opener.start()
    executor.shutdown(wait=True)
    assert future.done() and future.result() == 2
    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit(inc, 1)
    opener.join()


def test_shutdown_without_waiting_cancels_what_is_not_done(client, tmp_path):
    gate = Gate(tmp_path / "gate")
    executor = client.get_executor(pure=False)
    futures = [executor.submit(slow_inc, i, gate.path) for i in range(4)]
    executor.shutdown(wait=False)
    done, not_done = cf.wait(futures, timeout=TIMEOUT)
    assert not not_done and all(f.cancelled() for f in futures)
    gate.open()


def test_the_executor_is_a_context_manager(client):
    with client.get_executor(pure=False) as executor:
        future = executor.submit(inc, 1)
    assert future.done() and future.result() == 2
