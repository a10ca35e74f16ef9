"""Tasks that submit tasks: ``get_client``, ``worker_client``, ``secede``/``rejoin``, ``get_worker``.

The module's cluster is 2 workers x 1 thread (the ``client`` fixture of conftest.py):
a task that waits on its own subtasks must give its thread up, or the cluster
deadlocks. Tests that need a task to wait for another one without any client
call wait for a gate file (bounded), so only an explicit secede frees the thread.
"""
import gc
import os
import signal
import threading
import traceback

import psutil
import pytest

from jupyter_futures import Client, Future, Queue, get_client, get_worker, rejoin, secede, worker_client

from procs import Gate, blocked, settle_releases, wait_until

TIMEOUT = 30  # seconds; any wait longer than this is a bug, not a slow machine
SHORT = 0.5  # seconds a task waits for something that must not happen

pytestmark = pytest.mark.timeout(120)


# --------------------------------------------------------------------------- helpers and task functions


def inc(x):
    return x + 1


def add(x, y):
    return x + y


def double(x):
    return 2 * x


def client_identity(_=None):
    """(id of the worker's client, Python id of the object, same object twice?, worker address)."""
    c1 = get_client()
    c2 = get_client()
    return c1.id, id(c1), c1 is c2, get_worker().address, c1.scheduler_address


def touch(path):
    with open(path, "w"):
        pass
    return os.getpid()


def wait_for_file(path, timeout=TIMEOUT):
    """Wait (without any client call) until ``path`` exists; True if it did within ``timeout``."""
    return wait_until(lambda: os.path.exists(path), timeout)


def gate_with(mode, gate, address):
    """Submit ``touch(gate)`` pinned to this task's own worker, then wait for the gate file.

    ``mode``: "worker_client" (seceded while the block is open), "secede" (explicit secede/rejoin)
    or "none" (keeps the thread: the pinned task cannot start until this one returns).
    """
    c = get_client()
    if mode == "worker_client":
        with worker_client() as wc:
            assert wc is c
            fut = wc.submit(touch, gate, workers=[address], pure=False)
            opened = wait_for_file(gate)
            return opened, fut.result(timeout=TIMEOUT) == os.getpid()
    if mode == "secede":
        fut = c.submit(touch, gate, workers=[address], pure=False)
        secede()
        opened = wait_for_file(gate)
        rejoin()
        return opened, fut.result(timeout=TIMEOUT) == os.getpid()
    fut = c.submit(touch, gate, workers=[address], pure=False)
    opened = wait_for_file(gate, SHORT)
    return opened, fut.key


def recursive_sum(lo, hi, depth):
    """Sum of range(lo, hi) by splitting in two subtasks ``depth`` levels deep (get_client)."""
    if depth == 0:
        return sum(range(lo, hi))
    mid = (lo + hi) // 2
    c = get_client()
    left = c.submit(recursive_sum, lo, mid, depth - 1)
    right = c.submit(recursive_sum, mid, hi, depth - 1)
    return left.result() + right.result()


def recursive_sum_wc(lo, hi, depth):
    """As ``recursive_sum``, with ``worker_client()`` and ``gather``."""
    if depth == 0:
        return sum(range(lo, hi))
    mid = (lo + hi) // 2
    with worker_client() as c:
        parts = c.gather([c.submit(recursive_sum_wc, lo, mid, depth - 1),
                          c.submit(recursive_sum_wc, mid, hi, depth - 1)])
    return sum(parts)


def map_and_gather(n):
    with worker_client() as c:
        futures = c.map(inc, range(n))
        total = c.submit(sum, futures)
        return c.gather(futures), total.result()


def make_futures(n):
    """Submit ``n`` tasks and return their futures (not their values)."""
    c = get_client()
    return [c.submit(double, i, pure=False) for i in range(n)]


def make_futures_after(started, gate, n):
    """``make_futures`` once the file ``gate`` exists (after connecting its client and writing ``started``)."""
    get_client()
    with open(started, "w"):
        pass
    assert wait_until(lambda: os.path.exists(gate))
    return make_futures(n)


def sum_of(values):
    return sum(values)


def describe_args(items, mapping):
    """What a task sees of futures passed inside a list, a tuple and a dict."""
    return [type(x).__name__ for x in items], sum(items), {k: v for k, v in mapping.items()}


def use_received_futures(futures):
    """Receives Future objects (the value of a task that returned futures) and submits work on them."""
    assert all(isinstance(f, Future) for f in futures)
    c = get_client()
    direct = [f.result() for f in futures]
    total = c.submit(sum_of, futures).result()
    return direct, total


def inner_fails(x):
    raise ZeroDivisionError(f"inner task failed on {x}")


def outer_waits_on_failing_subtask(x):
    c = get_client()
    return c.submit(inner_fails, x).result()


def wait_on_pinned_subtask(x):
    """Block in ``result()`` on a subtask that can only run on this task's own (single-thread) worker."""
    c = get_client()
    return c.submit(inc, x, workers=[get_worker().address], pure=False).result(timeout=TIMEOUT)


def use_client_argument(c, x):
    """A task given a Client as an argument: it arrives as the worker's own client."""
    return c.submit(inc, x, pure=False).result(timeout=TIMEOUT), c.id, c is get_client()


def worker_info(_=None):
    w = get_worker()
    return w.address, w.nthreads, os.getpid(), type(w).__name__


def who_wants(keys):
    """A function for run_on_scheduler: {key: sorted clients holding it} for these keys."""
    def query(dask_scheduler):
        tasks = dask_scheduler.state.tasks
        return {k: sorted(tasks[k].who_wants) if k in tasks else None for k in keys}
    return query


# --------------------------------------------------------------------------- get_client


def test_get_client_is_one_client_per_worker(client):
    """Every task on one worker gets the same client object, connected to the client's scheduler;
    each worker process has its own."""
    addresses = sorted(client.nthreads())
    assert len(addresses) == 2
    seen = {}
    for address in addresses:
        futures = [client.submit(client_identity, i, workers=[address], pure=False) for i in range(4)]
        results = client.gather(futures)
        assert {r[3] for r in results} == {address}
        assert {r[4] for r in results} == {client.scheduler_address}
        assert all(r[2] for r in results), "get_client() twice in one task gave two objects"
        assert len({r[0] for r in results}) == 1, results
        assert len({r[1] for r in results}) == 1, results
        seen[address] = results[0][0]
    assert len(set(seen.values())) == 2
    assert client.id not in seen.values()


def test_get_client_outside_tasks_is_the_default_client(client):
    assert get_client() is client


def worker_client_id():
    return get_client().id


def test_get_client_on_a_workers_event_loop():
    """``client.run`` functions run on the worker's loop: there get_client() is the worker's client once a
    task made it, and before that a clear error, not a hang (the client would connect to that very loop)."""
    with Client(n_workers=1, threads_per_worker=1) as fresh:
        with pytest.raises(RuntimeError, match="cannot be made on an event loop.*in a task first"):
            fresh.run(worker_client_id)
        made_in_task = fresh.submit(worker_client_id).result(timeout=TIMEOUT)
        assert list(fresh.run(worker_client_id).values()) == [made_in_task]


def test_task_functions_outside_tasks_raise():
    for name, call in [("get_worker", get_worker), ("secede", secede), ("rejoin", rejoin),
                       ("worker_client", lambda: worker_client().__enter__())]:
        with pytest.raises(ValueError, match=rf"^{name}\(\) works only inside a task running on a worker$"):
            call()


# --------------------------------------------------------------------------- worker_client, secede, rejoin


def test_worker_client_submits_and_gathers(client):
    values, total = client.submit(map_and_gather, 20).result(timeout=TIMEOUT)
    assert values == [i + 1 for i in range(20)]
    assert total == sum(range(1, 21))


@pytest.mark.parametrize("mode", ["worker_client", "secede"])
def test_seceded_task_frees_its_thread(client, tmp_path, mode):
    """While seceded, a task's single-thread worker runs another task pinned to it."""
    address = sorted(client.nthreads())[0]
    gate = str(tmp_path / "gate")
    opened, same_process = client.submit(gate_with, mode, gate, address, workers=[address],
                                         pure=False).result(timeout=TIMEOUT)
    assert opened, "the pinned task never ran while the first one was seceded"
    assert same_process


def test_task_that_does_not_secede_keeps_its_thread(client, tmp_path):
    """Control: without secede, the pinned task only runs after the first one returns."""
    address = sorted(client.nthreads())[0]
    gate = str(tmp_path / "gate")
    opened, key = client.submit(gate_with, "none", gate, address, workers=[address],
                                pure=False).result(timeout=TIMEOUT)
    assert opened is False
    # The pinned task was not lost: it runs once the thread is free again.
    assert wait_until(lambda: os.path.exists(gate)), "the pinned task never ran"


_shared_lock = threading.Lock()  # one per worker process: the module is imported there


def hold_lock_while_waiting(other_worker, gate_path):
    """Take the lock, then wait (seceding on its own) for a task on the other worker."""
    c = get_client()
    with _shared_lock:
        return c.submit(blocked, gate_path + ".started", gate_path, "waited", workers=[other_worker],
                        pure=False).result()


def take_lock():
    with _shared_lock:
        return "took"


def test_a_task_that_waits_holding_a_lock_does_not_deadlock_the_task_in_its_slot(tmp_path):
    """A waits (seceded) on a task elsewhere while holding a lock; B takes A's thread and waits for that
    lock. When A's wait ends it goes on at once instead of waiting for B's thread (which waits for A)."""
    with Client(n_workers=2, threads_per_worker=1) as fresh:
        first, second = sorted(fresh.nthreads())
        gate = Gate(tmp_path / "gate")
        a = fresh.submit(hold_lock_while_waiting, second, gate.path, workers=[first], pure=False)
        gate.wait_started()  # A holds the lock and waits
        b = fresh.submit(take_lock, workers=[first], pure=False)
        assert wait_until(lambda: fresh.processing()[first] and b.key in fresh.processing()[first])
        gate.open()
        assert a.result(timeout=TIMEOUT) == "waited"
        assert b.result(timeout=TIMEOUT) == "took"


def first_get_client():
    get_client()
    return "made"


def test_a_tasks_first_get_client_does_not_wait_for_another_task(tmp_path):
    """Making the worker's client does not hand the task's thread to a queued task and wait for it back."""
    with Client(n_workers=1, threads_per_worker=1) as fresh:
        gate = Gate(tmp_path / "gate")
        made = fresh.submit(first_get_client, pure=False)
        other = fresh.submit(blocked, gate.started, gate.path, "other", pure=False)
        assert made.result(timeout=TIMEOUT) == "made"  # before the other task could end
        gate.open()
        assert other.result(timeout=TIMEOUT) == "other"


def make_future_and_bytes():
    return [get_client().submit(inc, 4, pure=False), b"x" * 2_000_000]


def own_client_gathers_futures(address, other_worker):
    """A task with a Client of its own gets a result holding a future (fetched, too big to ride along)."""
    with Client(address) as own:
        future, data = own.submit(make_future_and_bytes, workers=[other_worker], pure=False).result(
            timeout=TIMEOUT)
        return future.client is own, future.result(timeout=TIMEOUT), len(data)


def test_a_client_made_in_a_task_adopts_the_futures_it_receives():
    with Client(n_workers=2, threads_per_worker=1) as fresh:
        first, second = sorted(fresh.nthreads())
        result = fresh.submit(own_client_gathers_futures, fresh.scheduler_address, second, workers=[first],
                              pure=False).result(timeout=TIMEOUT)
        assert result == (True, 5, 2_000_000)


def rejoin_after_gate(gate_path):
    """Secede, wait for the gate (another task takes the thread meanwhile), then rejoin."""
    secede()
    assert wait_until(lambda: os.path.exists(gate_path))
    rejoin()
    return "rejoined"


def test_rejoin_waits_for_a_free_thread_and_a_timeout_still_interrupts_it(tmp_path):
    """Explicit rejoin() waits (as in dask) while another task holds the only thread; the task's
    timeout= interrupts that wait on time, and the worker goes on with one thread."""
    with Client(n_workers=1, threads_per_worker=1) as fresh:
        rejoin_gate, busy = str(tmp_path / "rejoin"), Gate(tmp_path / "busy")
        waiting = fresh.submit(rejoin_after_gate, rejoin_gate, pure=False, timeout=2)
        holder = fresh.submit(blocked, busy.started, busy.path, "held", pure=False)
        busy.wait_started()
        with open(rejoin_gate, "w"):
            pass
        with pytest.raises(TimeoutError, match="ran longer than its timeout of 2 s"):
            waiting.result(timeout=TIMEOUT)
        assert not holder.done()
        busy.open()
        assert holder.result(timeout=TIMEOUT) == "held"
        assert fresh.submit(inc, 1, pure=False).result(timeout=TIMEOUT) == 2


def test_secede_then_rejoin_returns_value(client):
    def secede_rejoin(x):
        secede()
        value = get_client().submit(inc, x).result()
        rejoin()
        return value + 1

    futures = [client.submit(secede_rejoin, i, pure=False) for i in range(6)]
    assert client.gather(futures) == [i + 2 for i in range(6)]


def test_blocking_on_a_subtask_frees_the_thread(client):
    """A task blocked in ``future.result()`` leaves the pool by itself: its pinned subtask can run."""
    address = sorted(client.nthreads())[0]
    futures = [client.submit(wait_on_pinned_subtask, i, workers=[address], pure=False) for i in range(3)]
    assert client.gather(futures) == [1, 2, 3]


def test_client_passed_as_an_argument_becomes_the_worker_client(client):
    value, client_id, is_worker_client = client.submit(use_client_argument, client, 1,
                                                       pure=False).result(timeout=TIMEOUT)
    assert value == 2
    assert client_id != client.id
    assert is_worker_client


# --------------------------------------------------------------------------- recursion


def test_recursion_depth_5_with_get_client(client):
    """2**5 leaves on 2 workers x 1 thread: blocked parents give their threads up by themselves."""
    assert sorted(client.nthreads().values()) == [1, 1]
    future = client.submit(recursive_sum, 0, 1000, 5)
    assert future.result(timeout=TIMEOUT) == sum(range(1000))


def test_recursion_depth_5_with_worker_client(client):
    future = client.submit(recursive_sum_wc, 0, 1000, 5)
    assert future.result(timeout=TIMEOUT) == sum(range(1000))


# --------------------------------------------------------------------------- futures across tasks


def test_futures_returned_from_a_task_stay_valid(client):
    """Futures a task returns outlive the task and its worker's references to them."""
    outer = client.submit(make_futures, 5, pure=False)
    inner = outer.result(timeout=TIMEOUT)
    assert all(isinstance(f, Future) for f in inner)
    assert all(f.client is client for f in inner)
    keys = [f.key for f in inner]
    del outer
    gc.collect()
    # Wait until the worker's client let go of them: only this client holds them now.
    assert wait_until(lambda: set(map(tuple, filter(None, client.run_on_scheduler(who_wants(keys)).values())))
                      == {(client.id,)}), client.run_on_scheduler(who_wants(keys))
    gc.collect()
    assert client.gather(inner) == [2 * i for i in range(5)]
    assert [f.result(timeout=TIMEOUT) for f in inner] == [2 * i for i in range(5)]
    # And they can feed new tasks.
    assert client.submit(sum_of, inner).result(timeout=TIMEOUT) == 20


def test_futures_returned_from_a_task_passed_to_another_task(client):
    """The list of futures returned by one task arrives in another task as Future objects."""
    outer = client.submit(make_futures, 4, pure=False)
    direct, total = client.submit(use_received_futures, outer, pure=False).result(timeout=TIMEOUT)
    assert direct == [0, 2, 4, 6]
    assert total == 12


def test_futures_fetched_by_a_worker_that_never_made_a_client():
    """Futures one worker's task returned arrive on another worker, one that has no client yet, as its
    input: it makes its client off its event loop to unpickle them (it failed in the loop and the task hung)."""
    with Client(n_workers=2, threads_per_worker=1) as fresh:
        first, second = sorted(fresh.nthreads())
        outer = fresh.submit(make_futures, 4, pure=False, workers=[first])
        used = fresh.submit(use_received_futures, outer, pure=False, workers=[second])
        assert used.result(timeout=TIMEOUT) == ([0, 2, 4, 6], 12)


class LoadsOnlyIn:
    """Pickles fine; unpickles only in the process that made it (a stand-in for a missing module)."""

    def __init__(self):
        self.pid = os.getpid()

    def __reduce__(self):
        return (_load_only_in, (self.pid,))


def _load_only_in(pid):
    if os.getpid() != pid:
        raise ImportError(f"no module named 'only_in_{pid}'")
    obj = LoadsOnlyIn.__new__(LoadsOnlyIn)
    obj.pid = pid
    return obj


def test_an_input_another_worker_cannot_unpickle_fails_its_task_not_the_worker():
    """The task needing it fails, naming the input and the reason; the worker goes on working."""
    with Client(n_workers=2, threads_per_worker=1) as fresh:
        first, second = sorted(fresh.nthreads())
        made = fresh.submit(LoadsOnlyIn, pure=False, workers=[first])
        needs_it = fresh.submit(type, made, pure=False, workers=[second])
        with pytest.raises(RuntimeError, match=rf"could not unpickle input '{made.key}'.*only_in_"):
            needs_it.result(timeout=TIMEOUT)
        assert needs_it.status == "error"
        assert fresh.submit(inc, 1, workers=[second]).result(timeout=TIMEOUT) == 2


def hold_future_from_queue(queue, started, gate):
    """Take a future out of ``queue``, say so, wait for ``gate``, then return the future's value."""
    future = queue.get(timeout=TIMEOUT)
    return blocked(started, gate, future).result(timeout=TIMEOUT)


def test_a_future_held_only_by_a_running_task_stays_valid(client, tmp_path):
    """The client drops its future and the queue that carried it is empty: the task holding it keeps
    the data alive until it is done with it; then the key goes."""
    q = Queue()
    gate = Gate(tmp_path / "gate")
    f = client.submit(inc, 41, pure=False)
    key = f.key
    assert f.result(timeout=TIMEOUT) == 42
    q.put(f)
    task = client.submit(hold_future_from_queue, q, gate.started, gate.path, pure=False)
    gate.wait_started()
    assert q.qsize() == 0
    del f
    gc.collect()
    settle_releases(client)
    assert client.who_has().get(key), "the data went while a running task held its future"
    gate.open()
    assert task.result(timeout=TIMEOUT) == 42
    assert wait_until(lambda: key not in client.who_has()), "kept after the task let go of its future"


def test_futures_inside_a_list_passed_into_a_task(client):
    """Futures nested in lists and dicts are replaced by their values, and stay valid in the client."""
    futures = client.map(inc, range(5))
    named = {"a": client.submit(double, 10), "b": client.submit(double, 20)}
    types, total, mapping = client.submit(describe_args, futures, named).result(timeout=TIMEOUT)
    assert types == ["int"] * 5
    assert total == sum(range(1, 6))
    assert mapping == {"a": 20, "b": 40}
    gc.collect()
    assert client.gather(futures) == [1, 2, 3, 4, 5]
    assert client.gather(named) == {"a": 20, "b": 40}


# --------------------------------------------------------------------------- errors


def test_nested_task_error_traceback(client):
    """A subtask's error is re-raised by the outer task; its traceback shows the inner frames."""
    future = client.submit(outer_waits_on_failing_subtask, 7)
    with pytest.raises(ZeroDivisionError, match="inner task failed on 7"):
        future.result(timeout=TIMEOUT)
    assert future.status == "error"
    tb = future.traceback(timeout=TIMEOUT)
    text = "".join(traceback.format_tb(tb))
    assert "inner_fails" in text
    assert "outer_waits_on_failing_subtask" in text
    assert text.index("outer_waits_on_failing_subtask") < text.index("inner_fails")
    assert 'raise ZeroDivisionError(f"inner task failed on {x}")' in text  # source lines of this file
    assert isinstance(future.exception(timeout=TIMEOUT), ZeroDivisionError)


# --------------------------------------------------------------------------- get_worker


def test_get_worker_inside_a_task(client):
    info = client.scheduler_info()["workers"]
    for address in info:
        got_address, nthreads, pid, kind = client.submit(worker_info, workers=[address],
                                                         pure=False).result(timeout=TIMEOUT)
        assert got_address == address
        assert nthreads == 1
        assert pid == info[address]["pid"]
        assert kind == "Worker"


def test_futures_a_task_returns_are_known_to_the_scheduler_before_its_result_leaves(client, tmp_path):
    """The task's submissions and our want for its futures can reach a busy scheduler together, on two
    connections read in any order: the worker holds the result back until the scheduler has the tasks."""
    gate = Gate(tmp_path / "gate")
    outer = client.submit(make_futures_after, gate.started, gate.path, 4, pure=False)
    gate.wait_started()
    scheduler = psutil.Process(client.run_on_scheduler(os.getpid))
    scheduler.send_signal(signal.SIGSTOP)  # busy: everything sent from now on waits in its sockets
    try:
        assert wait_until(lambda: scheduler.status() == psutil.STATUS_STOPPED)
        gate.open()
        assert not wait_until(outer.done, 0.3), "the result left before the scheduler knew the tasks in it"
    finally:
        scheduler.send_signal(signal.SIGCONT)
    inner = outer.result(timeout=TIMEOUT)
    assert client.gather(inner) == [0, 2, 4, 6]


# --------------------------------------------------------------------------- async client


def test_async_client_submits_task_that_submits_tasks(client):
    import asyncio

    async def main():
        async with Client(client.scheduler_address, asynchronous=True) as ac:
            future = ac.submit(recursive_sum, 0, 100, 3)
            assert await future == sum(range(100))
            outer = ac.submit(make_futures, 3, pure=False)
            inner = await outer
            assert await ac.gather(inner) == [0, 2, 4]

    asyncio.run(asyncio.wait_for(main(), TIMEOUT))
