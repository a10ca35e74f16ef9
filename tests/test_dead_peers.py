"""Peers that die or freeze: a client's work does not outlive it, and a frozen worker or client is
taken for dead after its time-to-live even though its connection stays open.

Each test runs its own cluster (2 workers x 1 thread) and a second client in a real process that
the test SIGKILLs or SIGSTOPs. Its long tasks sleep for a minute: a test that passes in seconds
shows they were withdrawn, not waited out.
"""
import os
import signal
import subprocess
import textwrap

import psutil
import pytest

from jupyter_futures import Client
from jupyter_futures.protocol.auth import TOKEN_ENV
from jupyter_futures.scheduler.liveness import CLIENT_TTL_ENV, WORKER_TTL_ENV
from procs import PYTHON, TIMEOUT, LineReader, clean_env, kill_tree, wait_until

QUICK = 15  # seconds: far less than the dead client's minute of work

OTHER_CLIENT = textwrap.dedent("""
    import json, os, sys, time
    from jupyter_futures import Client, fire_and_forget

    address, folder = sys.argv[1], sys.argv[2]

    def long_task(i):
        open(os.path.join(folder, f"started-{i}"), "w").close()
        time.sleep(60)
        open(os.path.join(folder, f"finished-{i}"), "w").close()
        return i

    def leave_a_mark(name):
        open(os.path.join(folder, name), "w").close()
        return name

    def add(a, b):
        return a + b

    client = Client(address)
    longs = client.map(long_task, range(10))  # 2 run, 2 wait on the workers, 6 queue
    dependents = [client.submit(add, f, 1) for f in longs[:4]]
    shared = client.submit(add, 20, 22, key="shared-key")
    fire_and_forget(client.submit(leave_a_mark, "fired-and-forgotten", pure=False))
    while not all(os.path.exists(os.path.join(folder, f"started-{i}")) for i in range(2)):
        time.sleep(0.02)
    print(json.dumps({"pid": os.getpid()}), flush=True)
    sys.stdin.read()
""")


def inc(x):
    return x + 1


def add(a, b):
    return a + b


def blocked_then_pid(started):
    """Write this worker's pid to ``started``, then sleep long enough to be caught running."""
    import time

    with open(started, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(3)
    return os.getpid()


@pytest.fixture
def cluster_client(monkeypatch, request):
    """A fresh cluster whose scheduler gets the environment the test set (time-to-live settings)."""
    for name, value in getattr(request, "param", {}).items():
        monkeypatch.setenv(name, value)
    with Client(n_workers=2, threads_per_worker=1) as client:
        client.wait_for_workers(2, timeout=TIMEOUT)
        yield client


def start_other_client(client, tmp_path):
    script = tmp_path / "other.py"
    script.write_text(OTHER_CLIENT)
    proc = subprocess.Popen([PYTHON, str(script), client.scheduler_address, str(tmp_path)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=open(tmp_path / "other.stderr", "wb"),
                            env=clean_env(**{TOKEN_ENV: client.cluster.token}), cwd=tmp_path)
    line = LineReader(proc.stdout, "other client").json_line(TIMEOUT)
    assert line["pid"] == proc.pid
    return proc


def no_task_left(client):
    return not any(client.processing().values())


def test_a_killed_clients_work_is_dropped_and_its_running_tasks_stopped(cluster_client, tmp_path):
    other = start_other_client(cluster_client, tmp_path)
    try:
        shared = cluster_client.submit(add, 20, 22, key="shared-key")  # the dead client's, and ours
        other.kill()
        other.wait(TIMEOUT)
        assert cluster_client.submit(inc, 1, pure=False).result(timeout=QUICK) == 2
        assert shared.result(timeout=QUICK) == 42
        assert wait_until(lambda: (tmp_path / "fired-and-forgotten").exists(), QUICK), \
            "fire_and_forget work must outlive the client that submitted it"
        assert wait_until(lambda: no_task_left(cluster_client), QUICK), cluster_client.processing()
        assert not list(tmp_path.glob("finished-*")), "the dead client's running tasks were not stopped"
        assert not list(tmp_path.glob("started-[2-9]")), "the dead client's waiting tasks still ran"
    finally:
        kill_tree(other)


@pytest.mark.parametrize("cluster_client", [{CLIENT_TTL_ENV: "3s"}], indirect=True)
def test_a_frozen_clients_work_is_dropped_after_its_time_to_live(cluster_client, tmp_path):
    other = start_other_client(cluster_client, tmp_path)
    try:
        other.send_signal(signal.SIGSTOP)
        assert cluster_client.submit(inc, 1, pure=False).result(timeout=QUICK) == 2
        assert wait_until(lambda: no_task_left(cluster_client), QUICK), cluster_client.processing()
        assert not list(tmp_path.glob("finished-*"))
        assert psutil.Process(other.pid).status() == psutil.STATUS_STOPPED  # frozen, not gone: the TTL did it
        other.send_signal(signal.SIGCONT)
    finally:
        kill_tree(other)


@pytest.mark.parametrize("cluster_client", [{WORKER_TTL_ENV: "2s"}], indirect=True)
def test_a_frozen_worker_is_taken_for_dead_and_its_task_runs_elsewhere(cluster_client, tmp_path):
    started = tmp_path / "started"
    future = cluster_client.submit(blocked_then_pid, str(started), pure=False)
    assert wait_until(lambda: started.exists() and started.read_text())
    frozen = int(started.read_text())
    frozen_address = next(a for a, w in cluster_client.scheduler_info()["workers"].items() if w["pid"] == frozen)
    os.kill(frozen, signal.SIGSTOP)
    try:
        assert future.result(timeout=QUICK) != frozen  # computed again, by the other worker
        assert frozen_address not in cluster_client.scheduler_info()["workers"]
        assert psutil.Process(frozen).status() == psutil.STATUS_STOPPED
    finally:
        os.kill(frozen, signal.SIGCONT)
    # Thawed, it finds its connection closed and exits; its nanny starts a fresh worker.
    assert wait_until(lambda: not psutil.pid_exists(frozen) or psutil.Process(frozen).status() == "zombie")
    cluster_client.wait_for_workers(2, timeout=TIMEOUT)
    assert cluster_client.submit(inc, 41, pure=False).result(timeout=QUICK) == 42


def test_a_client_that_promises_no_heartbeat_is_never_timed_out():
    """Clients of other languages may register without heartbeats (docs/jupyter-api.md): the scheduler
    only times out those that promised them."""
    from jupyter_futures.scheduler.liveness import Liveness

    liveness = Liveness(ttl=1.0)
    liveness.heard("silent-client", now=0.0)
    liveness.watch("heartbeating-client", now=0.0)
    assert liveness.silent(now=5.0) == [("heartbeating-client", 5.0)]
    liveness.heard("heartbeating-client", now=4.5)
    assert liveness.silent(now=5.0) == []
    liveness.forget("heartbeating-client")
    assert liveness.silent(now=60.0) == []
