"""Helpers for tests that start, watch and stop real processes.

Every wait here is bounded. Nothing sleeps for a fixed time: lines are awaited
on a queue fed by a reader thread, and process exits with ``psutil.wait_procs``.
"""
from __future__ import annotations

import contextlib
import ctypes
import gc
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import psutil

VENV_BIN = os.path.dirname(sys.executable)
JF = os.path.join(VENV_BIN, "jupyter-futures")
PYTHON = sys.executable
TIMEOUT = 30  # seconds; any wait longer than this is a bug, not a slow machine


def clean_env(**extra: str) -> dict:
    """This process's environment without any jupyter_futures token settings (the test registry
    folder stays), plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("JUPYTER_FUTURES_") or k == "JUPYTER_FUTURES_REGISTRY"}
    env.update(extra)
    return env


def wait_until(predicate, timeout: float = TIMEOUT, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until true (bounded); return its final truth value."""
    tick = threading.Event()
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return bool(predicate())
        tick.wait(interval)
    return True


GATE_TIMEOUT = 45  # seconds a blocked task waits for its gate: longer than any test's own wait


def blocked(started, gate, value=None):
    """A task body: mark ``started``, then wait (bounded) until the file ``gate`` exists; returns ``value``."""
    with open(started, "w"):
        pass
    if not wait_until(lambda: os.path.exists(gate), timeout=GATE_TIMEOUT):
        raise TimeoutError(f"gate {gate} never opened")
    return value


class Gate:
    """A file a ``blocked`` task waits for, plus the file it writes when it starts."""

    def __init__(self, path):
        self.path = str(path)
        self.started = self.path + ".started"

    def open(self):
        with open(self.path, "w"):
            pass

    def has_started(self) -> bool:
        return os.path.exists(self.started)

    def wait_started(self):
        assert wait_until(self.has_started), "the blocked task never started"


def settle_releases(client, timeout: float = TIMEOUT) -> None:
    """Return once the scheduler has handled every future ``client`` dropped before this call.

    A dropped future is only queued in the client (sent at its next flush, batched); a plain
    round trip such as ``who_has`` does not carry it. So drop a probe future of our own and wait
    until the scheduler forgets the probe's key: the client sends drops in the order they
    happened, so the ones before it have arrived too. Tests that check "still held after del"
    need this, or they would pass before the release was ever sent.
    """
    probe = client.submit(os.getpid, pure=False)
    probe.result(timeout=timeout)
    key = probe.key
    del probe
    gc.collect()
    assert wait_until(lambda: key not in client.who_has(), timeout), f"the probe {key} was never released"


class LineReader:
    """Reads a pipe in a daemon thread; ``line(timeout)`` returns the next line or raises."""

    def __init__(self, stream, name: str = "process"):
        self.name = name
        self.lines: queue.Queue = queue.Queue()
        self.seen: list[str] = []
        self._thread = threading.Thread(target=self._run, args=(stream,), daemon=True)
        self._thread.start()

    def _run(self, stream) -> None:
        try:
            for raw in iter(stream.readline, b"" if "b" in getattr(stream, "mode", "") else ""):
                line = raw.decode() if isinstance(raw, bytes) else raw
                self.seen.append(line)
                self.lines.put(line)
        except (OSError, ValueError):
            pass
        self.lines.put(None)

    def line(self, timeout: float = TIMEOUT) -> str:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"{self.name} printed no line within {timeout} s") from None
        if line is None:
            raise EOFError(f"{self.name} closed its output; it printed {''.join(self.seen)!r}")
        return line

    def json_line(self, timeout: float = TIMEOUT) -> dict:
        """The next line that parses as a JSON object (other lines are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.line(max(0.01, deadline - time.monotonic())).strip()
            if line.startswith("{"):
                return json.loads(line)


def start_process(cmd: list[str], env: dict | None = None, stderr_path: str | None = None,
                  name: str | None = None) -> tuple[subprocess.Popen, LineReader]:
    """Start ``cmd`` with stdout piped (read by a ``LineReader``) and stderr to ``stderr_path``."""
    err = open(stderr_path, "wb") if stderr_path else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(cmd, env=env if env is not None else clean_env(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=err)
    finally:
        if stderr_path:
            err.close()
    return proc, LineReader(proc.stdout, name or os.path.basename(cmd[0]))


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> bool:
    """Poll ``url`` until it answers 200; False if ``proc`` exits or ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return True
        except OSError:
            pass
        threading.Event().wait(0.3)
    return False


def wait_gone(pids, timeout: float = 10.0) -> list[int]:
    """Wait (bounded) for these pids to exit and be reaped; return those still alive."""
    procs = []
    for pid in pids:
        try:
            procs.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    return [p.pid for p in alive]


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
    """Send ``sig`` and wait for the exit code; SIGKILL (and return None) if it does not exit in time."""
    try:
        if proc.poll() is not None:
            return proc.returncode
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            return None
    finally:
        if proc.returncode is not None and proc.stdout:
            proc.stdout.close()


def kill_tree(proc: subprocess.Popen) -> None:
    """Last-resort cleanup: SIGKILL ``proc`` and every descendant still running, and reap ``proc``."""
    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    for p in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)
    psutil.wait_procs(family, timeout=5)
    if proc.stdout:
        proc.stdout.close()


PR_SET_CHILD_SUBREAPER = 36


@contextlib.contextmanager
def subreaper():
    """Make this process the reaper of orphaned descendants while the block runs.

    PID 1 of some containers never reaps orphans, which would leave a killed
    process tree as zombies forever; as subreaper this process inherits the
    orphans, and ``psutil.wait_procs`` reaps them like any child.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")
    try:
        yield
    finally:
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def start_scheduler(tmp_path, *args: str, env: dict | None = None, prefix: list[str] | None = None,
                    host: str = "127.0.0.1", log: str = "scheduler.log") -> tuple[subprocess.Popen, dict]:
    """``jupyter-futures scheduler --host HOST --port 0 ARGS``; returns (process, its ready JSON line).

    Its stderr goes to ``tmp_path / log``. ``prefix`` runs it under another command (``ip netns exec``).
    """
    cmd = [*(prefix or []), JF, "scheduler", "--host", host, "--port", "0", *args]
    proc, out = start_process(cmd, env=env, stderr_path=str(tmp_path / log), name="scheduler")
    try:
        info = out.json_line(TIMEOUT)
    except BaseException:
        kill_tree(proc)
        raise
    proc._lines = out
    return proc, info


@contextlib.contextmanager
def refused_address():
    """``tcp://127.0.0.1:PORT`` where nothing listens: a port the OS gave us, bound but not listening."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()
