"""The server extension's cluster manager: lists every cluster of the registry with its live state,
starts clusters as processes of their own, and scales, adapts, restarts and stops them over the
scheduler protocol. Nothing here blocks the Jupyter server's event loop for long: every scheduler
call has a timeout, and no scheduler runs in this process."""
from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import psutil

from .. import __version__
from ..protocol import registry
from .links import SchedulerLink

logger = logging.getLogger("jupyter_futures.server")

START_TIMEOUT = 90.0
STOP_TIMEOUT = 15.0
INFO_TIMEOUT = 3.0
SCALE_TIMEOUT = 130.0  # the scheduler gives the cluster's manager 120 s to start workers


class ClusterError(Exception):
    """A request about a cluster that cannot be done; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class ClusterManager:
    """Every cluster on this machine, seen from one Jupyter server."""

    def __init__(self, log_dir: Path, on_feed: Callable[[str, str, Any], None] | None = None,
                 on_gone: Callable[[str], None] | None = None):
        self.server_id = f"server-{uuid.uuid4().hex[:8]}"
        self.log_dir = log_dir
        self.links: dict[str, SchedulerLink] = {}
        self.processes: dict[int, asyncio.subprocess.Process] = {}  # cluster processes started here, by pid
        self.on_feed = on_feed or (lambda cluster_id, topic, data: None)
        self.on_gone = on_gone or (lambda cluster_id: None)

    # -- reading ------------------------------------------------------------
    def record(self, cluster_id: str) -> dict:
        """The registry record of a running cluster, or a 404 ClusterError."""
        record = registry.get(cluster_id)
        if record is None:
            raise ClusterError(f"no running cluster {cluster_id!r}: it has stopped, or the id is wrong "
                               f"(GET clusters lists them)", 404)
        return record

    def link(self, record: dict) -> SchedulerLink:
        """The monitor connection to this cluster's scheduler (made on first use)."""
        link = self.links.get(record["id"])
        if link is None or link.record["address"] != record["address"]:
            link = self.links[record["id"]] = SchedulerLink(record, self.on_feed, self._link_gone)
        return link

    def _link_gone(self, cluster_id: str) -> None:
        link = self.links.pop(cluster_id, None)
        if link is not None and link.topics:
            self.on_gone(cluster_id)

    async def describe(self, record: dict, selected: str | None = None) -> dict:
        """A cluster as the REST API shows it: the record plus the scheduler's live numbers
        (``selected``: the selected cluster's id, when the caller read it already)."""
        out = {
            "id": record["id"], "name": record.get("name") or record["id"], "address": record["address"],
            "dashboard": record.get("dashboard", ""), "made_by": record.get("made_by", "unknown"),
            "started": record.get("started"), "pid": record.get("pid"), "version": record.get("version"),
            "managed": record.get("server_id") == self.server_id, "selected": (selected or registry.selected_id()) == record["id"],
            "status": "running", "scalable": False, "adapt": None, "workers": 0, "threads": 0, "memory": 0,
            "memory_limit": 0, "tasks": {}, "worker_list": [],
        }
        try:
            link = self.link(record)
            info = await link.request("cluster_info", timeout=INFO_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - a stuck or gone scheduler is shown, not raised
            out["status"] = "unreachable"
            out["problem"] = str(exc)
            return out
        out.update(info)
        return out

    async def list(self) -> list[dict]:
        """Every running cluster, described (schedulers asked at the same time)."""
        records = registry.list_records()
        for gone in set(self.links) - {r["id"] for r in records}:
            link = self.links.pop(gone, None)
            if link is not None:
                link.close()
                if link.topics:
                    self.on_gone(gone)
        selected = registry.selected_id()
        return list(await asyncio.gather(*(self.describe(r, selected) for r in records)))

    async def get(self, cluster_id: str) -> dict:
        """One cluster, described."""
        return await self.describe(self.record(cluster_id))

    def status(self) -> dict:
        """The extension's version and what may be wrong, for the sidebar's banner."""
        records = registry.list_records()
        problems = [f"cluster {r.get('name') or r['id']} runs jupyter_futures {r.get('version')}, this server "
                    f"{__version__}: restart it to use the same version" for r in records
                    if r.get("version") != __version__]
        return {"extension": "jupyter_futures", "version": __version__, "clusters": len(records),
                "problems": problems, "schedulers": {r["id"]: r.get("version") for r in records},
                "registry": str(registry.registry_dir())}

    # -- changing -----------------------------------------------------------
    async def create(self, options: dict) -> dict:
        """Start a cluster process with these (checked) options; answers when its workers are up."""
        name = options.get("name") or f"cluster {len(registry.list_records()) + 1}"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"cluster-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}.log"
        read_fd, write_fd = os.pipe()
        cmd = [sys.executable, "-m", "jupyter_futures.cluster.process", "--name", name,
               "--workers", str(options["workers"]), "--threads-per-worker", str(options["threads_per_worker"]),
               "--memory-limit", str(options["memory_limit"]), "--dashboard-port", "0",
               "--server-id", self.server_id, "--ready-fd", str(write_fd), "--log-level", "INFO"]
        # The workers' variables (often credentials) through the environment: argv is visible to all users.
        env = {**os.environ, **(options.get("env") or {})}
        with open(log_path, "wb") as log:
            # Its own session: the Jupyter server's Ctrl-C does not reach it; its exit is ours to decide.
            proc = await asyncio.create_subprocess_exec(*cmd, stdin=asyncio.subprocess.DEVNULL, stdout=log,
                                                        stderr=log, pass_fds=(write_fd,), start_new_session=True,
                                                        env=env)
        os.close(write_fd)
        self.processes[proc.pid] = proc  # from now on: the server's exit stops it, even while it starts
        try:
            line = await asyncio.wait_for(_read_all(read_fd), START_TIMEOUT)
        except asyncio.TimeoutError:
            proc.kill()
            self.processes.pop(proc.pid, None)
            raise ClusterError(f"the cluster did not start within {START_TIMEOUT:g} s; its log is {log_path}", 500)
        if not line.strip():
            await proc.wait()
            self.processes.pop(proc.pid, None)
            raise ClusterError(f"the cluster could not start: {_last_line(log_path)} (log: {log_path})", 500)
        ready = json.loads(line)
        logger.info("started cluster %s (%s) at %s, log %s", name, ready["id"], ready["address"], log_path)
        return await self.get(ready["id"])

    async def scale(self, cluster_id: str, n: Any) -> dict:
        """Run ``n`` workers (and stop adapting)."""
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 256:
            raise ClusterError(f"workers={n!r}: give a whole number of workers from 0 to 256")
        await self.ask(cluster_id, "scale", n, timeout=SCALE_TIMEOUT)
        return await self.get(cluster_id)

    async def adapt(self, cluster_id: str, bounds: Any) -> dict:
        """Adapt between bounds ``{"minimum", "maximum"}``; None stops adapting."""
        if bounds is None:
            await self.ask(cluster_id, "adapt", None, None)
        else:
            if not isinstance(bounds, dict) or set(bounds) - {"minimum", "maximum"}:
                raise ClusterError('adapt: give {"minimum": a, "maximum": b} (whole numbers), or null to stop')
            low, high = bounds.get("minimum", 0), bounds.get("maximum")
            for label, v in (("minimum", low), ("maximum", high)):
                if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 256:
                    raise ClusterError(f"adapt: {label}={v!r}: give a whole number of workers from 0 to 256")
            if low > high:
                raise ClusterError(f"adapt: minimum {low} is above maximum {high}")
            await self.ask(cluster_id, "adapt", low, high, timeout=SCALE_TIMEOUT)
        return await self.get(cluster_id)

    async def restart(self, cluster_id: str) -> dict:
        """Restart every worker process (every future of every client is cancelled, as Client.restart)."""
        await self.ask(cluster_id, "restart", 60.0, True, timeout=90.0)
        return await self.get(cluster_id)

    async def stop(self, cluster_id: str) -> None:
        """Stop a cluster: its cluster process if the extension started it, else its scheduler."""
        record = self.record(cluster_id)
        manager_pid = record.get("manager_pid")
        if record.get("made_by") == "jupyter-server" and manager_pid and _is_cluster_process(manager_pid):
            os.kill(manager_pid, signal.SIGTERM)
        else:
            await self.ask(cluster_id, "shutdown")
        await self._until_gone(record)

    async def _until_gone(self, record: dict) -> None:
        deadline = time.monotonic() + STOP_TIMEOUT
        proc = self.processes.pop(record.get("manager_pid"), None)
        if proc is not None:
            try:
                await asyncio.wait_for(proc.wait(), STOP_TIMEOUT)
            except asyncio.TimeoutError:
                proc.kill()
        while registry.get(record["id"]) is not None:
            if time.monotonic() > deadline:
                raise ClusterError(f"cluster {record['id']} did not stop within {STOP_TIMEOUT:g} s "
                                   f"(scheduler pid {record['pid']})", 500)
            await asyncio.sleep(0.1)
        link = self.links.pop(record["id"], None)
        if link is not None:
            link.close()

    async def ask(self, cluster_id: str, op: str, *args: Any, timeout: float = 60.0) -> Any:
        """A scheduler RPC; its failures become ClusterErrors (502 unreachable, 409 refused)."""
        link = self.link(self.record(cluster_id))
        try:
            return await link.request(op, *args, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cluster {cluster_id}: {exc}", 502) from None
        except Exception as exc:  # noqa: BLE001 - the scheduler's own error, e.g. "started by hand"
            raise ClusterError(f"cluster {cluster_id}: {exc}", 409) from None

    def select(self, cluster_id: str | None) -> str | None:
        """Make ``Client()`` in new kernels join this cluster (None: start their own)."""
        if cluster_id is not None:
            self.record(cluster_id)
        registry.select(cluster_id)
        return cluster_id

    def made_here(self) -> list[dict]:
        """Records of the running clusters this server started."""
        return [r for r in registry.list_records() if r.get("server_id") == self.server_id]

    async def close(self, stop_clusters: bool) -> None:
        """Disconnect from every scheduler; stop the clusters this server started if ``stop_clusters``."""
        if stop_clusters:
            records = self.made_here()
            for record in records:
                if _is_cluster_process(record.get("manager_pid")):
                    os.kill(record["manager_pid"], signal.SIGTERM)
            starting = [p for pid, p in self.processes.items()
                        if p.returncode is None and pid not in {r.get("manager_pid") for r in records}]
            for proc in starting:  # still starting: no record yet
                proc.terminate()
            await asyncio.gather(*(self._until_gone(r) for r in records),
                                 *(asyncio.wait_for(p.wait(), STOP_TIMEOUT) for p in starting), return_exceptions=True)
        links, self.links = list(self.links.values()), {}
        for link in links:
            link.close()


async def _read_all(fd: int) -> str:
    """Everything written to pipe ``fd`` until its writer closes it."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb"))
    try:
        return (await reader.read()).decode()
    finally:
        transport.close()


def _last_line(path: Path) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "it exited without saying why"


def _is_cluster_process(pid: Any) -> bool:
    """True if ``pid`` is a jupyter_futures cluster process (never signal a recycled pid)."""
    try:
        return "jupyter_futures.cluster.process" in " ".join(psutil.Process(int(pid)).cmdline())
    except (psutil.Error, TypeError, ValueError):
        return False
