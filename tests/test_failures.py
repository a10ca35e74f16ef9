"""Failures of real processes: workers killed mid-task, tasks that crash their worker, clients that die.

Every test runs its own small cluster (2 workers x 1 thread): crashes must not
leak from one test into the next. Tasks that must stay "running" until the test
has looked block on a gate file the test creates.
"""
import os
import signal
import subprocess
import textwrap
import threading

import psutil
import pytest

from jupyter_futures import Client, KilledWorker, SerializationError, wait
from procs import PYTHON, TIMEOUT, LineReader, clean_env, kill_tree, subreaper, wait_gone, wait_until


# --------------------------------------------------------------------------- tasks


def inc(x):
    return x + 1


def wait_for_file(path, timeout=TIMEOUT):
    if not wait_until(lambda: os.path.exists(path), timeout):
        raise TimeoutError(f"{path} never appeared")


def record_and_wait(x, started_dir, gate):
    """Note this worker's pid in ``started_dir``, wait for ``gate``, return x + 1."""
    open(os.path.join(started_dir, str(os.getpid())), "w").close()
    wait_for_file(gate)
    return x + 1


def crash_when_allowed(x, started_dir, gate_dir):
    """Note this worker's pid, wait for the gate named after it, then kill the worker process."""
    pid = str(os.getpid())
    open(os.path.join(started_dir, pid), "w").close()
    wait_for_file(os.path.join(gate_dir, pid))
    os._exit(1)


def gated_square_killing_once(x, gate, marker):
    """x * x after ``gate`` opens; the task with x == 0 first kills its worker, once (``marker``)."""
    wait_for_file(gate)
    if x == 0 and not os.path.exists(marker):
        open(marker, "x").close()
        os._exit(1)
    return x * x


def raise_value_error(x):
    raise ValueError(f"bad input {x}")


def return_lock(x):
    return threading.Lock()


def _fail_on_load():
    raise RuntimeError("this object cannot be unpickled")


class LoadsBadly:
    """Pickles fine; unpickling it raises."""

    def __reduce__(self):
        return (_fail_on_load, ())


def return_loads_badly(x):
    return LoadsBadly()


def identity(x):
    return x


class UnpicklableError(Exception):
    """An exception holding a lock: it cannot be pickled to travel back."""

    def __init__(self, msg):
        super().__init__(msg)
        self.lock = threading.Lock()


class BadInitError(Exception):
    """Pickles, but unpickling calls __init__ with one argument and fails."""

    def __init__(self, a, b):
        super().__init__(f"{a}/{b}")


def raise_unpicklable_error(x):
    raise UnpicklableError(f"unpicklable failure {x}")


def raise_bad_init_error(x):
    raise BadInitError("left", x)


def task_state(key, dask_scheduler):
    """On the scheduler: (running, pid of the worker processing ``key``) or None."""
    ts = dask_scheduler.state.tasks.get(key)
    if ts is None or ts.processing_on is None:
        return None
    return ts.running, ts.processing_on.pid


def task_brief(key, dask_scheduler):
    """On the scheduler: the state of ``key`` and of its inputs."""
    ts = dask_scheduler.state.tasks.get(key)
    if ts is None:
        return None
    return {"state": ts.state, "inputs": {d.key: d.state for d in ts.dependencies}}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def client():
    """A fresh 2 x 1 cluster; afterwards every process it ever ran must be gone."""
    c = Client(n_workers=2, threads_per_worker=1)
    cluster = c.cluster
    pids = {cluster.scheduler_proc.pid, *(w.pid for w in cluster.workers)}
    c._test_pids = pids  # tests add the pids of restarted workers here
    try:
        c.wait_for_workers(2, timeout=TIMEOUT)
        yield c
    finally:
        pids.update(w.pid for w in cluster.workers)
        c.close(timeout=TIMEOUT)
        mine = {p.pid for p in psutil.Process().children(recursive=True)}
        assert not (pids & mine), f"cluster processes {pids & mine} outlived client.close()"
        assert wait_gone(pids, timeout=10) == []


def worker_pids(client):
    return sorted(client.run(os.getpid).values())


def nanny_pids(client):
    return sorted(w.pid for w in client.cluster.workers)


# --------------------------------------------------------------------------- worker killed mid-task


def test_worker_killed_while_running_task(client, tmp_path):
    started, gate = tmp_path / "started", tmp_path / "gate"
    started.mkdir()
    cluster = client.cluster
    before = client.scheduler_info()["workers"]
    assert len(before) == 2

    fut = client.submit(record_and_wait, 41, str(started), str(gate))
    assert wait_until(lambda: len(os.listdir(started)) == 1), "the task never started"
    victim_pid = int(os.listdir(started)[0])
    [nanny] = [w for w in cluster.workers if w.pid == victim_pid]
    [victim_addr] = [a for a, w in before.items() if w["pid"] == victim_pid]
    [survivor_addr] = [a for a in before if a != victim_addr]

    # Hold the nanny's restart until the test has seen the scheduler with one worker.
    respawn, held = nanny._spawn, threading.Event()
    nanny._spawn = held.set
    try:
        os.kill(victim_pid, signal.SIGKILL)
        assert held.wait(TIMEOUT), "the nanny did not notice its worker died"
        assert wait_until(lambda: list(client.scheduler_info()["workers"]) == [survivor_addr]), \
            "the scheduler did not drop the dead worker"

        # The task reruns on the surviving worker.
        assert wait_until(lambda: len(os.listdir(started)) == 2), "the task was not rerun after its worker died"
        rerun_pid = int(next(p for p in os.listdir(started) if int(p) != victim_pid))
        assert rerun_pid == before[survivor_addr]["pid"]
        assert fut.status != "error"
    finally:
        del nanny._spawn
        if held.is_set():
            client.loop.call_soon_threadsafe(respawn)
    gate.touch()
    assert fut.result(timeout=TIMEOUT) == 42

    # The nanny restarted the worker with a new pid.
    assert wait_until(lambda: nanny.restarts == 1 and nanny.pid != victim_pid)
    client._test_pids.add(nanny.pid)
    client.wait_for_workers(2, timeout=TIMEOUT)
    after = client.scheduler_info()["workers"]
    assert victim_addr not in after
    assert survivor_addr in after
    assert sorted(w["pid"] for w in after.values()) == sorted([before[survivor_addr]["pid"], nanny.pid])
    assert not psutil.pid_exists(victim_pid) or psutil.Process(victim_pid).status() == psutil.STATUS_ZOMBIE

    # The cluster keeps working, on both workers.
    assert client.gather(client.map(inc, range(20))) == list(range(1, 21))
    assert worker_pids(client) == nanny_pids(client)
    [new_addr] = [a for a in after if a != survivor_addr]
    assert client.submit(inc, 1, workers=[new_addr]).result(timeout=TIMEOUT) == 2


# --------------------------------------------------------------------------- tasks that kill their worker


def _check_recovered(client, restarts):
    """After a KilledWorker: the nannies restarted the workers, and the cluster computes again."""
    cluster = client.cluster
    assert wait_until(lambda: sum(w.restarts for w in cluster.workers) == restarts), \
        f"restarts: {[w.restarts for w in cluster.workers]}, expected {restarts} in all"
    client._test_pids.update(w.pid for w in cluster.workers)
    client.wait_for_workers(2, timeout=TIMEOUT)
    assert client.submit(inc, 41).result(timeout=TIMEOUT) == 42
    assert client.gather(client.map(inc, range(10))) == list(range(1, 11))
    assert worker_pids(client) == nanny_pids(client)
    assert len(client.scheduler_info()["workers"]) == 2


def test_task_killing_its_worker_every_time_fails_with_killed_worker(client, tmp_path):
    """Each run waits until the scheduler knows it is running, then exits its worker process."""
    started, gates = tmp_path / "started", tmp_path / "gates"
    started.mkdir()
    gates.mkdir()
    fut = client.submit(crash_when_allowed, 1, str(started), str(gates))
    seen: set = set()
    for run in range(1, 4):
        assert wait_until(lambda: len(os.listdir(started)) == run), f"run {run} never started"
        [pid] = set(os.listdir(started)) - seen
        seen.add(pid)
        assert wait_until(lambda: client.run_on_scheduler(task_state, fut.key) == (True, int(pid))), \
            "the scheduler never saw the task running"
        (gates / pid).touch()
    with pytest.raises(KilledWorker) as info:
        fut.result(timeout=TIMEOUT)
    assert fut.key in str(info.value)
    assert fut.status == "error"
    _check_recovered(client, restarts=3)


def test_task_crashing_its_worker_at_once_fails_with_killed_worker(client):
    """``os._exit(1)`` as the task's first statement: the worker may die before it reports "started".

    The scheduler must still count the deaths against the task and fail it with
    ``KilledWorker``, instead of rerunning it until the nannies give up.
    """
    def crash_at_once(x):  # local, so pickled by value: nothing to import before it runs
        os._exit(1)

    cluster = client.cluster
    fut = client.submit(crash_at_once, 1)
    finished_or_gave_up = wait_until(
        lambda: fut.done() or all(w.stopped.is_set() for w in cluster.workers), timeout=TIMEOUT)
    assert finished_or_gave_up
    assert fut.done(), (
        f"the task was rerun on every restarted worker until the nannies stopped restarting them "
        f"(restarts {[w.restarts for w in cluster.workers]}), and the future never failed")
    with pytest.raises(KilledWorker) as info:
        fut.result(timeout=TIMEOUT)
    assert fut.key in str(info.value)
    _check_recovered(client, restarts=3)


def test_queued_tasks_of_a_dying_worker_run_elsewhere(client, tmp_path):
    gate, marker = tmp_path / "gate", tmp_path / "killed-once"
    n = 8
    futs = client.map(gated_square_killing_once, range(n), gate=str(gate), marker=str(marker))

    def each_worker_has_a_queue():
        workers = client.scheduler_info()["workers"].values()
        return len(workers) == 2 and all(w["processing"] >= 2 for w in workers)

    # Every worker holds a running task and at least one queued behind it before anything dies.
    assert wait_until(each_worker_has_a_queue), client.scheduler_info()["workers"]
    gate.touch()
    assert client.gather(futs) == [x * x for x in range(n)]
    assert marker.exists()
    assert wait_until(lambda: sum(w.restarts for w in client.cluster.workers) == 1)
    client._test_pids.update(w.pid for w in client.cluster.workers)
    client.wait_for_workers(2, timeout=TIMEOUT)
    assert client.gather(client.map(inc, range(n))) == list(range(1, n + 1))


# --------------------------------------------------------------------------- no stray processes

CHILD = textwrap.dedent("""
    import json, os, sys
    from jupyter_futures import Client

    client = Client(n_workers=2, threads_per_worker=1)
    client.wait_for_workers(2, timeout=30)
    assert client.submit(sum, [1, 2]).result(timeout=30) == 3
    print(json.dumps({
        "scheduler": client.run_on_scheduler(os.getpid),
        "workers": sorted(client.run(os.getpid).values()),
        "scheduler_proc": client.cluster.scheduler_proc.pid,
        "nannies": sorted(w.pid for w in client.cluster.workers),
    }), flush=True)
    sys.stdin.read()  # until the test closes stdin (or kills this process)
""")


@pytest.mark.parametrize("end", ["SIGKILL", "SIGTERM", "exit-without-close"])
def test_no_process_outlives_the_client_process(tmp_path, end):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    with subreaper():
        with open(tmp_path / "stderr", "wb") as err:
            child = subprocess.Popen([PYTHON, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=err, env=clean_env(), cwd=tmp_path)
        try:
            out = LineReader(child.stdout, "child").json_line(TIMEOUT)
            assert out["scheduler"] == out["scheduler_proc"]
            assert out["workers"] == out["nannies"]
            pids = {out["scheduler"], *out["workers"]}
            family = {p.pid for p in psutil.Process(child.pid).children(recursive=True)}
            assert pids <= family
            if end == "exit-without-close":
                child.stdin.close()
                assert child.wait(TIMEOUT) == 0, (tmp_path / "stderr").read_text()
            else:
                child.send_signal(getattr(signal, end))
                child.wait(TIMEOUT)
            still = wait_gone(family, timeout=10)
            assert still == [], f"{still} outlived the client process ({end}); all: {family}"
        finally:
            kill_tree(child)
            if child.stdin and not child.stdin.closed:
                child.stdin.close()


def test_client_close_leaves_no_children():
    with Client(n_workers=2, threads_per_worker=1) as c:
        c.wait_for_workers(2, timeout=TIMEOUT)
        pids = {c.run_on_scheduler(os.getpid), *c.run(os.getpid).values()}
        assert pids <= {p.pid for p in psutil.Process().children(recursive=True)}
        c.close()
        left = pids & {p.pid for p in psutil.Process().children(recursive=True)}
        assert not left, f"{left} still running after client.close()"
    assert wait_gone(pids, timeout=10) == []


# --------------------------------------------------------------------------- bad tasks


def test_scheduler_keeps_serving_after_bad_tasks(client):
    other = Client(client.scheduler_address, set_as_default=False)
    try:
        good = other.map(inc, range(50))
        bad = {
            "raises": client.submit(raise_value_error, 1),
            "unpicklable-result": client.submit(return_lock, 1),
            "unpicklable-exception": client.submit(raise_unpicklable_error, 2),
            "exception-that-cannot-load": client.submit(raise_bad_init_error, 3),
            "argument-that-cannot-load": client.submit(identity, LoadsBadly()),
        }
        with pytest.raises(ValueError, match="bad input 1"):
            bad["raises"].result(timeout=TIMEOUT)
        err = bad["unpicklable-result"].exception(timeout=TIMEOUT)
        assert isinstance(err, TypeError) and "pickle" in str(err), repr(err)
        assert bad["unpicklable-result"].key in str(err)
        err = bad["unpicklable-exception"].exception(timeout=TIMEOUT)
        assert "UnpicklableError" in str(err) and "unpicklable failure 2" in str(err), repr(err)
        err = bad["exception-that-cannot-load"].exception(timeout=TIMEOUT)
        assert "BadInitError" in str(err) and "left/3" in str(err), repr(err)
        err = bad["argument-that-cannot-load"].exception(timeout=TIMEOUT)
        assert "cannot be unpickled" in str(err), repr(err)

        # A result that pickles on the worker but not back here fails on result(), not in the cluster.
        f = client.submit(return_loads_badly, 1)
        with pytest.raises(Exception, match="cannot be unpickled"):
            f.result(timeout=TIMEOUT)

        # An argument that cannot be pickled is refused here; nothing reaches the scheduler.
        with pytest.raises(SerializationError):
            client.submit(identity, threading.Lock())

        # The other client's work is unaffected, and both clients go on.
        assert other.gather(good) == list(range(1, 51))
        assert client.gather(client.map(inc, range(10))) == list(range(1, 11))
        assert other.submit(inc, 1).result(timeout=TIMEOUT) == 2
        assert client.run_on_scheduler(os.getpid) == client.cluster.scheduler_proc.pid
        info = other.scheduler_info()
        assert len(info["workers"]) == 2 and info["clients"] >= 2
        assert client.cluster.scheduler_proc.poll() is None
        assert [w.restarts for w in client.cluster.workers] == [0, 0]
    finally:
        other.close()


# --------------------------------------------------------------------------- data lost with a worker


def make_bytes(n):
    return bytes(n)


def test_result_held_by_a_killed_worker_is_recomputed(client):
    from jupyter_futures import wait

    big = client.submit(make_bytes, 5_000_000)  # too large to travel with the "finished" message
    wait([big], timeout=TIMEOUT)
    [holder] = client.who_has(big)[big.key]
    pid = client.scheduler_info()["workers"][holder]["pid"]
    os.kill(pid, signal.SIGKILL)
    assert wait_gone([pid], timeout=10) == []
    # Both the future itself and a new dependent get the value, recomputed from the task's lineage.
    assert client.submit(len, big).result(timeout=TIMEOUT) == 5_000_000
    assert big.result(timeout=TIMEOUT) == bytes(5_000_000)
    assert holder not in client.who_has(big)[big.key]
    assert wait_until(lambda: sum(w.restarts for w in client.cluster.workers) == 1)
    client._test_pids.update(w.pid for w in client.cluster.workers)


def test_a_task_whose_only_input_dies_with_the_worker_running_it_is_computed_again(client, tmp_path):
    """x lives only on the worker that runs y; that worker is SIGKILLed while y runs: x is computed
    again elsewhere and y after it (y used to be placed back on the dead worker and hang)."""
    x = client.submit(inc, 1, pure=False)
    x.result(timeout=TIMEOUT)
    [holder] = client.who_has(x)[x.key]
    pid = client.scheduler_info()["workers"][holder]["pid"]
    started, gate = tmp_path / "started", tmp_path / "gate"
    started.mkdir()
    y = client.submit(record_and_wait, x, str(started), str(gate), pure=False)
    wait_for_file(str(started / str(pid)))  # y runs where its input is
    os.kill(pid, signal.SIGKILL)
    assert wait_gone([pid], timeout=10) == []
    gate.touch()
    assert y.result(timeout=TIMEOUT) == 3
    assert x.result(timeout=TIMEOUT) == 2
    assert wait_until(lambda: sum(w.restarts for w in client.cluster.workers) == 1)
    client._test_pids.update(w.pid for w in client.cluster.workers)


def drop_behind_the_schedulers_back(key, dask_worker):
    dask_worker.data.pop(key)


def test_a_value_gone_from_its_worker_behind_the_schedulers_back_is_recomputed_or_reported_lost(client):
    from jupyter_futures import FutureLostError

    computed = client.submit(make_bytes, 200_000, pure=False)  # large: fetched from the worker
    scattered = client.scatter(b"s" * 200_000, hash=False)
    wait([computed, scattered], timeout=TIMEOUT)
    for fut in (computed, scattered):
        client.run(drop_behind_the_schedulers_back, fut.key, workers=client.who_has(fut)[fut.key])
    assert client.gather(computed) == bytes(200_000)  # the scheduler heard it was missing: run again
    with pytest.raises(FutureLostError):
        client.gather(scattered)  # nothing can recompute it: an error, not a gather that never returns
    assert scattered.status == "lost"


def test_scattered_data_lost_with_its_worker_fails_clearly(client):
    from jupyter_futures import FutureLostError, LostDependency

    data = client.scatter(b"x" * 1000)
    [holder] = client.who_has(data)[data.key]
    pid = client.scheduler_info()["workers"][holder]["pid"]
    os.kill(pid, signal.SIGKILL)
    # The scheduler tells the client the data is lost ...
    assert wait_until(lambda: data.status == "lost")
    with pytest.raises(FutureLostError):
        data.result(timeout=TIMEOUT)
    # ... and a task submitted on it afterwards fails at once instead of waiting forever.
    dependent = client.submit(len, data)
    assert wait_until(dependent.done, timeout=5), \
        f"a task on lost scattered data waits forever (scheduler: {client.run_on_scheduler(task_brief, dependent.key)})"
    with pytest.raises(LostDependency, match="scatter"):
        dependent.result(timeout=TIMEOUT)
    assert wait_until(lambda: sum(w.restarts for w in client.cluster.workers) == 1)
    client._test_pids.update(w.pid for w in client.cluster.workers)
    client.wait_for_workers(2, timeout=TIMEOUT)
    again = client.scatter(b"y" * 1000)
    assert client.submit(len, again).result(timeout=TIMEOUT) == 1000


def test_scheduler_killed_fails_pending_futures_instead_of_hanging(client, tmp_path):
    from jupyter_futures.protocol.comm import CommClosedError

    started = tmp_path / "started"
    started.mkdir()
    fut = client.submit(record_and_wait, 1, str(started), str(tmp_path / "never"))
    assert wait_until(lambda: os.listdir(started))
    client.cluster.scheduler_proc.kill()
    with pytest.raises(CommClosedError):
        fut.result(timeout=TIMEOUT)
    assert wait_until(lambda: client.status == "closed")
    # The workers notice they lost their scheduler and stop; the nannies do not restart them.
    assert wait_until(lambda: all(w.stopped.is_set() for w in client.cluster.workers))
    assert [w.restarts for w in client.cluster.workers] == [0, 0]
