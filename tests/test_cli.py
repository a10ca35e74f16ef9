"""The ``jupyter-futures`` command: a scheduler and workers started by hand, as on a real cluster."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import urllib.request

import psutil
import pytest

from jupyter_futures import Client
from jupyter_futures.worker.store import parse_memory
from procs import (JF, PYTHON, TIMEOUT, VENV_BIN, clean_env, free_port, kill_tree, refused_address,
                   start_process, start_scheduler, stop, subreaper, wait_gone, wait_until)


def inc(x):
    return x + 1


def add(x, y):
    return x + y


def run_cmd(cmd, env=None, timeout=TIMEOUT):
    return subprocess.run(cmd, env=env or clean_env(), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


# --------------------------------------------------------------------------- a cluster by hand


class HandCluster:
    """``jupyter-futures scheduler`` plus ``jupyter-futures worker`` processes; stopped in ``close``."""

    def __init__(self, tmp_path, names, memory_limit="512MB"):
        self.tmp_path = tmp_path
        self.token_file = tmp_path / "token"
        self.procs: list[subprocess.Popen] = []
        self.scheduler, self.info = start_scheduler(
            tmp_path, "--token-file", str(self.token_file), "--dashboard-port", "0", "--log-level", "INFO",
            env=clean_env(HOME=str(tmp_path)))
        self.procs.append(self.scheduler)
        self.address = self.info["address"]
        self.token = self.token_file.read_text().strip()
        self.workers = {}
        for name in names:
            self.workers[name] = self.start_worker(name, memory_limit)

    def start_worker(self, name, memory_limit="512MB", token=None, address=None):
        cmd = [JF, "worker", address or self.address, "--nthreads", "1", "--name", name,
               "--memory-limit", memory_limit]
        # Workers import the functions of this module by name, as users' workers import their code.
        env = clean_env(HOME=str(self.tmp_path), JUPYTER_FUTURES_TOKEN=token or self.token,
                        PYTHONPATH=os.path.dirname(os.path.abspath(__file__)))
        proc, _ = start_process(cmd, env=env, stderr_path=str(self.tmp_path / f"{name}.log"), name=name)
        self.procs.append(proc)
        return proc

    def log(self, name="scheduler"):
        return (self.tmp_path / f"{name}.log").read_text()

    def close(self):
        for proc in reversed(self.procs):
            kill_tree(proc)


@pytest.fixture
def hand_cluster(tmp_path):
    clusters = []

    def make(names=("w1", "w2"), **kwargs):
        clusters.append(HandCluster(tmp_path, names, **kwargs))
        return clusters[-1]
    yield make
    for c in clusters:
        c.close()


def worker_children(proc):
    """The worker process(es) a ``jupyter-futures worker`` (its nanny) runs."""
    return [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]


def test_scheduler_and_workers_from_the_command_line(hand_cluster):
    cl = hand_cluster()
    assert cl.info["pid"] == cl.scheduler.pid
    assert cl.address.startswith("tcp://127.0.0.1:") and not cl.address.endswith(":0")
    assert cl.info["token_file"] == str(cl.token_file)

    with Client(cl.address, token=cl.token, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=TIMEOUT)
        workers = client.scheduler_info()["workers"]
        by_name = {w["name"]: a for a, w in workers.items()}
        assert set(by_name) == {"w1", "w2"}
        assert all(w["nthreads"] == 1 for w in workers.values())
        assert all(w["memory_limit"] == parse_memory("512MB") for w in workers.values())
        for name, proc in cl.workers.items():
            assert worker_children(proc) == [workers[by_name[name]]["pid"]]

        assert client.gather(client.map(inc, range(100))) == list(range(1, 101))
        x = client.submit(inc, 1000, workers=["w1"])  # a worker named by its --name
        y = client.submit(inc, 2000, workers=[by_name["w2"]])
        z = client.submit(add, x, y, workers=["w2"])
        assert z.result(timeout=TIMEOUT) == 1001 + 2001
        assert client.who_has([x, y, z]) == {x.key: [by_name["w1"]], y.key: [by_name["w2"]],
                                             z.key: [by_name["w2"]]}

        with urllib.request.urlopen(cl.info["dashboard"] + "api/status", timeout=10) as r:
            status = json.load(r)
        assert r.status == 200 and status

    assert "joined" in cl.log()

    # SIGTERM: every worker (and the process under its nanny) and the scheduler exit cleanly.
    children = {name: worker_children(proc) for name, proc in cl.workers.items()}
    for name, proc in cl.workers.items():
        assert stop(proc) == 0, cl.log(name)
        assert wait_gone(children[name], timeout=10) == []
    assert stop(cl.scheduler) == 0, cl.log()


def test_stopping_the_scheduler_stops_its_workers(hand_cluster):
    cl = hand_cluster()
    with Client(cl.address, token=cl.token, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=TIMEOUT)
        children = [pid for proc in cl.workers.values() for pid in worker_children(proc)]
        assert stop(cl.scheduler) == 0, cl.log()
        for name, proc in cl.workers.items():
            assert proc.wait(TIMEOUT) == 0, cl.log(name)
        assert wait_gone(children, timeout=10) == []
        assert wait_until(lambda: client.status == "closed")


def test_client_shutdown_stops_the_scheduler_and_its_workers(hand_cluster):
    cl = hand_cluster()
    client = Client(cl.address, token=cl.token, set_as_default=False)
    client.wait_for_workers(2, timeout=TIMEOUT)
    children = [pid for proc in cl.workers.values() for pid in worker_children(proc)]
    client.shutdown()
    assert client.status == "closed"
    assert cl.scheduler.wait(TIMEOUT) == 0, cl.log()
    for name, proc in cl.workers.items():
        assert proc.wait(TIMEOUT) == 0, cl.log(name)
    assert wait_gone(children, timeout=10) == []
    assert "shutting down at the request of a client" in cl.log()


def test_restart_with_command_line_workers(hand_cluster):
    """Their nannies start new worker processes under the same names; the old ones are gone."""
    cl = hand_cluster()
    with Client(cl.address, token=cl.token, set_as_default=False) as client:
        client.wait_for_workers(2, timeout=TIMEOUT)
        before = set(client.run(os.getpid).values())
        client.restart(timeout=TIMEOUT)
        names = sorted(w["name"] for w in client.scheduler_info()["workers"].values())
        assert names == ["w1", "w2"]
        after = set(client.run(os.getpid).values())
        assert len(after) == 2 and not after & before
        assert client.submit(inc, 1).result(timeout=TIMEOUT) == 2
        assert "died" not in cl.log("w1") + cl.log("w2")  # a restart on request is no crash


def test_cli_nanny_restarts_a_killed_worker_under_the_same_name(hand_cluster):
    cl = hand_cluster(names=("w1",))
    with Client(cl.address, token=cl.token, set_as_default=False) as client:
        client.wait_for_workers(1, timeout=TIMEOUT)
        [old] = worker_children(cl.workers["w1"])
        os.kill(old, signal.SIGKILL)
        assert wait_gone([old], timeout=10) == []

        def restarted():
            workers = client.scheduler_info()["workers"].values()
            return [w["pid"] for w in workers if w["name"] == "w1"] == worker_children(cl.workers["w1"]) != [old]
        assert wait_until(restarted), client.scheduler_info()["workers"]
        assert client.submit(inc, 1, workers=["w1"]).result(timeout=TIMEOUT) == 2
    assert stop(cl.workers["w1"]) == 0
    assert stop(cl.scheduler) == 0


@pytest.mark.parametrize("problem", ["no-scheduler", "wrong-token"])
def test_worker_that_cannot_join_exits_with_an_error(hand_cluster, tmp_path, problem):
    """A worker that can never join must say why and exit non-zero, not report success."""
    cl = hand_cluster(names=())
    with refused_address() as nowhere:
        if problem == "no-scheduler":
            proc = cl.start_worker("lost", address=nowhere)
            reason = "nothing listens"
        else:
            proc = cl.start_worker("intruder", token="wrong")
            reason = "token"
        code = proc.wait(TIMEOUT)
    log = cl.log("lost" if problem == "no-scheduler" else "intruder")
    assert reason in log
    assert code != 0, f"the worker gave up but exited with code 0; its log:\n{log}"
    assert stop(cl.scheduler) == 0


def test_worker_without_token_exits_with_clear_error(tmp_path):
    env = clean_env(HOME=str(tmp_path), JUPYTER_FUTURES_TOKEN_FILE=str(tmp_path / "missing"))
    with refused_address() as nowhere:
        r = run_cmd([JF, "worker", nowhere, "--nthreads", "1"], env=env)
    assert r.returncode != 0
    assert "JUPYTER_FUTURES_TOKEN" in r.stderr and str(tmp_path / "missing") in r.stderr
    assert "token=" not in r.stderr  # the Python keyword is no help on a command line


@pytest.mark.parametrize("args, message", [
    (["nonsense://x"], "argument scheduler: unsupported address scheme 'nonsense' in 'nonsense://x': use tcp://host:port"),
    (["tcp://127.0.0.1:1", "--nthreads", "0"], "argument --nthreads: '0': a worker needs a whole number of threads"),
    (["tcp://127.0.0.1:1", "--resources", "{GPU:1}"], "argument --resources: '{GPU:1}': give a JSON object of amounts"),
    (["tcp://127.0.0.1:1", "--memory-limit", "lots"], "argument --memory-limit: bad memory size 'lots': use a number"),
])
def test_bad_worker_options_are_named_before_anything_starts(args, message):
    r = run_cmd([JF, "worker", *args], env=clean_env(JUPYTER_FUTURES_TOKEN="t" * 64))
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_scheduler_listens_on_the_ports_it_is_given(tmp_path):
    """``--port`` and ``--dashboard-port`` (free ports the OS picked for this test) are the ones served."""
    port, dashboard_port = free_port(), free_port()
    token_file = tmp_path / "token"
    proc, out = start_process([JF, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--dashboard-port", str(dashboard_port), "--token-file", str(token_file)],
                              env=clean_env(HOME=str(tmp_path)), stderr_path=str(tmp_path / "scheduler.log"),
                              name="scheduler")
    try:
        info = out.json_line(TIMEOUT)
        assert info["address"] == f"tcp://127.0.0.1:{port}"
        assert info["dashboard"].startswith(f"http://127.0.0.1:{dashboard_port}/")
        with urllib.request.urlopen(info["dashboard"] + "api/status", timeout=10) as r:
            assert r.status == 200
        with Client(f"127.0.0.1:{port}", token=token_file.read_text().strip(), set_as_default=False) as client:
            assert client.scheduler_info()["address"] == f"tcp://127.0.0.1:{port}"
        assert stop(proc) == 0, (tmp_path / "scheduler.log").read_text()
    finally:
        kill_tree(proc)


def test_scheduler_on_a_taken_port_says_how_to_pick_another():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = run_cmd([JF, "scheduler", "--host", "127.0.0.1", "--port", str(port)],
                    env=clean_env(JUPYTER_FUTURES_TOKEN="t" * 64))
    assert r.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr and "--port 0" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


# --------------------------------------------------------------------------- usage


@pytest.mark.parametrize("cmd", [[JF, "--help"], [JF, "-h"], [JF],
                                 [PYTHON, "-m", "jupyter_futures.cluster.cli", "--help"]],
                         ids=["jupyter-futures --help", "-h", "no arguments", "python -m ...cli --help"])
def test_help_prints_usage(cmd):
    r = run_cmd(cmd)
    assert r.returncode == 0, r.stderr
    assert "jupyter-futures COMMAND" in r.stdout
    for command in ("scheduler", "worker", "demo"):
        assert command in r.stdout


@pytest.mark.parametrize("command, options", [
    ("scheduler", ["--host", "--port", "--dashboard-port", "--token-file"]),
    ("worker", ["--nthreads", "--memory-limit", "--name", "--host"]),
])
def test_subcommand_help(command, options):
    r = run_cmd([JF, command, "--help"])
    assert r.returncode == 0, r.stderr
    assert f"jupyter-futures {command}" in r.stdout
    for option in options:
        assert option in r.stdout


def test_unknown_command_is_an_error():
    r = run_cmd([JF, "frobnicate"])
    assert r.returncode == 2
    assert "unknown command 'frobnicate'" in r.stderr and "jupyter-futures COMMAND" in r.stderr


def test_jupyter_futures_as_jupyter_subcommand(hand_cluster):
    """``jupyter futures ...`` is the same command (jupyter_core is in the test extra: no skip)."""
    jupyter = shutil.which("jupyter", path=os.pathsep.join([VENV_BIN, os.environ.get("PATH", "")]))
    assert jupyter is not None, "the `jupyter` command is missing: install the test extra (jupyter_core)"
    r = run_cmd([jupyter, "futures", "--help"])
    assert r.returncode == 0, r.stderr
    assert "jupyter-futures COMMAND" in r.stdout
    # And it runs the subcommands: a worker started as `jupyter futures worker` joins a scheduler.
    cl = hand_cluster(names=())
    env = clean_env(HOME=str(cl.tmp_path), JUPYTER_FUTURES_TOKEN=cl.token,
                    PYTHONPATH=os.path.dirname(os.path.abspath(__file__)))
    proc, _ = start_process([jupyter, "futures", "worker", cl.address, "--nthreads", "2", "--name", "via-jupyter"],
                            env=env, stderr_path=str(cl.tmp_path / "via-jupyter.log"), name="via-jupyter")
    cl.procs.append(proc)
    with Client(cl.address, token=cl.token, set_as_default=False) as client:
        client.wait_for_workers(1, timeout=TIMEOUT)
        (worker,) = client.scheduler_info()["workers"].values()
        assert (worker["name"], worker["nthreads"]) == ("via-jupyter", 2)
        assert client.submit(inc, 1).result(timeout=TIMEOUT) == 2


def test_demo_runs_and_leaves_no_processes(tmp_path):
    with subreaper():
        before = {p.pid for p in psutil.Process().children(recursive=True)}
        r = run_cmd([JF, "demo"], env=clean_env(HOME=str(tmp_path)), timeout=60)
        assert r.returncode == 0, r.stderr
        assert "Done in" in r.stdout and "the cluster is stopped" in r.stdout
        # The tour's as_completed line shows what it claims: the reverse of the submitting order.
        submitted, returned = re.search(r"tasks (\[[\d, ]+\]) .* came back as (\[[\d, ]+\])", r.stdout).groups()
        assert returned == str(list(reversed(eval(submitted)))), r.stdout
        stray = {p.pid for p in psutil.Process().children(recursive=True)} - before
        assert wait_gone(stray, timeout=10) == [], f"the demo left processes {stray}"
