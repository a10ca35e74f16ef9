"""Coordination primitives: ``Queue``, ``Lock``, ``Event``, ``Variable``, ``Semaphore``.

Each is used from the client and from tasks, by handle (passed into the task) or by
name. The scheduler holds their state; tests peek at it with ``run_on_scheduler``
(``dask_scheduler.coordination``). Crash tests start their own cluster with
``JUPYTER_FUTURES_LEASE_TIMEOUT=1`` and kill a worker while one of its tasks holds
a lock or a semaphore lease.

Tasks that must overlap in time record ``time.monotonic()`` (one clock for every
process of this machine) on entering and leaving a section; a short ``sleep``
inside simulates work.
"""
import asyncio
import gc
import os
import signal
import time
import uuid

import psutil
import pytest

from jupyter_futures import Client, Event, Lock, Queue, Semaphore, TimeoutError, Variable

from procs import PYTHON, alive, clean_env, kill_tree, settle_releases, start_process, wait_until

TIMEOUT = 30  # seconds; any wait longer than this is a bug, not a slow machine
SHORT = 0.3  # seconds to wait for something that must not happen
LEASE_TIMEOUT = 1.0  # seconds; the crash tests' cluster releases dead holders' locks after this

pytestmark = pytest.mark.timeout(120)


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def coordination_state(dask_scheduler):
    """The scheduler's coordination state, as plain data."""
    co = dask_scheduler.coordination
    return {
        "refs": {f"{kind}:{name}": dict(counts) for (kind, name), counts in co.refs.items()},
        "queues": {name: len(items) for name, items in co.queues.items()},
        "locks": dict(co.lock_holders),
        "events": dict(co.events),
        "variables": list(co.variables),
        "leases": {name: len(leases) for name, leases in co.leases.items()},
    }


def who_wants(key):
    def query(dask_scheduler):
        ts = dask_scheduler.state.tasks.get(key)
        return None if ts is None else sorted(ts.who_wants)
    return query


def max_overlap(intervals):
    """The largest number of (start, stop) intervals open at one instant."""
    points = sorted([(start, 1) for start, stop, *_ in intervals] + [(stop, -1) for start, stop, *_ in intervals],
                    key=lambda p: (p[0], p[1]))
    depth = best = 0
    for _, step in points:
        depth += step
        best = max(best, depth)
    return best


# --------------------------------------------------------------------------- task functions


def inc(x):
    return x + 1


def put_all(queue, items):
    for item in items:
        queue.put(item)
    return len(items)


def get_n(queue, n, timeout=TIMEOUT):
    return [queue.get(timeout=timeout) for _ in range(n)]


def put_one(queue, value, timeout=None):
    try:
        queue.put(value, timeout=timeout)
    except TimeoutError:
        return "timeout"
    return "put"


def get_one(queue, timeout=None):
    try:
        return queue.get(timeout=timeout)
    except TimeoutError:
        return "timeout"


def get_future_and_result(queue):
    """Get a future out of a queue inside a task, and its value."""
    future = queue.get(timeout=TIMEOUT)
    return type(future).__name__, future.result(timeout=TIMEOUT)


def put_new_future(queue, x):
    """Submit a task from a task and put its future into the queue."""
    from jupyter_futures import get_client

    future = get_client().submit(inc, x, pure=False)
    queue.put(future)
    return future.key


def queue_by_name(name, value):
    """Use a queue known only by its name."""
    q = Queue(name)
    q.put(value)
    return q.qsize()


def locked_interval(lock, work=0.02):
    with lock:
        start = time.monotonic()
        time.sleep(work)  # simulated work inside the critical section
        stop = time.monotonic()
    return start, stop, os.getpid()


def try_lock(name, blocking, timeout=None):
    lock = Lock(name)
    t0 = time.monotonic()
    got = lock.acquire(blocking=blocking, timeout=timeout)
    elapsed = time.monotonic() - t0
    if got:
        lock.release()
    return got, elapsed


def acquire_and_release(lock, timeout=TIMEOUT):
    """Wait for the lock (bounded); (taken?, monotonic time it was taken)."""
    got = lock.acquire(timeout=timeout)
    taken_at = time.monotonic()
    if got:
        lock.release()
    return got, taken_at


def wait_event(event, timeout=TIMEOUT):
    return event.wait(timeout=timeout), time.monotonic()


def set_event_by_name(name):
    Event(name).set()
    return True


def variable_set(name, value):
    Variable(name).set(value)
    return True


def variable_get(name, timeout=None):
    try:
        return Variable(name).get(timeout=timeout)
    except TimeoutError:
        return "timeout"


def variable_future_result(var):
    future = var.get(timeout=TIMEOUT)
    return type(future).__name__, future.result(timeout=TIMEOUT)


def leased_interval(sem, work=0.05):
    with sem:
        start = time.monotonic()
        time.sleep(work)  # simulated work while holding a lease
        stop = time.monotonic()
    return start, stop


def try_semaphore(sem, timeout):
    t0 = time.monotonic()
    got = sem.acquire(timeout=timeout)
    elapsed = time.monotonic() - t0
    if got:
        sem.release()
    return got, elapsed


# =========================================================================== Queue


def test_queue_put_get_from_client(client):
    q = Queue()
    assert q.qsize() == 0
    values = [1, "two", (3, 4), {"five": [5]}, None, b"six", 7.5]
    for v in values:
        q.put(v)
    assert q.qsize() == len(values)
    assert [q.get(timeout=TIMEOUT) for _ in values] == values
    assert q.qsize() == 0


def test_queue_between_tasks(client):
    q = Queue()
    consumer = client.submit(get_n, q, 20, pure=False)
    producer = client.submit(put_all, q, list(range(20)), pure=False)
    assert producer.result(timeout=TIMEOUT) == 20
    assert consumer.result(timeout=TIMEOUT) == list(range(20))
    assert q.qsize() == 0


def test_queue_by_name_in_tasks(client):
    name = unique("named-queue")
    q = Queue(name)
    sizes = client.gather([client.submit(queue_by_name, name, i, pure=False) for i in range(3)])
    assert sorted(sizes)[-1] == 3
    assert sorted(q.get(batch=True)) == [0, 1, 2]


def test_queue_get_timeout(client):
    q = Queue()
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        q.get(timeout=0.2)
    assert time.monotonic() - t0 >= 0.19
    assert client.submit(get_one, q, 0.2, pure=False).result(timeout=TIMEOUT) == "timeout"
    q.put("late")
    assert q.get(timeout=TIMEOUT) == "late"


def test_queue_get_timeout_message_names_the_queue(client):
    q = Queue(unique("q-msg"))
    with pytest.raises(TimeoutError, match=q.name):
        q.get(timeout=0.05)


def test_queue_get_waits_for_a_put(client):
    q = Queue()
    getter = client.submit(get_one, q, TIMEOUT, pure=False)
    assert not wait_until(getter.done, SHORT)
    q.put("hello")
    assert getter.result(timeout=TIMEOUT) == "hello"


def test_queue_batch(client):
    q = Queue()
    assert q.get(batch=True) == []
    for i in range(5):
        q.put(i)
    assert q.get(batch=2) == [0, 1]
    assert q.qsize() == 3
    assert q.get(batch=True) == [2, 3, 4]
    assert q.get(batch=True) == []
    # batch=n waits for n items.
    getter = client.submit(get_n_batch, q, 3, pure=False)
    q.put("a")
    q.put("b")
    assert not wait_until(getter.done, SHORT)
    q.put("c")
    assert getter.result(timeout=TIMEOUT) == ["a", "b", "c"]


def get_n_batch(queue, n):
    return queue.get(batch=n, timeout=TIMEOUT)


def test_queue_batch_timeout_takes_nothing(client):
    q = Queue()
    q.put("only")
    with pytest.raises(TimeoutError):
        q.get(batch=2, timeout=0.2)
    assert q.qsize() == 1
    assert q.get(timeout=TIMEOUT) == "only"


def test_queue_maxsize_put_blocks_until_a_get(client):
    q = Queue(maxsize=1)
    q.put("a")
    putter = client.submit(put_one, q, "b", TIMEOUT, pure=False)
    assert not wait_until(putter.done, SHORT), "put into a full queue did not wait"
    assert q.qsize() == 1
    assert q.get(timeout=TIMEOUT) == "a"
    assert putter.result(timeout=TIMEOUT) == "put"
    assert q.get(timeout=TIMEOUT) == "b"


def test_queue_maxsize_put_timeout(client):
    q = Queue(maxsize=2)
    q.put(1)
    q.put(2)
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        q.put(3, timeout=0.2)
    assert time.monotonic() - t0 >= 0.19
    assert q.qsize() == 2
    assert client.submit(put_one, q, 3, 0.2, pure=False).result(timeout=TIMEOUT) == "timeout"
    assert q.get(batch=True) == [1, 2]


def test_queue_maxsize_holds_for_handles_made_by_name(client):
    """The bound belongs to the queue (as in dask), not to the handle that was created with it."""
    name = unique("bounded")
    q = Queue(name, maxsize=1)
    q.put(1)
    other = Queue(name)
    with pytest.raises(TimeoutError):
        other.put(2, timeout=0.2)
    assert q.qsize() == 1


def test_queue_future_stays_valid_client_side(client):
    q = Queue()
    future = client.submit(inc, 41, pure=False)
    key = future.key
    assert future.result(timeout=TIMEOUT) == 42
    q.put(future)
    del future
    gc.collect()
    # Only the queue holds it now; its data stays.
    assert wait_until(lambda: client.id not in (client.run_on_scheduler(who_wants(key)) or [client.id]))
    assert client.who_has()[key]
    got = q.get(timeout=TIMEOUT)
    assert got.key == key
    assert got.result(timeout=TIMEOUT) == 42


def test_queue_future_got_in_a_task(client):
    q = Queue()
    future = client.submit(inc, 99, pure=False)
    key = future.key
    q.put(future)
    del future
    gc.collect()
    assert wait_until(lambda: client.id not in (client.run_on_scheduler(who_wants(key)) or [client.id]))
    assert client.submit(get_future_and_result, q, pure=False).result(timeout=TIMEOUT) == ("Future", 100)


def test_queue_future_put_by_a_task(client):
    q = Queue()
    key = client.submit(put_new_future, q, 7, pure=False).result(timeout=TIMEOUT)
    got = q.get(timeout=TIMEOUT)
    assert got.key == key
    assert got.result(timeout=TIMEOUT) == 8


def test_queue_handle_in_a_finished_task_is_dropped(client):
    name = unique("task-queue")
    assert client.submit(queue_by_name, name, 1, pure=False).result(timeout=TIMEOUT) == 1
    assert wait_until(lambda: f"queue:{name}" not in client.run_on_scheduler(coordination_state)["refs"])
    assert name not in client.run_on_scheduler(coordination_state)["queues"]


# =========================================================================== Lock


def test_lock_mutual_exclusion_across_workers(client):
    lock = Lock()
    futures = [client.submit(locked_interval, lock, pure=False) for _ in range(8)]
    intervals = sorted(client.gather(futures))
    assert len(intervals) == 8
    for (s1, e1, _), (s2, e2, _) in zip(intervals, intervals[1:]):
        assert e1 <= s2, f"two holders at once: {(s1, e1)} and {(s2, e2)}"
    assert len({pid for _, _, pid in intervals}) == 2, "both workers should have taken the lock"
    assert lock.locked() is False


def test_lock_api_from_client(client):
    name = unique("lock")
    lock = Lock(name)
    other = Lock(name)
    assert lock.locked() is False
    assert lock.acquire() is True
    assert lock.locked() is True
    assert other.locked() is True
    assert other.acquire(blocking=False) is False
    t0 = time.monotonic()
    assert other.acquire(timeout=0.2) is False
    assert time.monotonic() - t0 >= 0.19
    with pytest.raises(ValueError):
        other.release()  # another Lock object, same name: not the holder
    assert lock.locked() is True
    lock.release()
    assert lock.locked() is False
    with pytest.raises(ValueError):
        lock.release()  # not held any more
    with other:
        assert lock.locked() is True
        assert lock.acquire(blocking=False) is False
    assert lock.locked() is False


def test_lock_held_by_client_seen_from_tasks(client):
    name = unique("lock")
    lock = Lock(name)
    assert lock.acquire()
    got, elapsed = client.submit(try_lock, name, False, pure=False).result(timeout=TIMEOUT)
    assert got is False
    got, elapsed = client.submit(try_lock, name, True, 0.2, pure=False).result(timeout=TIMEOUT)
    assert got is False and elapsed >= 0.19
    waiter = client.submit(acquire_and_release, lock, pure=False)
    assert not wait_until(waiter.done, SHORT)
    released_at = time.monotonic()
    lock.release()
    got, taken_at = waiter.result(timeout=TIMEOUT)
    assert got is True
    assert taken_at >= released_at
    assert lock.locked() is False


# =========================================================================== Event


def test_event_api_from_client(client):
    event = Event()
    assert event.is_set() is False
    t0 = time.monotonic()
    assert event.wait(timeout=0.2) is False
    assert time.monotonic() - t0 >= 0.19
    event.set()
    assert event.is_set() is True
    assert event.wait(timeout=0.2) is True
    assert event.wait() is True
    event.clear()
    assert event.is_set() is False
    assert event.wait(timeout=0.05) is False


def test_event_wakes_every_waiting_task(client):
    name = unique("event")
    event = Event(name)
    waiters = [client.submit(wait_event, event, pure=False) for _ in range(4)]
    assert client.submit(wait_event, event, 0.2, pure=False).result(timeout=TIMEOUT)[0] is False
    assert not wait_until(lambda: any(w.done() for w in waiters), SHORT)
    set_at = time.monotonic()
    assert client.submit(set_event_by_name, name, pure=False).result(timeout=TIMEOUT) is True
    results = client.gather(waiters)
    assert all(ok for ok, _ in results)
    assert all(woke >= set_at for _, woke in results)
    assert event.is_set()


# =========================================================================== Variable


def test_variable_api_from_client(client):
    var = Variable()
    with pytest.raises(TimeoutError):
        var.get(timeout=0.2)
    var.set({"a": 1})
    assert var.get() == {"a": 1}
    assert var.get(timeout=0.1) == {"a": 1}
    var.set([1, 2])
    assert var.get() == [1, 2]
    var.delete()
    with pytest.raises(TimeoutError):
        var.get(timeout=0.1)


def test_variable_from_tasks(client):
    name = unique("var")
    var = Variable(name)
    assert client.submit(variable_get, name, 0.2, pure=False).result(timeout=TIMEOUT) == "timeout"
    reader = client.submit(variable_get, name, TIMEOUT, pure=False)
    assert not wait_until(reader.done, SHORT)
    assert client.submit(variable_set, name, "from a task", pure=False).result(timeout=TIMEOUT)
    assert reader.result(timeout=TIMEOUT) == "from a task"
    assert var.get(timeout=TIMEOUT) == "from a task"


def test_variable_future_keeps_data_until_replaced(client):
    var = Variable()
    future = client.submit(inc, 1, pure=False)
    key = future.key
    assert future.result(timeout=TIMEOUT) == 2
    var.set(future)
    del future
    gc.collect()
    holder = f"variable:{var.name}"
    assert wait_until(lambda: client.run_on_scheduler(who_wants(key)) == [holder])
    assert client.who_has()[key], "the variable's future lost its data"
    got = var.get(timeout=TIMEOUT)
    assert got.key == key and got.result(timeout=TIMEOUT) == 2
    del got
    gc.collect()
    assert wait_until(lambda: client.run_on_scheduler(who_wants(key)) == [holder])
    var.set("something else")
    assert wait_until(lambda: not client.who_has().get(key)), "replaced, but the data is still held"
    assert wait_until(lambda: client.run_on_scheduler(who_wants(key)) is None)


def test_variable_future_freed_on_delete(client):
    var = Variable()
    future = client.submit(inc, 2, pure=False)
    key = future.key
    future.result(timeout=TIMEOUT)
    var.set(future)
    del future
    gc.collect()
    assert wait_until(lambda: client.run_on_scheduler(who_wants(key)) == [f"variable:{var.name}"])
    assert client.who_has()[key]
    var.delete()
    assert wait_until(lambda: not client.who_has().get(key)), "deleted, but the data is still held"


def test_variable_future_read_in_a_task(client):
    var = Variable()
    future = client.submit(inc, 5, pure=False)
    var.set(future)
    del future
    gc.collect()
    settle_releases(client)  # only the variable holds the future now
    assert client.submit(variable_future_result, var, pure=False).result(timeout=TIMEOUT) == ("Future", 6)


# =========================================================================== Semaphore


def test_semaphore_bounds_concurrent_tasks(client):
    sem = Semaphore(max_leases=2)
    futures = [client.submit(leased_interval, sem, pure=False) for _ in range(6)]
    intervals = client.gather(futures)
    assert len(intervals) == 6
    assert max_overlap(intervals) <= 2, sorted(intervals)
    assert sem.get_value() == 0


def test_semaphore_api_from_client(client):
    sem = Semaphore(max_leases=2, name=unique("sem"))
    assert sem.acquire() is True
    assert sem.acquire(timeout=1) is True
    assert sem.get_value() == 2
    t0 = time.monotonic()
    assert sem.acquire(timeout=0.2) is False
    assert time.monotonic() - t0 >= 0.19
    got, elapsed = client.submit(try_semaphore, sem, 0.2, pure=False).result(timeout=TIMEOUT)
    assert got is False and elapsed >= 0.19
    sem.release()
    assert sem.get_value() == 1
    got, _ = client.submit(try_semaphore, sem, TIMEOUT, pure=False).result(timeout=TIMEOUT)
    assert got is True
    sem.release()
    assert sem.get_value() == 0
    with pytest.raises(ValueError):
        sem.release()
    with sem:
        assert sem.get_value() == 1
    assert sem.get_value() == 0
    for bad in (0, "a", 1.5):
        with pytest.raises(ValueError, match=f"max_leases={bad!r}.*whole number of leases, at least 1"):
            Semaphore(max_leases=bad)
    with pytest.raises(TypeError, match="max_lease"):  # a misspelt option is not ignored
        Semaphore(max_lease=2)


def semaphore_by_name(name, timeout):
    """A task's own handle on a semaphore known by name: (got a lease?, the value it saw while holding it)."""
    sem = Semaphore(max_leases=1, name=name)
    got = sem.acquire(timeout=timeout)
    value = sem.get_value()
    if got:
        sem.release()
    return got, value


def test_semaphore_by_name_in_tasks_shares_the_leases(client):
    name = unique("named-sem")
    sem = Semaphore(max_leases=1, name=name)
    assert sem.acquire()
    assert client.submit(semaphore_by_name, name, 0.2, pure=False).result(timeout=TIMEOUT) == (False, 1)
    waiter = client.submit(semaphore_by_name, name, TIMEOUT, pure=False)
    assert not wait_until(waiter.done, SHORT)
    sem.release()
    assert waiter.result(timeout=TIMEOUT) == (True, 1)
    assert sem.get_value() == 0


def test_semaphore_waiter_gets_released_lease(client):
    sem = Semaphore(max_leases=1)
    assert sem.acquire()
    waiter = client.submit(try_semaphore, sem, TIMEOUT, pure=False)
    assert not wait_until(waiter.done, SHORT)
    sem.release()
    got, _ = waiter.result(timeout=TIMEOUT)
    assert got is True


def acquire_semaphore(sem, timeout):
    return sem.acquire(timeout=timeout)


def test_closing_a_semaphore_fails_its_waiters_and_later_acquires_until_it_is_made_again(client):
    name = f"closing-{uuid.uuid4().hex[:6]}"
    sem = Semaphore(max_leases=1, name=name)
    assert sem.acquire()
    waiter = client.submit(acquire_semaphore, sem, TIMEOUT, pure=False)
    assert not wait_until(waiter.done, SHORT)
    sem.close()
    with pytest.raises(RuntimeError, match="was closed: make a new one"):
        waiter.result(timeout=TIMEOUT)
    with pytest.raises(RuntimeError, match="was closed"):
        sem.acquire(timeout=1)
    again = Semaphore(max_leases=2, name=name)
    assert again.acquire(timeout=1) and again.get_value() == 1
    again.release()


# =========================================================================== state dropped with the last handle


def use_queue(client, name):
    q = Queue(name)
    q.put("x")
    q.put("y")
    assert q.qsize() == 2
    return q


def use_lock(client, name):
    lock = Lock(name)
    with lock:
        assert client.run_on_scheduler(coordination_state)["locks"][name]
    return lock


def use_event(client, name):
    event = Event(name)
    event.set()
    return event


def use_variable(client, name):
    var = Variable(name)
    var.set(1)
    return var


def use_semaphore(client, name):
    sem = Semaphore(max_leases=2, name=name)
    with sem:
        assert client.run_on_scheduler(coordination_state)["leases"][name] == 1
    return sem


def variable_is_unset(name):
    with pytest.raises(TimeoutError):
        Variable(name).get(timeout=0.1)
    return True


def lock_is_free(name):
    lock = Lock(name)
    assert lock.locked() is False and lock.acquire(blocking=False) is True
    lock.release()
    return True


# kind: (use it under a name and return the handle, its field in coordination_state, a fresh handle of
# that name starts from nothing)
DROPPED = {
    "queue": (use_queue, "queues", lambda name: Queue(name).qsize() == 0),
    "lock": (use_lock, "locks", lock_is_free),
    "event": (use_event, "events", lambda name: Event(name).is_set() is False),
    "variable": (use_variable, "variables", variable_is_unset),
    # Its bound went too: a new semaphore of that name may have another max_leases.
    "semaphore": (use_semaphore, "leases", lambda name: Semaphore(max_leases=3, name=name).max_leases == 3),
}


@pytest.mark.parametrize("kind", sorted(DROPPED))
def test_state_dropped_when_no_handle_is_left(client, kind):
    use, field, fresh = DROPPED[kind]
    name = unique(f"dropped-{kind}")
    handle = use(client, name)
    assert f"{kind}:{name}" in client.run_on_scheduler(coordination_state)["refs"]
    del handle
    gc.collect()

    def dropped():
        state = client.run_on_scheduler(coordination_state)
        return f"{kind}:{name}" not in state["refs"] and name not in state[field]
    assert wait_until(dropped), client.run_on_scheduler(coordination_state)
    assert fresh(name)


# =========================================================================== no busy polling


def test_waiting_does_not_poll(client):
    """Tasks and a client waiting on an event, a lock and a queue cost the cluster no CPU."""
    lock = Lock()
    event = Event()
    q = Queue()
    assert lock.acquire()
    pids = [client.run_on_scheduler(os.getpid), *client.run(os.getpid).values()]
    procs = [psutil.Process(pid) for pid in pids]
    waiters = [client.submit(wait_event, event, pure=False), client.submit(acquire_and_release, lock, pure=False),
               client.submit(get_one, q, TIMEOUT, pure=False), client.submit(wait_event, event, pure=False)]
    assert not wait_until(lambda: any(w.done() for w in waiters), 0.3)  # everybody is waiting now

    def cpu():
        return sum(sum(p.cpu_times()[:2]) for p in procs)

    before, t0 = cpu(), time.monotonic()
    assert event.wait(timeout=1.0) is False  # the client waits too
    spent, elapsed = cpu() - before, time.monotonic() - t0
    assert spent < 0.25 * elapsed, f"the cluster used {spent:.2f} s CPU in {elapsed:.2f} s while only waiting"
    event.set()
    lock.release()
    q.put("done")
    results = client.gather(waiters)
    assert results[2] == "done"


# =========================================================================== dead holders (lease timeout)


@pytest.fixture
def lease_client():
    """A fresh cluster (2 workers x 1 thread) whose scheduler releases dead holders' leases after 1 s."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_FUTURES_LEASE_TIMEOUT", str(LEASE_TIMEOUT))
        c = Client(n_workers=2, threads_per_worker=1)
    try:
        assert c.run_on_scheduler(lambda dask_scheduler: dask_scheduler.coordination.lease_timeout) == LEASE_TIMEOUT
        yield c
    finally:
        c.close()


def hold_until_the_worker_dies(handle, held, die, marker):
    """Take the lock (or lease), say so, and keep it until this worker process ends: killed from outside,
    or by ``os._exit`` when told through ``die``. A rerun elsewhere does nothing."""
    if os.path.exists(marker):
        return "rerun"
    assert handle.acquire(timeout=TIMEOUT)
    with open(marker, "w"):
        pass
    held.set()
    die.wait(timeout=TIMEOUT)
    os._exit(1)


def worker_pids(c):
    return {address: info["pid"] for address, info in c.scheduler_info()["workers"].items()}


# kind: a handle on the name with one lease/lock to hand out (for the given client, or the default one)
EXCLUSIVE = {
    "lock": lambda name, client=None: Lock(name, client=client),
    "semaphore": lambda name, client=None: Semaphore(max_leases=1, name=name, client=client),
}


@pytest.mark.parametrize("kind", sorted(EXCLUSIVE))
@pytest.mark.parametrize("death", ["os._exit", "SIGKILL"])
def test_held_by_a_dead_worker_is_released_after_the_lease_timeout(lease_client, tmp_path, kind, death):
    """A task holding the lock (or the one lease) dies with its worker: the task waiting for it on the
    other worker gets it after the lease timeout, not before its holder died, and within 10 s."""
    c = lease_client
    first, second = sorted(c.nthreads())
    pid = worker_pids(c)[first]
    assert pid in [nanny.pid for nanny in c.cluster.workers]
    handle, held, die = EXCLUSIVE[kind](unique(kind)), Event(), Event()
    holder = c.submit(hold_until_the_worker_dies, handle, held, die, str(tmp_path / "marker"), workers=[first],
                      allow_other_workers=True, pure=False)
    assert held.wait(timeout=TIMEOUT)
    nxt = c.submit(acquire_and_release, handle, workers=[second], pure=False)
    assert handle.acquire(timeout=0.1) is False
    assert not wait_until(nxt.done, SHORT), f"the {kind} was granted again while its holder lived"

    ended_at = time.monotonic()
    if death == "SIGKILL":
        os.kill(pid, signal.SIGKILL)
    else:
        die.set()
    assert wait_until(lambda: not alive(pid)), "the holder's worker did not exit"
    died_by = time.monotonic()
    got, taken_at = nxt.result(timeout=TIMEOUT)
    assert got is True
    assert taken_at < died_by + 10, f"the dead holder's {kind} was not released within 10 s"
    assert taken_at >= died_by, f"the {kind} was taken before its holder died"
    assert taken_at - ended_at >= 0.9 * LEASE_TIMEOUT, "released before the lease timeout ran out"
    assert holder.result(timeout=TIMEOUT) == "rerun"
    assert handle.acquire(timeout=TIMEOUT) is True
    handle.release()


@pytest.mark.parametrize("kind", sorted(EXCLUSIVE))
def test_held_by_a_closed_client_is_released_after_the_lease_timeout(lease_client, kind):
    """A client closes while it holds the lock (or the one lease): nobody gets it while the holder lives,
    and the next one does once the lease timeout has run out."""
    c = lease_client
    name = unique(f"client-{kind}")
    mine = EXCLUSIVE[kind](name)
    other = Client(c.scheduler_address, set_as_default=False)
    try:
        assert EXCLUSIVE[kind](name, other).acquire()
        assert mine.acquire(timeout=0.1) is False, f"the {kind} was granted twice while its holder lived"
    finally:
        other.close()
    gone_at = time.monotonic()
    assert mine.acquire(timeout=10) is True
    assert time.monotonic() - gone_at >= 0.9 * LEASE_TIMEOUT, "released before the lease timeout ran out"
    assert mine.acquire(timeout=0.1) is False, f"one {kind} was handed out twice"
    mine.release()


def test_semaphore_state_of_a_closed_client_is_dropped_once_its_lease_expires(lease_client):
    """Nobody else has a handle on the name: when the dead client's lease runs out, nothing of it stays."""
    c = lease_client
    name = unique("orphan-sem")
    other = Client(c.scheduler_address, set_as_default=False)
    try:
        assert Semaphore(max_leases=1, name=name, client=other).acquire()
        assert c.run_on_scheduler(coordination_state)["leases"][name] == 1
    finally:
        other.close()
    assert wait_until(lambda: name not in c.run_on_scheduler(coordination_state)["leases"],
                      timeout=LEASE_TIMEOUT + 10), "the expired lease's semaphore state stayed on the scheduler"
    assert f"semaphore:{name}" not in c.run_on_scheduler(coordination_state)["refs"]


# A client process that takes a lock, says so, and waits (bounded) to be killed.
HOLD_LOCK_SCRIPT = """
import sys, threading
from jupyter_futures import Client, Lock

address, name, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
client = Client(address, set_as_default=False)
lock = Lock(name, client=client)
assert lock.acquire(timeout=timeout)
print("held", name, flush=True)
threading.Event().wait(timeout)
"""


def test_lock_of_a_killed_client_process_is_released_after_the_lease_timeout(lease_client, tmp_path):
    c = lease_client
    name = unique("killed-client-lock")
    log = tmp_path / "holder.log"
    env = clean_env(JUPYTER_FUTURES_TOKEN=c.cluster.token)  # how a process not started by the cluster gets in
    proc, out = start_process([PYTHON, "-c", HOLD_LOCK_SCRIPT, c.scheduler_address, name, str(TIMEOUT)],
                              env=env, stderr_path=str(log), name="lock holder")
    try:
        try:
            assert out.line(TIMEOUT).split() == ["held", name]
        except (EOFError, TimeoutError) as exc:
            raise AssertionError(f"the holder process did not take the lock: {exc}\n{log.read_text()}") from None
        lock = Lock(name)
        assert lock.locked() is True
        assert lock.acquire(blocking=False) is False
        assert lock.acquire(timeout=SHORT) is False, "the lock was taken while its holder lived"

        killed_at = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(TIMEOUT) == -signal.SIGKILL
        assert lock.acquire(timeout=LEASE_TIMEOUT + 10) is True, \
            "the killed holder's lock was not released within the lease timeout + 10 s"
        taken_at = time.monotonic()
        assert taken_at - killed_at >= 0.9 * LEASE_TIMEOUT, "released before the lease timeout ran out"
        assert lock.locked() is True
        lock.release()
        assert lock.locked() is False
    finally:
        kill_tree(proc)


# =========================================================================== asynchronous client


def test_async_primitives(client):
    async def main():
        async with Client(client.scheduler_address, asynchronous=True) as ac:
            q = Queue(client=ac)
            await q.put(1)
            await q.put(2)
            assert await q.qsize() == 2
            assert await q.get(timeout=TIMEOUT) == 1
            assert await q.get(batch=True) == [2]
            with pytest.raises(TimeoutError):
                await q.get(timeout=0.1)
            consumer = ac.submit(get_n, q, 3, pure=False)
            for i in range(3):
                await q.put(i)
            assert await consumer == [0, 1, 2]

            lock = Lock(client=ac)
            async with lock:
                assert await lock.locked() is True
                assert await Lock(lock.name, client=ac).acquire(blocking=False) is False
            assert await lock.locked() is False

            event = Event(client=ac)
            assert await event.wait(timeout=0.1) is False
            waiter = ac.submit(wait_event, event, pure=False)
            await event.set()
            ok, _ = await waiter
            assert ok and await event.is_set()

            var = Variable(client=ac)
            await var.set(42)
            assert await var.get() == 42
            future = ac.submit(inc, 1, pure=False)
            await var.set(future)
            got = await var.get()
            assert await got == 2

            sem = Semaphore(max_leases=1, client=ac)
            async with sem:
                assert await sem.acquire(timeout=0.1) is False
            assert await sem.acquire(timeout=1) is True
            await sem.release()

    asyncio.run(asyncio.wait_for(main(), TIMEOUT))
