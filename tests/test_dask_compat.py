"""dask code runs unchanged (issue 12, section 4): durations as strings, ``as_completed``'s results of
cancelled and erred futures and of actor futures, ``scatter`` of ranges and other collections, the
dashboard's link, the text of a future, ``print``/``warn`` from tasks, and the Client attributes dask
code reads (``futures``, ``scheduler.address``, ``scheduler_info(n_workers=)``, ``Client(loop=)``).

Each test checks what dask 2026.8.0 does, on the module's real cluster (2 workers x 1 thread: the
``client`` fixture of conftest.py). Tasks that must stay unfinished wait on a cluster-wide ``Event``
(the ``gate`` fixture), which is set at teardown so that no worker stays blocked.
"""
import asyncio
import collections
import datetime
import io
import json
import re
import threading
import urllib.request
import uuid

import pytest

import jupyter_futures
from jupyter_futures import (
    CancelledError,
    Client,
    Event,
    Future,
    Lock,
    Queue,
    Semaphore,
    TimeoutError,
    Variable,
    as_completed,
    wait,
)

from procs import settle_releases, wait_until

TIMEOUT = 20  # seconds; any wait longer than this is a bug, not a slow machine
SHORT = "100 ms"  # for timeouts that are expected to expire, written as dask users write them

pytestmark = pytest.mark.timeout(90)


# --------------------------------------------------------------------------- helpers (also run on workers)


class MyError(Exception):
    """An exception class of the test module: must come back as itself."""


def inc(x):
    return x + 1


def fail_with(message):
    raise MyError(message)


def wait_for(gate, value=None):
    """A task body: wait (bounded) until the ``gate`` Event is set; returns ``value``."""
    gate.wait(TIMEOUT * 2)
    return value


class Counter:
    def __init__(self):
        self.n = 0

    def increment(self):
        self.n += 1
        return self.n

    def fail(self):
        raise MyError("actor failed")


def remote_print(x):
    jupyter_futures.print("hello", x, sep=":")
    return x


def remote_print_to_a_file():
    jupyter_futures.print("lost", file=io.StringIO())


def remote_warn(x):
    jupyter_futures.warn(f"careful {x}")  # the same place every time: each still reaches the client
    return x


@pytest.fixture
def gate(client):
    """A cluster-wide Event that blocked tasks wait for; set at teardown."""
    event = Event(f"gate-{uuid.uuid4().hex[:10]}", client=client)
    yield event
    event.set()


def blocked(client, gate, value=None):
    """A task that stays unfinished until ``gate`` is set (a distinct key each call)."""
    return client.submit(wait_for, gate, value, pure=False)


# --------------------------------------------------------------------------- 1. durations as strings


def test_future_result_exception_and_traceback_take_duration_strings(client, gate):
    f = blocked(client, gate, "value")
    for method in (f.result, f.exception, f.traceback):
        with pytest.raises(TimeoutError):
            method(timeout=SHORT)
    assert not f.done()
    gate.set()
    assert f.result(timeout="20s") == "value"
    assert f.result(timeout=datetime.timedelta(seconds=TIMEOUT)) == "value"
    assert f.exception(timeout="1 minute") is None


def test_a_bad_duration_names_the_value_and_an_example(client):
    f = client.submit(inc, 1)
    with pytest.raises(ValueError, match=r"'soon'.*'10 ms'"):
        f.result(timeout="soon")
    with pytest.raises(ValueError, match=r"'fast'.*'10 ms'"):
        wait([f], timeout="fast")
    with pytest.raises(ValueError, match=r"'later'.*'10 ms'"):
        as_completed([f], timeout="later")
    with pytest.raises(ValueError, match=r"'a while'.*'10 ms'"):
        Lock(client=client).acquire(timeout="a while")
    assert f.result(timeout=TIMEOUT) == 2


def test_wait_takes_a_duration_string(client, gate):
    done = client.submit(inc, 10)
    assert wait([done], timeout="20s").done == {done}
    f = blocked(client, gate)
    with pytest.raises(TimeoutError):
        wait([done, f], timeout=SHORT)
    gate.set()
    result = wait([done, f], timeout="20 s")
    assert result.done == {done, f} and result.not_done == set()


def test_as_completed_timeout_string_bounds_the_whole_iteration(client, gate):
    # dask's test_as_completed_timeout_sync, with the two fast futures done before the clock starts.
    x, y = client.submit(inc, 1), client.submit(inc, 2)
    wait([x, y], timeout=TIMEOUT)
    z = blocked(client, gate)
    seq = as_completed([x, y, z], timeout="0.5s")
    assert {next(seq), next(seq)} == {x, y}
    with pytest.raises(TimeoutError):
        next(seq)
    assert not z.done()


def test_wait_for_workers_takes_a_duration_string(client):
    assert client.wait_for_workers(2, timeout="5s") is None
    with pytest.raises(TimeoutError):
        client.wait_for_workers(3, timeout=SHORT)


def test_coordination_timeouts_take_duration_strings(client):
    name = f"compat-{uuid.uuid4().hex[:10]}"
    holder, other = Lock(name, client=client), Lock(name, client=client)
    assert holder.acquire(timeout="1s")
    assert other.acquire(timeout=SHORT) is False
    holder.release()
    assert other.acquire(timeout="1s")
    other.release()

    assert Event(name, client=client).wait(SHORT) is False  # positional, as dask's Event.wait("1s")

    q = Queue(client=client)
    with pytest.raises(TimeoutError):
        q.get(timeout=SHORT)
    q.put(5, timeout="1s")
    assert q.get(timeout="1s") == 5

    v = Variable(client=client)
    with pytest.raises(TimeoutError):
        v.get(timeout=SHORT)
    v.set(7)
    assert v.get(timeout="1s") == 7

    sem = Semaphore(1, client=client)
    assert sem.acquire(timeout="1s")
    assert Semaphore(1, name=sem.name, client=client).acquire(timeout=SHORT) is False
    sem.release()


# --------------------------------------------------------------------------- 2. as_completed


def test_as_completed_with_results_yields_a_cancelled_futures_error(client, gate):
    # dask's test_as_completed_with_results: cancelled -> (future, CancelledError()), erred -> raises.
    y = blocked(client, gate)
    z = client.submit(inc, 1)
    y.cancel()
    out = dict(as_completed([y, z], with_results=True, timeout=TIMEOUT))
    assert out[z] == 2
    assert isinstance(out[y], CancelledError)

    x = client.submit(fail_with, "hello!")
    with pytest.raises(MyError, match="hello!"):
        list(as_completed([x, z], with_results=True, timeout=TIMEOUT))


def test_as_completed_raise_errors_false_yields_the_exc_info(client, gate):
    # dask's test_as_completed_with_results_no_raise.
    x = client.submit(fail_with, "no raise")
    y = blocked(client, gate)
    z = client.submit(inc, 1)
    ac = as_completed([x, y, z], with_results=True, raise_errors=False, timeout=TIMEOUT)
    y.cancel()
    res = list(ac)
    dd = {r[0]: r[1:] for r in res}
    assert dd.keys() == {x, y, z}
    assert (x.status, y.status, z.status) == ("error", "cancelled", "finished")
    assert isinstance(dd[y][0], CancelledError)
    typ, exc, tb = dd[x][0]
    assert typ is MyError and isinstance(exc, MyError) and str(exc) == "no raise"
    assert tb is exc.__traceback__ and tb is not None
    assert dd[z][0] == 2


def test_as_completed_async_timeout_and_cancelled(client, gate):
    async def body():
        async with Client(client.scheduler_address, asynchronous=True, set_as_default=False) as c:
            x = c.submit(inc, 1)
            stuck = c.submit(wait_for, gate, pure=False)
            await c.cancel([stuck])
            out = {}
            async for f, r in as_completed([x, stuck], with_results=True, timeout="20s"):
                out[f] = r
            assert out[x] == 2 and isinstance(out[stuck], CancelledError)
            ac = as_completed([c.submit(wait_for, gate, pure=False)], timeout=SHORT)
            with pytest.raises(TimeoutError):
                await ac.__anext__()
    asyncio.run(body())


def test_as_completed_takes_actor_futures(client):
    # dask's test_actor.py::test_as_completed.
    counter = client.submit(Counter, actor=True).result(timeout=TIMEOUT)
    futures = [counter.increment() for _ in range(10)]
    values = [future.result(timeout=TIMEOUT) for future in as_completed(futures, timeout=TIMEOUT)]
    assert all(future.done() for future in futures)
    assert sorted(values) == list(range(1, 11))

    more = [counter.increment() for _ in range(3)]
    pairs = list(as_completed(more, with_results=True, timeout=TIMEOUT))
    assert {f for f, _ in pairs} == set(more)
    assert sorted(v for _, v in pairs) == [11, 12, 13]

    failing = counter.fail()
    [(f, (typ, exc, _))] = as_completed([failing], with_results=True, raise_errors=False, timeout=TIMEOUT)
    assert f is failing and typ is MyError and str(exc) == "actor failed"
    with pytest.raises(MyError, match="actor failed"):
        list(as_completed([counter.fail()], with_results=True, timeout=TIMEOUT))
    with pytest.raises(TypeError, match="as_completed takes futures"):
        as_completed([counter])


# --------------------------------------------------------------------------- 3. scatter


Point = collections.namedtuple("Point", "x y")


def test_scatter_of_a_range_scatters_its_elements(client):
    fs = client.scatter(range(5))
    assert isinstance(fs, list) and len(fs) == 5
    assert all(isinstance(f, Future) for f in fs)
    assert client.gather(fs) == [0, 1, 2, 3, 4]
    assert client.submit(sum, fs).result(timeout=TIMEOUT) == 10


def test_scatter_keeps_dasks_collection_types(client):
    as_tuple = client.scatter((1, 2))
    assert isinstance(as_tuple, tuple) and client.gather(list(as_tuple)) == [1, 2]
    as_set = client.scatter({3, 4})
    assert isinstance(as_set, set) and all(isinstance(f, Future) for f in as_set)
    assert sorted(client.gather(list(as_set))) == [3, 4]
    point = client.scatter(Point(5, 6))
    assert isinstance(point, Point) and isinstance(point.x, Future)
    assert client.gather(list(point)) == [5, 6]
    # A subclass of dict is one value, as in dask: it keeps its type.
    ordered = client.scatter(collections.OrderedDict(a=1))
    assert isinstance(ordered, Future)
    assert ordered.result(timeout=TIMEOUT) == collections.OrderedDict(a=1)
    assert type(ordered.result(timeout=TIMEOUT)) is collections.OrderedDict
    with pytest.raises(TypeError, match=r"not an iterator.*list\(\.\.\.\)"):
        client.scatter(x for x in range(3))


# --------------------------------------------------------------------------- 4. dashboard link


def test_local_cluster_dashboard_link_is_the_dashboards_address(client):
    link = client.cluster.dashboard_link
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/[\w-]+/", link), link
    assert client.dashboard_link == link
    with urllib.request.urlopen(link + "api/status", timeout=TIMEOUT) as reply:
        assert reply.status == 200
        assert json.loads(reply.read())
    with Client(client.scheduler_address, set_as_default=False) as other:  # knows it from the scheduler
        assert other.dashboard_link == link


# --------------------------------------------------------------------------- 5. the text of a future


def test_future_repr_has_dasks_shape(client, gate):
    running = blocked(client, gate, 0)
    pending = client.submit(inc, running)  # waits for its input
    assert repr(pending) == f"<Future: pending, key: {pending.key}>"
    done = client.submit(inc, 1)
    done.result(timeout=TIMEOUT)
    assert repr(done) == f"<Future: finished, type: int, key: {done.key}>"
    erred = client.submit(fail_with, "repr")
    erred.exception(timeout=TIMEOUT)
    assert repr(erred) == f"<Future: error, key: {erred.key}>"
    # A scattered future names its type at once, as dask's does.
    text, number = client.scatter(["text", 2.5])
    assert repr(text) == f"<Future: finished, type: str, key: {text.key}>"
    assert repr(number) == f"<Future: finished, type: float, key: {number.key}>"
    assert repr(client.scatter(b"raw", hash=False)).startswith("<Future: finished, type: bytes, key: bytes-")


# --------------------------------------------------------------------------- 6. print and warn


def test_print_and_warn_outside_tasks_are_the_builtins(capsys):
    from jupyter_futures import print as jf_print, warn as jf_warn

    jf_print("a", "b", sep="-", end="!\n")
    assert capsys.readouterr().out == "a-b!\n"
    buffer = io.StringIO()
    jf_print("to a file", file=buffer)  # outside a task any file will do
    assert buffer.getvalue() == "to a file\n"
    with pytest.warns(UserWarning, match="outside a task"):
        jf_warn("outside a task")
    with pytest.warns(DeprecationWarning, match="old"):
        jf_warn("old", DeprecationWarning)


def test_print_and_warn_in_a_task_reach_the_client(client):
    seen = []
    arrived = threading.Condition()

    def collect(key, worker, stream, text):
        with arrived:
            seen.append((key, stream, text))
            arrived.notify_all()

    def text_of(key, stream):
        return "".join(t for k, s, t in seen if k == key and s == stream)

    def wait_for_text(key, stream, wanted):
        with arrived:
            assert arrived.wait_for(lambda: wanted in text_of(key, stream), TIMEOUT), seen

    unsubscribe = client.subscribe_output(collect)
    try:
        f = client.submit(remote_print, 42, pure=False)
        assert f.result(timeout=TIMEOUT) == 42
        wait_for_text(f.key, "stdout", "hello:42\n")
        one_worker = sorted(client.scheduler_info()["workers"])[:1]  # one process: its filters would hide the 2nd
        warned = client.map(remote_warn, [1, 2], pure=False, workers=one_worker)
        assert client.gather(warned) == [1, 2]
        for i, w in enumerate(warned, 1):
            wait_for_text(w.key, "stderr", f"UserWarning: careful {i}")
    finally:
        unsubscribe()
    bad = client.submit(remote_print_to_a_file, pure=False)
    with pytest.raises(TypeError, match="sys.stdout or sys.stderr"):
        bad.result(timeout=TIMEOUT)


# --------------------------------------------------------------------------- 7. Client attributes dask code reads


def test_client_accepts_loop(client):
    with Client(client.scheduler_address, loop=object(), set_as_default=False) as other:
        assert other.submit(inc, 41).result(timeout=TIMEOUT) == 42


def test_client_futures_maps_keys_to_their_states(client):
    f = client.submit(inc, 100)
    f.result(timeout=TIMEOUT)
    assert f.key in client.futures
    assert client.futures[f.key] is f.state
    assert client.futures[f.key].status == "finished"
    assert f.key in client.futures.keys()
    assert dict(client.futures.items())[f.key] is f.state
    assert f.state in client.futures.values()
    key = f.key
    del f
    settle_releases(client)
    assert wait_until(lambda: key not in client.futures, TIMEOUT)


def test_client_scheduler_address(client):
    assert client.scheduler.address == client.scheduler_address
    assert client.scheduler.address.startswith("tcp://127.0.0.1:")
    with pytest.raises(AttributeError, match="client.scheduler_info"):
        client.scheduler.identity


def test_scheduler_info_n_workers(client):
    full = client.scheduler_info()
    assert len(full["workers"]) == 2
    assert (full["n_workers"], full["total_threads"]) == (2, 2)
    assert len(client.scheduler_info(n_workers=-1)["workers"]) == 2
    one = client.scheduler_info(n_workers=1)
    assert len(one["workers"]) == 1 and one["n_workers"] == 2
    assert set(one["workers"]) <= set(full["workers"])
    assert client.scheduler_info(n_workers=0)["workers"] == {}
    with pytest.raises(ValueError, match="n_workers=-2"):
        client.scheduler_info(n_workers=-2)


def test_nbytes_of_the_values_on_the_cluster_as_dasks(client):
    values = client.map(lambda n: b"x" * n, [1000, 2000], key=["nbytes-1", "nbytes-2"])
    client.gather(values)
    mine = client.nbytes(values, summary=False)
    assert set(mine) == {"nbytes-1", "nbytes-2"} and mine["nbytes-2"] > mine["nbytes-1"] >= 1000
    assert client.nbytes(summary=False)["nbytes-1"] == mine["nbytes-1"]
    assert client.nbytes(values) == {"nbytes": sum(mine.values())}  # summed by key prefix (dask's key_split)
