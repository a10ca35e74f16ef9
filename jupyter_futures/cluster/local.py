"""LocalCluster: a scheduler process and worker processes on this machine."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import weakref

import psutil

from ..protocol import auth, messages
from .control import ClusterControl
from .logs import ClusterLogs
from ..protocol.address import format_address
from ..protocol.connect import connect, listening_socket
from ..protocol.durations import parse_duration
from ..protocol.security import Security
from ..protocol.eventloop import background_loop, in_loop_thread, sync
from ..protocol.lifeline import make_pair, watch
from ..worker.memory import memory_thresholds as memory_thresholds_of
from ..worker.nanny import Nanny, child_environment
from ..worker.store import parse_memory

logger = logging.getLogger("jupyter_futures.cluster")

_clusters: weakref.WeakSet = weakref.WeakSet()


def default_workers() -> tuple[int, int]:
    """(n_workers, threads_per_worker) for this machine: one single-threaded worker per core."""
    return max(1, os.cpu_count() or 1), 1


class LocalCluster(ClusterLogs):
    """A scheduler and ``n_workers`` worker processes, all stopped with the cluster.

    Every process is tied to this one by a lifeline: if this process dies, even
    by SIGKILL, they exit too.

    As dask's, the scheduler serves a dashboard, at ``dashboard_link``: ``dashboard_address`` is a port or
    ``":port"`` (the default ``":0"``: any free port; its link has a key of its own, so no fixed port is
    worth bookmarking), None for no dashboard.
    """

    def __init__(self, n_workers: int | None = None, threads_per_worker: int | None = None,
                 memory_limit: str | int | None = "auto", host: str = "127.0.0.1", scheduler_port: int = 0,
                 dashboard_address: str | int | None = ":0", asynchronous: bool = False,
                 processes: bool = True, token: str | None = None, resources: dict | None = None,
                 timeout: float = 60.0, name: str | None = None, made_by: str | None = None,
                 server_id: str | None = None, security=None, local_directory: str | None = None,
                 memory_thresholds: dict | None = None, **kwargs):
        if not processes:
            logger.info("processes=False is not supported: workers always run in their own processes")
        unknown = set(kwargs) - {"silence_logs", "worker_class", "worker_dashboard_address"}
        if unknown:
            raise TypeError(f"LocalCluster() got unexpected keyword arguments {sorted(unknown)}")
        default_n, default_t = default_workers()
        if n_workers is None and threads_per_worker is not None:
            n_workers = max(1, (os.cpu_count() or 1) // threads_per_worker)
        self.n_workers = default_n if n_workers is None else int(n_workers)
        self.threads_per_worker = default_t if threads_per_worker is None else int(threads_per_worker)
        if self.n_workers < 0 or self.threads_per_worker < 1:
            raise ValueError(f"n_workers={self.n_workers}, threads_per_worker={self.threads_per_worker}: "
                             f"n_workers must be >= 0 and threads_per_worker >= 1")
        self.memory_limit = self._memory_per_worker(memory_limit)
        self.host = host
        self.scheduler_port = scheduler_port
        self.dashboard_port = _port_of(dashboard_address)
        self.token = token or auth.new_token()
        # TLS for every connection of the cluster (True: temporary certificates, as dask's Security.temporary()).
        self.security = Security.coerce(security)
        self.resources = resources
        # Workers' spill folders go under it (default: $JUPYTER_FUTURES_LOCAL_DIRECTORY, else the temp
        # directory); shares of memory_limit for spill, pause, terminate (worker/memory.py).
        self.local_directory = local_directory
        self.memory_thresholds = memory_thresholds
        memory_thresholds_of(memory_thresholds)  # a bad one fails here, not in every worker process
        self.timeout = parse_duration(timeout)  # of workers joining: seconds or e.g. "2 minutes"
        self.asynchronous = asynchronous
        self.name = name
        self.made_by = made_by or _made_by()
        self.server_id = server_id
        self.id = ""  # the scheduler's id, also its registry record's
        self.control = ClusterControl(self)
        self.scheduler_address = ""
        self.dashboard_link = ""
        self.scheduler_proc: subprocess.Popen | None = None
        self.workers: list[Nanny] = []
        self.loop = asyncio.get_event_loop() if asynchronous else background_loop()
        self.status = "created"
        self._scheduler_lifeline = None
        self.scheduler_gone = asyncio.Event()  # set when the scheduler process ends (closed or died)
        _clusters.add(self)
        if not asynchronous:
            sync(self.loop, self._start)

    def _memory_per_worker(self, memory_limit) -> int:
        if memory_limit in (None, 0, "0"):
            return 0
        if memory_limit == "auto":
            return psutil.virtual_memory().total // max(self.n_workers, 1)
        return parse_memory(memory_limit)

    def __await__(self):
        async def _():
            if self.status == "created":
                await self._start()
            return self
        return _().__await__()

    async def _start(self) -> None:
        self.status = "starting"
        ready = await self._start_scheduler()
        # Workers start while the scheduler process boots: its socket already listens.
        await asyncio.gather(ready, self._scale_to(self.n_workers))
        await self.control.start()
        self.status = "running"

    async def _start_scheduler(self) -> asyncio.Future:
        """Start the scheduler process on a socket bound here; returns a future for its ready line."""
        sock = await listening_socket(self.host, self.scheduler_port)
        self.scheduler_address = format_address(self.host, sock.getsockname()[1],
                                                "tls" if self.security is not None else "tcp")
        auth.remember_token(self.scheduler_address, self.token)
        parent, child = make_pair()
        env = child_environment(self.token)
        options = {"workers": self.n_workers, "threads_per_worker": self.threads_per_worker,
                   "memory_limit": self.memory_limit}
        cmd = [sys.executable, "-m", "jupyter_futures.scheduler.process", "--host", self.host,
               "--listen-fd", str(sock.fileno()), "--lifeline-fd", str(child.fileno()),
               "--made-by", self.made_by, "--manager-pid", str(os.getpid()), "--options", json.dumps(options)]
        if self.name:
            cmd += ["--name", self.name]
        if self.server_id:
            cmd += ["--server-id", self.server_id]
        if self.dashboard_port is not None:
            cmd += ["--dashboard-port", str(self.dashboard_port)]
        if self.security is not None:
            cmd += self.security.cli_args("scheduler")
        # Own session: a notebook's stop button (SIGINT to the kernel's process group) must not stop the
        # cluster; the lifeline still ends it when this process ends.
        self.scheduler_proc = subprocess.Popen(cmd, pass_fds=(child.fileno(), sock.fileno()), env=env,
                                               start_new_session=True,
                                               stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        child.close()
        sock.close()
        self._scheduler_lifeline = parent
        loop = asyncio.get_running_loop()
        watch(loop, parent, self._scheduler_died)
        return asyncio.ensure_future(self._scheduler_ready(loop))

    async def _scheduler_ready(self, loop) -> None:
        line = await loop.run_in_executor(None, self.scheduler_proc.stdout.readline)
        if not line:
            code = self.scheduler_proc.wait()
            raise RuntimeError(f"the scheduler process exited at start (exit code {code}); see its log above")
        ready = json.loads(line)
        self.dashboard_link = ready.get("dashboard", "")
        self.id = ready["id"]

    def _scheduler_died(self) -> None:
        self.scheduler_gone.set()
        if self.status not in ("closing", "closed"):
            logger.error("the scheduler process of this cluster died")
            self.status = "failed"

    def _join_timeout_message(self, n: int) -> str:
        failed = sum(1 for w in self.workers if w.failed)
        if failed:
            return (f"{n} workers did not join within {self.timeout} s: {failed} worker processes exited at start "
                    f"(their errors are in the log above)")
        return (f"{n} workers did not join within {self.timeout} s: the machine may be overloaded; start the "
                f"cluster with a larger LocalCluster(timeout=...)")

    def _new_nanny(self) -> Nanny:
        return Nanny(self.scheduler_address, self.token, self.threads_per_worker, self.memory_limit,
                     resources=self.resources, security=self.security, local_directory=self.local_directory,
                     memory_thresholds=self.memory_thresholds)

    async def _scale_to(self, n: int, keep_pids: frozenset = frozenset()) -> None:
        """Run ``n`` workers; stopping some, those whose process is not in ``keep_pids`` go first."""
        if len(self.workers) > n:
            # pop() takes from the end: the idle ones go there (stable: the newest of them last).
            self.workers.sort(key=lambda nanny: nanny.pid not in keep_pids)
        while len(self.workers) > n:
            await self.workers.pop().close()
        new = [self._new_nanny() for _ in range(n - len(self.workers))]
        for nanny in new:
            await nanny.start()
        self.workers.extend(new)
        if n:
            comm = await connect(self.scheduler_address, self.token, security=self.security)
            comm.start(lambda c, msgs: [c.handle_rpc_message(m) for m in msgs])
            comm.queue(messages.register_client(f"cluster-{id(self):x}", {"monitor": True}))
            try:
                await asyncio.wait_for(comm.request("wait_for_workers", n), self.timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(self._join_timeout_message(n)) from None
            finally:
                comm.close()

    async def _scale_checked(self, n) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"scale({n!r}): give the number of workers to run, a whole number >= 0")
        await self._scale_to(n)

    def _on_loop(self, coro_fn, *args):
        if self.asynchronous and in_loop_thread(self.loop):
            return coro_fn(*args)
        return sync(self.loop, coro_fn, *args)  # also for the cluster a synchronous Client() made

    def scale(self, n: int):
        """Run ``n`` worker processes (and stop adapting)."""
        async def _scale():
            self.control.stop_adapting()
            await self._scale_checked(n)
        return self._on_loop(_scale)

    def adapt(self, minimum: int = 0, maximum: int | None = None):
        """Scale between ``minimum`` and ``maximum`` workers with the amount of unfinished work, as
        dask's ``cluster.adapt``: up at once, down after a few seconds with less to do."""
        async def _adapt():
            self.control.adapt(minimum, maximum if maximum is not None else max(minimum, default_workers()[0]))
        return self._on_loop(_adapt)

    async def _close(self) -> None:
        if self.status in ("closing", "closed"):
            return
        self.status = "closing"
        self.control.close()
        if self.scheduler_address:
            auth.forget_token(self.scheduler_address)
        await asyncio.gather(*(w.close() for w in self.workers), return_exceptions=True)
        self.workers = []
        proc = self.scheduler_proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            loop = asyncio.get_running_loop()
            try:
                await asyncio.wait_for(loop.run_in_executor(None, proc.wait), 5)
            except asyncio.TimeoutError:
                proc.kill()
        if proc is not None:
            if proc.stdout:
                proc.stdout.close()
            try:
                asyncio.get_running_loop().remove_reader(self._scheduler_lifeline.fileno())
            except Exception:
                pass
            self._scheduler_lifeline.close()
        self.status = "closed"

    def close(self):
        """Stop every worker and the scheduler."""
        if self.asynchronous:
            return self._close()
        if self.status not in ("closing", "closed") and self.loop.is_running():
            sync(self.loop, self._close)

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    async def __aenter__(self) -> LocalCluster:
        return await self

    async def __aexit__(self, *exc) -> None:
        await self._close()

    def __repr__(self) -> str:
        return (f"LocalCluster({self.scheduler_address!r}, workers={len(self.workers)}, "
                f"threads={len(self.workers) * self.threads_per_worker}, status={self.status})")


def _made_by() -> str:
    """"kernel" in a Jupyter kernel, else "script" (the sidebar shows who made each cluster)."""
    kernelapp = sys.modules.get("ipykernel.kernelapp")
    # Not IPKernelApp.initialized(): it is true once any Jupyter application (a ServerApp) exists here.
    in_kernel = kernelapp is not None and isinstance(getattr(kernelapp.IPKernelApp, "_instance", None),
                                                     kernelapp.IPKernelApp)
    return "kernel" if in_kernel else "script"


def _port_of(address) -> int | None:
    if address is None:
        return None
    if isinstance(address, int):
        return address
    return int(str(address).rsplit(":", 1)[-1])
