"""The nanny: starts a worker process, restarts it if it dies, kills it past its memory limit."""
from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time

import psutil

from ..protocol import auth

from ..protocol.lifeline import CLEAN_EXIT, RESTART, make_pair, watch

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
TERMINATE_FRACTION = 0.95
MAX_QUICK_DEATHS = 5
QUICK_DEATH_SECONDS = 2.0


class Nanny:
    """One worker process, kept alive while the nanny runs."""

    def __init__(self, scheduler_address: str, token: str, nthreads: int = 1, memory_limit: int = 0,
                 name: str | None = None, host: str | None = None, resources: dict | None = None,
                 restart: bool = True):
        self.scheduler_address = scheduler_address
        self.token = token
        self.nthreads = nthreads
        self.memory_limit = memory_limit
        self.name = name
        self.host = host
        self.resources = resources
        self.restart = restart
        self.proc: subprocess.Popen | None = None
        self.restarts = 0
        self.exit_code: int | None = None
        self._closing = False
        self._clean_exit = False
        self._restart_asked = False
        self._exited: asyncio.Event | None = None
        self._quick_deaths = 0
        self._started_at = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lifeline = None
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
        return cmd

    async def start(self) -> Nanny:
        """Start the worker process (it registers with the scheduler by itself)."""
        self._loop = asyncio.get_running_loop()
        self._spawn()
        if self.memory_limit:
            self._loop.call_later(MEMORY_CHECK_INTERVAL, self._check_memory)
        return self

    def _spawn(self) -> None:
        parent, child = make_pair()
        env = child_environment(self.token)
        self._clean_exit = False
        self._restart_asked = False
        self._exited = asyncio.Event()
        self.proc = subprocess.Popen(self._command(child.fileno()), pass_fds=(child.fileno(),), env=env,
                                     start_new_session=True,  # not stopped by a Ctrl-C meant for the kernel
                                     stdin=subprocess.DEVNULL)
        child.close()
        self._lifeline = parent
        self._started_at = time.monotonic()
        watch(self._loop, parent, self._on_exit, self._on_note)

    def _on_note(self, data: bytes) -> None:
        if CLEAN_EXIT in data:
            self._clean_exit = True
        elif RESTART in data:
            self._restart_asked = True

    def _on_exit(self) -> None:
        proc = self.proc
        try:
            code = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        self._lifeline.close()
        self.exit_code = code
        self._exited.set()
        if self._closing or self._clean_exit or not self.restart:
            self.stopped.set()
            return
        if self._restart_asked:
            logger.info("worker process %s restarted on request", proc.pid)
            self._spawn()
            return
        quick = time.monotonic() - self._started_at < QUICK_DEATH_SECONDS
        self._quick_deaths = self._quick_deaths + 1 if quick else 0
        if self._quick_deaths >= MAX_QUICK_DEATHS:
            logger.error("worker process died %d times right after starting (exit code %s); not restarting it "
                         "(its error is in the log above)", self._quick_deaths, code)
            self.stopped.set()
            return
        logger.warning("worker process %s died (exit code %s); restarting it", proc.pid, code)
        self.restarts += 1
        self._spawn()

    def _check_memory(self) -> None:
        if self._closing or self.stopped.is_set():
            return
        try:
            rss = psutil.Process(self.proc.pid).memory_info().rss
        except psutil.Error:
            rss = 0
        if rss > TERMINATE_FRACTION * self.memory_limit and self.proc.poll() is None:
            logger.warning("worker process %s uses %d bytes, over %d%% of its memory limit %d: restarting it",
                           self.proc.pid, rss, int(TERMINATE_FRACTION * 100), self.memory_limit)
            self.proc.kill()
        self._loop.call_later(MEMORY_CHECK_INTERVAL, self._check_memory)

    @property
    def failed(self) -> bool:
        """True when the worker stopped by itself with an error (e.g. it could not reach the scheduler)."""
        return self.stopped.is_set() and not self._closing and bool(self.exit_code)

    async def kill(self) -> None:
        """Kill the worker process now (it is restarted, as after a crash)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()

    async def close(self, timeout: float = 5.0) -> None:
        """Stop the worker process for good."""
        self._closing = True
        proc = self.proc
        if proc is None or self._exited.is_set():
            self.stopped.set()
            return
        proc.terminate()
        try:
            await asyncio.wait_for(self._exited.wait(), timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await self._exited.wait()
        self.stopped.set()
