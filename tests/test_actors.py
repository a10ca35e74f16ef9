"""Actors: ``client.submit(Class, actor=True)`` and the proxies that call the worker holding the object.

The module's cluster is 2 workers x 1 thread (the ``client`` fixture of conftest.py).
Whether an actor still lives is checked on its worker with
``client.run(lambda dask_worker: list(dask_worker.actors.actors))``.
"""
import asyncio
import gc
import os
import signal
import socket
import threading
import time
import traceback

import psutil
import pytest

from jupyter_futures import Actor, ActorFuture, Client, Variable, get_worker

from procs import settle_releases, wait_until

TIMEOUT = 30  # seconds; any wait longer than this is a bug, not a slow machine
SHORT = 0.3
RELEASE_TIMEOUT = 10  # seconds for a dropped actor to disappear from its worker

pytestmark = pytest.mark.timeout(120)


class Counter:
    def __init__(self, start=0):
        self.count = start
        self.log = []
        self.gate = threading.Event()

    def increment(self):
        self.count += 1
        return self.count

    def get_count(self):
        return self.count

    def add(self, a, b=0, *, scale=1):
        self.count += (a + b) * scale
        return self.count

    def append(self, i, work=0.0):
        if work:
            time.sleep(work)  # simulated slow call
        self.log.append(i)
        return len(self.log)

    def fail(self, message):
        raise KeyError(message)

    def block(self, timeout):
        """Wait (on the actor's thread) until ``open_gate`` runs; True if it did."""
        return self.gate.wait(timeout)

    def block_where(self, timeout):
        """Like ``block``; (opened?, pid, thread ident, thread name) of the thread that waited."""
        return self.gate.wait(timeout), os.getpid(), threading.get_ident(), threading.current_thread().name

    async def open_gate(self):
        self.gate.set()
        return True

    async def slow_double(self, x):
        """(2 * x, pid, thread ident) of the thread running this coroutine."""
        await asyncio.sleep(0.01)
        return 2 * x, os.getpid(), threading.get_ident()

    @property
    def doubled(self):
        return 2 * self.count


def inc(x):
    return x + 1


def use_actor(counter, n):
    """A task calling an actor it received as an argument."""
    assert isinstance(counter, Actor)
    last = None
    for _ in range(n):
        last = counter.increment().result(timeout=TIMEOUT)
    return last, counter.count, get_worker().address


def ordered_calls_from_task(counter, n):
    futures = [counter.append(i) for i in range(n)]
    return [f.result(timeout=TIMEOUT) for f in futures][-1]


def stash_actor(counter, var):
    """Store the actor proxy this task received into a Variable."""
    var.set(counter)
    return True


def actor_keys(dask_worker):
    return list(dask_worker.actors.actors)


def all_actor_keys(client):
    return {key for keys in client.run(actor_keys).values() for key in keys}


def holder_of(client, key):
    """The address of the one worker holding actor ``key``."""
    holders = [a for a, keys in client.run(actor_keys).items() if key in keys]
    assert len(holders) == 1, f"actor {key} held by {holders}"
    return holders[0]


def loop_thread(dask_worker):
    """Run by ``client.run`` on the worker's event loop: (pid, thread ident) of the loop's thread."""
    assert asyncio.get_running_loop() is dask_worker.loop
    return os.getpid(), threading.get_ident()


def who_wants(key):
    def query(dask_scheduler):
        ts = dask_scheduler.state.tasks.get(key)
        return None if ts is None else sorted(ts.who_wants)
    return query


# --------------------------------------------------------------------------- basics


def test_counter_guide_example(client):
    counter = client.submit(Counter, actor=True).result(timeout=TIMEOUT)
    future1 = counter.increment()
    future2 = counter.increment()
    result = counter.get_count().result(timeout=TIMEOUT)
    assert result == 2
    assert isinstance(future1, ActorFuture) and isinstance(future2, ActorFuture)
    assert (future1.result(timeout=TIMEOUT), future2.result(timeout=TIMEOUT)) == (1, 2)


def test_actor_future_result_is_a_proxy(client):
    future = client.submit(Counter, 5, actor=True)
    counter = future.result(timeout=TIMEOUT)
    assert isinstance(counter, Actor)
    assert "Counter" in repr(counter)
    assert "increment" in dir(counter)
    assert holder_of(client, future.key) in client.nthreads()  # the object itself lives on exactly one worker


def test_attribute_read_returns_value(client):
    counter = client.submit(Counter, 10, actor=True).result(timeout=TIMEOUT)
    assert counter.count == 10
    counter.increment().result(timeout=TIMEOUT)
    assert counter.count == 11
    assert counter.log == []
    assert counter.doubled == 22
    with pytest.raises(AttributeError):
        counter._private


def test_method_with_args_and_kwargs(client):
    counter = client.submit(Counter, actor=True).result(timeout=TIMEOUT)
    assert counter.add(1, 2).result(timeout=TIMEOUT) == 3
    assert counter.add(1, b=1, scale=10).result(timeout=TIMEOUT) == 23
    assert counter.add(a=2).result(timeout=TIMEOUT) == 25


def test_constructor_arguments_and_keywords(client):
    counter = client.submit(Counter, start=7, actor=True).result(timeout=TIMEOUT)
    assert counter.count == 7


def test_exception_in_method(client):
    counter = client.submit(Counter, actor=True).result(timeout=TIMEOUT)
    future = counter.fail("no such thing")
    with pytest.raises(KeyError, match="no such thing") as info:
        future.result(timeout=TIMEOUT)
    text = "".join(traceback.format_tb(info.value.__traceback__))
    assert "in fail" in text
    assert "raise KeyError(message)" in text  # the remote source line
    # The actor survives its method's error.
    assert counter.increment().result(timeout=TIMEOUT) == 1


def test_async_method_runs_on_the_worker_loop(client):
    """``async def`` methods run on the thread of the worker's event loop; blocking methods on another thread,
    so the loop keeps serving async methods while a blocking one waits."""
    future = client.submit(Counter, actor=True)
    counter = future.result(timeout=TIMEOUT)
    holder = holder_of(client, future.key)
    loop_pid, loop_ident = client.run(loop_thread, workers=[holder])[holder]

    value, pid, ident = counter.slow_double(21).result(timeout=TIMEOUT)
    assert value == 42
    assert (pid, ident) == (loop_pid, loop_ident), "the async method did not run on the worker's loop thread"

    blocked = counter.block_where(TIMEOUT)
    assert not wait_until(blocked.done, SHORT)
    # While the blocking method holds its thread, the loop still runs an async method.
    value, pid, ident = counter.slow_double(5).result(timeout=TIMEOUT)
    assert (value, pid, ident) == (10, loop_pid, loop_ident)
    assert not blocked.done()
    assert counter.open_gate().result(timeout=TIMEOUT) is True
    opened, sync_pid, sync_ident, sync_name = blocked.result(timeout=TIMEOUT)
    assert opened is True
    assert sync_pid == loop_pid  # the same worker process...
    assert sync_ident != loop_ident, "a blocking method ran on the worker's loop thread"  # ...another thread
    assert sync_name == "jf-actor"


def test_actor_future_done_and_result_timeout(client):
    counter = client.submit(Counter, actor=True).result(timeout=TIMEOUT)
    blocked = counter.block(TIMEOUT)
    assert blocked.done() is False
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        blocked.result(timeout=0.2)
    assert time.monotonic() - t0 >= 0.19
    assert blocked.done() is False
    counter.open_gate().result(timeout=TIMEOUT)
    assert blocked.result(timeout=TIMEOUT) is True
    assert blocked.done() is True
    quick = counter.increment()
    assert quick.result(timeout=TIMEOUT) == 1
    assert quick.done() is True


# --------------------------------------------------------------------------- ordering and routing


def test_call_order_from_one_caller(client):
    counter = client.submit(Counter, actor=True).result(timeout=TIMEOUT)
    futures = [counter.append(i) for i in range(200)]
    assert [f.result(timeout=TIMEOUT) for f in futures] == list(range(1, 201))
    assert counter.log == list(range(200))


def test_call_order_kept_when_a_call_is_slow(client):
    """Quick calls may run on the worker's loop; one slow call in the middle must not let later ones pass."""
    counter = client.submit(Counter, actor=True).result(timeout=TIMEOUT)
    futures = [counter.append(i, 0.02 if i in (20, 120) else 0.0) for i in range(200)]
    assert [f.result(timeout=TIMEOUT) for f in futures][-1] == 200
    assert counter.log == list(range(200))


def test_call_order_from_a_task(client):
    counter = client.submit(Counter, actor=True).result(timeout=TIMEOUT)
    assert client.submit(ordered_calls_from_task, counter, 200, pure=False).result(timeout=TIMEOUT) == 200
    assert counter.log == list(range(200))


def test_calls_bypass_the_scheduler(client):
    """Calls go over the proxy's own connection to the holding worker: they work while the scheduler is frozen."""
    future = client.submit(Counter, actor=True)
    counter = future.result(timeout=TIMEOUT)
    counter.increment().result(timeout=TIMEOUT)  # the proxy has its connection now
    holder = holder_of(client, future.key)
    host, port = holder.split("://")[-1].rsplit(":", 1)
    assert counter._comm.sock.getpeername()[:2] == (socket.gethostbyname(host), int(port)), \
        "the proxy is not connected to the worker holding the actor"

    def total_tasks(dask_scheduler):
        return dask_scheduler.state.n_tasks_total

    before = client.run_on_scheduler(total_tasks)
    scheduler = psutil.Process(client.run_on_scheduler(os.getpid))
    scheduler.send_signal(signal.SIGSTOP)
    try:
        assert wait_until(lambda: scheduler.status() == psutil.STATUS_STOPPED), "the scheduler did not stop"
        for i in range(50):
            assert counter.increment().result(timeout=10) == i + 2, "an actor call waited for the scheduler"
        assert counter.count == 51
        # Control: what does go through the scheduler waits while it is stopped.
        control = client.submit(inc, 1, pure=False)
        assert not wait_until(control.done, SHORT), "a task ran while the scheduler was stopped"
    finally:
        scheduler.send_signal(signal.SIGCONT)
    assert control.result(timeout=TIMEOUT) == 2
    assert client.run_on_scheduler(total_tasks) == before + 1  # the control task only
    assert counter.count == 51


def test_actor_passed_into_a_task(client):
    counter = client.submit(Counter, actor=True).result(timeout=TIMEOUT)
    holder = holder_of(client, counter._key)
    other = [a for a in client.nthreads() if a != holder][0]
    for address in (holder, other):
        client.submit(use_actor, counter, 3, workers=[address], pure=False).result(timeout=TIMEOUT)
    assert counter.count == 6
    # The actor's future works as an argument too: the task receives the proxy.
    future = client.submit(Counter, 100, actor=True)
    last, count, _ = client.submit(use_actor, future, 2, pure=False).result(timeout=TIMEOUT)
    assert (last, count) == (102, 102)


def test_map_actors_are_independent(client):
    futures = client.map(Counter, range(3), actor=True)
    assert len({f.key for f in futures}) == 3
    counters = client.gather(futures)
    assert all(isinstance(c, Actor) for c in counters)
    for i, c in enumerate(counters):
        for _ in range(i + 1):
            c.increment()
    assert [c.get_count().result(timeout=TIMEOUT) for c in counters] == [0 + 1, 1 + 2, 2 + 3]


def test_same_arguments_make_distinct_actors(client):
    a = client.submit(Counter, actor=True)
    b = client.submit(Counter, actor=True)
    assert a.key != b.key
    ca, cb = a.result(timeout=TIMEOUT), b.result(timeout=TIMEOUT)
    ca.increment().result(timeout=TIMEOUT)
    assert (ca.count, cb.count) == (1, 0)


# --------------------------------------------------------------------------- lifetime


def test_actor_dropped_when_its_future_is_released(client):
    """An actor whose proxy was never fetched goes once its future is dropped."""
    future = client.submit(Counter, actor=True)
    key = future.key
    assert wait_until(lambda: key in all_actor_keys(client))
    del future
    gc.collect()
    assert wait_until(lambda: key not in all_actor_keys(client), RELEASE_TIMEOUT), \
        "actor still held after its future was dropped"


def test_actor_dropped_when_proxy_and_future_are_gone(client):
    future = client.submit(Counter, actor=True)
    counter = future.result(timeout=TIMEOUT)
    key = future.key
    assert counter.increment().result(timeout=TIMEOUT) == 1
    assert key in all_actor_keys(client)
    del counter, future
    gc.collect()
    assert wait_until(lambda: key not in all_actor_keys(client), RELEASE_TIMEOUT), \
        "actor still held after proxy and future were dropped"


def test_actor_lives_while_the_proxy_lives(client):
    future = client.submit(Counter, actor=True)
    counter = future.result(timeout=TIMEOUT)
    key = future.key
    del future
    gc.collect()
    settle_releases(client)  # the future's drop reached the scheduler
    counter.increment().result(timeout=TIMEOUT)
    assert key in all_actor_keys(client)
    assert client.run_on_scheduler(who_wants(key)) == [client.id], "the proxy no longer holds its actor"
    assert counter.increment().result(timeout=TIMEOUT) == 2


def test_actor_kept_alive_by_a_variable(client):
    """A proxy stored in a Variable (by a task) keeps the actor alive after the client drops its future."""
    var = Variable()
    future = client.submit(Counter, 40, actor=True)
    key = future.key
    assert client.submit(stash_actor, future, var, pure=False).result(timeout=TIMEOUT) is True
    del future
    gc.collect()
    holder = f"variable:{var.name}"
    # Only the variable holds it now (the task's worker lets go of its proxy on its own time).
    assert wait_until(lambda: client.run_on_scheduler(who_wants(key)) == [holder]), \
        client.run_on_scheduler(who_wants(key))
    assert key in all_actor_keys(client)
    counter = var.get(timeout=TIMEOUT)
    assert isinstance(counter, Actor)
    assert counter.increment().result(timeout=TIMEOUT) == 41
    assert key in all_actor_keys(client)


def test_actor_dropped_once_its_last_reference_is_gone(client):
    """A proxy kept only in a Variable keeps the actor; once the value is deleted and every local reference
    (proxy and future) is gone, its worker lets the object go."""
    var = Variable()
    future = client.submit(Counter, 3, actor=True)
    key = future.key
    counter = future.result(timeout=TIMEOUT)
    var.set(counter)
    del counter, future
    gc.collect()
    holder = f"variable:{var.name}"
    assert wait_until(lambda: client.run_on_scheduler(who_wants(key)) == [holder])
    assert key in all_actor_keys(client), "the actor went while a Variable held its proxy"
    got = var.get(timeout=TIMEOUT)
    assert got.increment().result(timeout=TIMEOUT) == 4
    del got
    gc.collect()
    assert wait_until(lambda: client.run_on_scheduler(who_wants(key)) == [holder])
    assert key in all_actor_keys(client)
    var.delete()
    assert wait_until(lambda: key not in all_actor_keys(client), RELEASE_TIMEOUT), \
        "actor still held after its last reference was dropped"
    assert client.run_on_scheduler(who_wants(key)) is None


# --------------------------------------------------------------------------- asynchronous client


def test_await_actor_in_async_client(client):
    async def main():
        async with Client(client.scheduler_address, asynchronous=True) as ac:
            counter = await ac.submit(Counter, actor=True)
            assert isinstance(counter, Actor)
            f1 = counter.increment()
            f2 = counter.increment()
            assert await f1 == 1
            assert await f2 == 2
            assert await counter.get_count() == 2
            assert await counter.count == 2  # attribute reads are awaitable in async code
            assert await counter.add(1, b=2) == 5
            with pytest.raises(KeyError):
                await counter.fail("async")
            value, _, _ = await counter.slow_double(4)
            assert value == 8

    asyncio.run(asyncio.wait_for(main(), TIMEOUT))


class FutureSummer:
    """An actor whose methods take futures (not values) as arguments."""

    def total(self, futures):
        return sum(f.result() for f in futures)

    async def total_async(self, futures):
        return sum(f.result() for f in futures)


def test_futures_as_arguments_to_a_fresh_workers_actor():
    """Futures passed to an actor method arrive as futures on a worker that never made a client, for a
    method on the actor thread and for an async one on the worker's loop (its client is made off the loop)."""
    with Client(n_workers=2, threads_per_worker=1) as fresh:
        first, second = sorted(fresh.nthreads())
        numbers = fresh.map(inc, range(4), workers=[first])
        summer = fresh.submit(FutureSummer, actor=True, workers=[second]).result(timeout=TIMEOUT)
        assert summer.total_async(numbers).result(timeout=TIMEOUT) == 10
        assert summer.total(numbers).result(timeout=TIMEOUT) == 10


class UsesCounter:
    def do_inc(self, counter):
        return counter.increment().result(timeout=TIMEOUT)


def test_an_actor_method_calling_another_actor_on_its_one_thread_worker_does_not_deadlock(client):
    """distributed's test_one_thread_deadlock: the call runs in the calling actor's thread."""
    counter = client.submit(Counter, actor=True).result()
    user = client.submit(UsesCounter, actor=True, workers=[counter._address]).result()
    assert user._address == counter._address
    assert user.do_inc(counter).result(timeout=TIMEOUT) == 1
    assert counter.increment().result(timeout=TIMEOUT) == 2  # the same object, called from here
