"""Worker kernels, seen from the Jupyter server: their connection files go to a folder of the
extension's own, which the server's kernel manager scans for external kernels, so they show in
JupyterLab's Running panel and a console can attach. Interrupt and stop come here, since the server
cannot act on a kernel it did not start."""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import psutil

from .manager import ClusterError, ClusterManager

logger = logging.getLogger("jupyter_futures.server")

FILE_PID = re.compile(r"jupyter-futures-worker-(\d+)-")


class WorkerKernels:
    """Opens, interrupts and stops worker kernels through the cluster's scheduler."""

    def __init__(self, manager: ClusterManager, connection_dir: Path, kernel_manager: Any):
        self.manager = manager
        self.connection_dir = connection_dir
        self.kernel_manager = kernel_manager
        connection_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    async def _ask_worker(self, cluster_id: str, worker: str, op: str, *args: Any) -> Any:
        link = self.manager.link(self.manager.record(cluster_id))
        try:
            replies = await link.request("broadcast", op, args, [worker])
        except Exception as exc:  # noqa: BLE001 - e.g. "no such workers"
            raise ClusterError(f"cluster {cluster_id}: {exc}", 404 if "no such worker" in str(exc) else 502) from None
        reply = replies[worker]
        if isinstance(reply, BaseException):
            raise ClusterError(f"worker {worker}: {reply}", 500)
        return reply

    async def open(self, cluster_id: str, worker: str) -> dict:
        """Start the worker's kernel (or find the running one); its connection file and server kernel id."""
        self.clean()
        path = await self._ask_worker(cluster_id, worker, "open_kernel", str(self.connection_dir))
        return {"connection_file": path, "kernel_id": self.kernel_id(path)}

    async def interrupt(self, cluster_id: str, worker: str) -> None:
        """Interrupt the code the worker's kernel runs."""
        await self._ask_worker(cluster_id, worker, "interrupt_kernel")

    async def close(self, cluster_id: str, worker: str) -> None:
        """Stop the worker's kernel and remove its file (the worker goes on)."""
        await self._ask_worker(cluster_id, worker, "close_kernel")
        self.kernel_ids()  # the kernel manager forgets kernels whose file went

    def kernel_ids(self) -> dict[str, str]:
        """{connection file: the server's kernel id} for the files of our folder (rescanned now)."""
        km = self.kernel_manager
        if km is None or getattr(km, "external_connection_dir", None) is None:
            return {}
        km.list_kernel_ids()
        return {str(path): kid for kid, path in getattr(km, "kernel_id_to_connection_file", {}).items()}

    def kernel_id(self, path: str) -> str | None:
        """The server's id of the kernel whose connection file is ``path``, once the server has seen it."""
        return self.kernel_ids().get(str(Path(path)))

    def clean(self) -> None:
        """Remove connection files of worker processes that are gone (a killed worker leaves its file)."""
        for path in self.connection_dir.glob("jupyter-futures-worker-*.json"):
            match = FILE_PID.match(path.name)
            if match and not psutil.pid_exists(int(match.group(1))):
                logger.info("removing %s: its worker process is gone", path)
                path.unlink(missing_ok=True)
