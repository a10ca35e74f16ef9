"""The nanny: starts a worker process, restarts it if it dies, kills it past its memory limit.

It tells a worker that cannot start (it dies before the scheduler accepted it: a bad environment, a
wrong address) from one that a task killed: only the first kind, ``MAX_START_FAILURES`` times in a
row, makes it give up; a worker killed by its work is always started again (the scheduler stops the
task with ``KilledWorker``). It tells the scheduler why each worker process ended (worker/exits.py),
and owns the worker's folder for spilled data: made before the process starts, removed once it ends,
however it ends.
"""
from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys

import psutil

from ..protocol import auth, messages
from ..protocol.connect import connect
from ..protocol.lifeline import CLEAN_EXIT, READY, RESTART, make_pair, ready_address, watch
from .exits import exit_reason, memory_kill_reason
from .folders import WorkerFolder, clean_stale, local_directory
from .memory import MALLOC_ENV
from .memory import memory_thresholds as memory_thresholds_of

logger = logging.getLogger("jupyter_futures.nanny")


def child_environment(token: str) -> dict:
    """Environment for cluster processes: the token, and this process's import path (so that
    functions from modules importable here can be unpickled there too)."""
    env = dict(os.environ)
    env[auth.TOKEN_ENV] = token
    paths = [p for p in sys.path if p and os.path.isdir(p)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env

MEMORY_CHECK_INTERVAL = 0.5
MAX_START_FAILURES = 5  # deaths in a row before the scheduler accepted the worker: give up
STDERR_TAIL = 4096  # bytes of a worker's error output kept, to name why it could not start


class Nanny:
    """One worker process, kept alive while the nanny runs."""

    def __init__(self, scheduler_address: str, token: str, nthreads: int = 1, memory_limit: int = 0,
                 name: str | None = None, host: str | None = None, resources: dict | None = None,
                 restart: bool = True, security=None, local_directory: str | None = None,
                 memory_thresholds: dict | None = None):
        self.scheduler_address = scheduler_address
        self.security = security  # a protocol.security.Security: its worker certificate goes on the command line
        self.token = token
        self.nthreads = nthreads
        self.memory_limit = memory_limit
        self.name = name
        self.host = host
        self.resources = resources
        self.restart = restart
        self.local_directory = local_directory
        self.thresholds = memory_thresholds_of(memory_thresholds)
        self._given_thresholds = memory_thresholds
        self.proc: subprocess.Popen | None = None
        self.restarts = 0
        self.exit_code: int | None = None
        self.exit_reasons: list[str] = []  # why each worker process ended, oldest first
        self.worker_address: str | None = None  # of the current process, once the scheduler accepted it
        self.folder: WorkerFolder | None = None
        self._closing = False
        self._clean_exit = False
        self._restart_asked = False
        self._exited: asyncio.Event | None = None
        self._start_failures = 0
        self._notes = b""
        self._killed_for: str | None = None
        self._last_rss = 0
        self._stderr_tail = b""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lifeline = None
        self._scheduler = None  # a connection to tell the scheduler why workers die (best effort)
        self.stopped = asyncio.Event()

    @property
    def pid(self) -> int | None:
        """The current worker process id."""
        return self.proc.pid if self.proc else None

    def _command(self, child_fd: int) -> list[str]:
        cmd = [sys.executable, "-m", "jupyter_futures.worker.process", self.scheduler_address,
               "--nthreads", str(self.nthreads), "--memory-limit", str(self.memory_limit),
               "--lifeline-fd", str(child_fd)]
        if self.name:
            cmd += ["--name", str(self.name)]
        if self.host:
            cmd += ["--host", self.host]
        if self.resources:
            import json

            cmd += ["--resources", json.dumps(self.resources)]
        if self.security is not None:
            cmd += self.security.cli_args("worker")
        if self._given_thresholds:
            import json

            cmd += ["--memory-thresholds", json.dumps(self.thresholds)]
        if self.folder is not None:
            cmd += ["--spill-dir", self.folder.path]
        return cmd

    async def start(self) -> Nanny:
        """Start the worker process (it registers with the scheduler by itself)."""
        self._loop = asyncio.get_running_loop()
        parent = local_directory(self.local_directory)
        await self._loop.run_in_executor(None, clean_stale, parent)  # may delete gigabytes: off the loop
        self._spawn()
        self._loop.create_task(self._connect_scheduler())
        if self.memory_limit:
            self._loop.call_later(MEMORY_CHECK_INTERVAL, self._check_memory)
        return self

    async def _connect_scheduler(self) -> None:
        try:
            comm = await connect(self.scheduler_address, self.token, security=self.security, role="worker")
        except Exception as exc:  # noqa: BLE001 - workers still run; the scheduler learns less of deaths
            logger.info("nanny could not connect to the scheduler at %s (%s): it will not hear why workers die",
                        self.scheduler_address, exc)
            return
        if self._closing or self.stopped.is_set():
            comm.close()
            return
        comm.start(lambda c, msgs: None)
        comm.queue(messages.register_nanny())
        if self.worker_address:
            comm.queue(messages.worker_watched(self.worker_address))
        self._scheduler = comm

    def _tell_scheduler(self, msg: tuple) -> None:
        comm = self._scheduler
        if comm is not None and not comm.closed:
            try:
                comm.queue(msg)
                comm.flush()
            except Exception:  # noqa: BLE001 - best effort: the scheduler may be gone
                pass

    def _spawn(self) -> None:
        self.folder = WorkerFolder(local_directory(self.local_directory))
        parent, child = make_pair()
        env = child_environment(self.token)
        for name, value in MALLOC_ENV.items():
            env.setdefault(name, value)
        self._clean_exit = False
        self._restart_asked = False
        self._notes = b""
        self._killed_for = None
        self._last_rss = 0
        self._stderr_tail = b""
        self.worker_address = None
        self._exited = asyncio.Event()
        try:
            self.proc = subprocess.Popen(self._command(child.fileno()), pass_fds=(child.fileno(),), env=env,
                                         start_new_session=True,  # not stopped by a Ctrl-C meant for the kernel
                                         stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except OSError:
            parent.close()
            self.folder.remove()
            raise
        finally:
            child.close()
        self._lifeline = parent
        os.set_blocking(self.proc.stderr.fileno(), False)
        self._loop.add_reader(self.proc.stderr.fileno(), self._read_stderr, self.proc)
        watch(self._loop, parent, self._on_exit, self._on_note)

    def _read_stderr(self, proc: subprocess.Popen) -> bool:
        """The worker's error output: passed on to this process's, the last of it kept; False when there
        is nothing more to read now."""
        try:
            data = os.read(proc.stderr.fileno(), 65536)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if not data:
            self._loop.remove_reader(proc.stderr.fileno())
            proc.stderr.close()
            return False
        try:
            os.write(2, data)  # fd 2, not sys.stderr: in a notebook kernel, not into the cell's output
        except OSError:
            pass
        if proc is self.proc:
            self._stderr_tail = (self._stderr_tail + data)[-STDERR_TAIL:]
        return True

    def _drain_stderr(self, proc: subprocess.Popen) -> None:
        while not proc.stderr.closed and self._read_stderr(proc):
            pass

    def _on_note(self, data: bytes) -> None:
        self._notes += data  # a note may come in pieces: read all received so far
        if self.worker_address is None:
            address = ready_address(self._notes)
            if address is not None:
                self.worker_address = address
                self._start_failures = 0
                self._notes = self._notes.replace(READY + address.encode() + b"\n", b"")
                self._tell_scheduler(messages.worker_watched(address))
        if CLEAN_EXIT in self._notes:
            self._clean_exit = True
        elif RESTART in self._notes:
            self._restart_asked = True

    def _on_exit(self) -> None:
        proc = self.proc
        try:
            code = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        self._lifeline.close()
        self._drain_stderr(proc)
        self.folder.remove()  # its spilled data: nobody can read it any more
        self.exit_code = code
        reason = self._exit_reason(code)
        self.exit_reasons.append(reason)
        if self.worker_address is not None:
            self._tell_scheduler(messages.worker_died(self.worker_address, reason))
        self._exited.set()
        if self._closing or not self.restart:
            self._stop()
            return
        if self._clean_exit:
            if code and self.worker_address is None:
                logger.error("worker process %s could not start and asked not to be restarted (exit code %s)%s",
                             proc.pid, code, self._last_error())
            self._stop()
            return
        if self._restart_asked:
            logger.info("worker process %s restarted on request", proc.pid)
            self._respawn()
            return
        if self.worker_address is None:
            self._start_failures += 1
            if self._start_failures >= MAX_START_FAILURES:
                logger.error("worker process could not start: it died %d times in a row before the scheduler at %s "
                             "accepted it (the last %s); not restarting it%s", self._start_failures,
                             self.scheduler_address, reason, self._last_error())
                self._stop()
                return
        logger.warning("worker process %s (%s) %s; restarting it", proc.pid, self.worker_address or "not started",
                       reason)
        self.restarts += 1
        self._respawn()

    def _exit_reason(self, code: int) -> str:
        if self._closing:
            return "was stopped by its nanny"
        if self._restart_asked:
            return "was restarted on request"
        if self._killed_for is not None:
            return self._killed_for
        if self._clean_exit and code == 0:
            return "stopped by itself"
        return exit_reason(code, self._last_rss, self.memory_limit, self.thresholds["pause"] or 0.8)

    def _last_error(self) -> str:
        text = self._stderr_tail.decode(errors="replace").strip()
        if not text:
            return ""
        return ": its last error output was:\n" + "\n".join(text.splitlines()[-8:])

    def _respawn(self) -> None:
        try:
            self._spawn()
        except OSError as exc:
            logger.error("could not start a new worker process: %s", exc)
            self._stop()

    def _stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.close()
        self.stopped.set()

    def _check_memory(self) -> None:
        if self._closing or self.stopped.is_set():
            return
        proc = self.proc
        try:
            rss = psutil.Process(proc.pid).memory_info().rss
        except psutil.Error:
            rss = 0
        self._last_rss = rss
        share = self.thresholds["terminate"]
        if share and rss > share * self.memory_limit and proc.poll() is None and self._killed_for is None:
            self._killed_for = memory_kill_reason(rss, share, self.memory_limit)
            logger.warning("worker process %s uses %d MB, over %d%% of its memory limit of %d MB: restarting it",
                           proc.pid, rss // 2**20, int(share * 100), self.memory_limit // 2**20)
            proc.kill()
        self._loop.call_later(MEMORY_CHECK_INTERVAL, self._check_memory)

    @property
    def failed(self) -> bool:
        """True when the worker stopped by itself with an error (e.g. it could not reach the scheduler)."""
        return self.stopped.is_set() and not self._closing and bool(self.exit_code)

    async def kill(self) -> None:
        """Kill the worker process now (it is restarted, as after a crash)."""
        if self.proc and self.proc.poll() is None:
            self._killed_for = "was killed by its nanny on request"
            self.proc.kill()

    async def close(self, timeout: float = 5.0) -> None:
        """Stop the worker process for good."""
        if self.stopped.is_set():  # it stopped by itself (and ``failed`` still says whether with an error)
            return
        self._closing = True
        proc = self.proc
        if proc is None or self._exited.is_set():
            self._stop()
            return
        proc.terminate()
        try:
            await asyncio.wait_for(self._exited.wait(), timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await self._exited.wait()
        self._stop()
