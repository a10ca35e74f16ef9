"""A worker's Jupyter kernel, opened on request (RPCs ``open_kernel``, ``interrupt_kernel``, ``close_kernel``).

The kernel itself (``kernel.py``, which imports ipykernel) is loaded only when one is opened.
Its namespace: ``worker``, ``data`` (the worker's ``DataStore``), ``running_tasks()`` and
``get_client()``. Its connection file is ``jupyter-futures-worker-<pid>-<port>.json`` in the folder
the caller names; closing the worker removes it; a worker killed hard leaves it behind (the
Jupyter server extension removes files whose ``jupyter_futures.pid`` is gone).
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any

logger = logging.getLogger("jupyter_futures.worker")

NO_IPYKERNEL = ("worker {address} cannot open a Jupyter kernel: ipykernel is not installed in its Python "
                "environment ({error}). Install it where the worker runs: pip install ipykernel")
OLD_IPYKERNEL = ("worker {address} cannot open a Jupyter kernel: it needs ipykernel 7 or newer ({error}). "
                 "Upgrade it where the worker runs: pip install -U ipykernel")


class KernelHost:
    """At most one ``WorkerKernel`` for ``worker``; the RPCs that open, interrupt and close it."""

    def __init__(self, worker: Any):
        self.worker = worker
        self.kernel: Any = None
        self._lock: asyncio.Lock | None = None

    def rpc_handlers(self) -> dict:
        """The worker's RPCs for its kernel."""
        return {
            "open_kernel": self.open,
            "interrupt_kernel": self.interrupt,
            "close_kernel": lambda comm: self.close(),
        }

    async def open(self, comm: Any = None, connection_dir: str | None = None, path: str | None = None,
                   ip: str | None = None) -> str:
        """Start the kernel (once: while it runs, its file's path again) and return its connection file's path."""
        async with self._guard():
            if self.kernel is not None and self.kernel.alive:
                return self.kernel.path
            stopped = self.worker._stopped
            if stopped is not None and stopped.is_set():
                raise RuntimeError(f"worker {self.worker.address} is closing: it opens no kernel")
            if path is None:
                if not connection_dir:
                    raise ValueError("open_kernel needs a connection_dir (or a path) for the connection file")
                port = self.worker.listener.port
                path = os.path.join(os.path.expanduser(connection_dir),
                                    f"jupyter-futures-worker-{os.getpid()}-{port}.json")
            try:
                from .kernel import WorkerKernel
            except ImportError as exc:
                message = OLD_IPYKERNEL if _has_ipykernel() else NO_IPYKERNEL
                raise ImportError(message.format(address=self.worker.address, error=exc)) from None
            worker = self.worker
            kernel = WorkerKernel(path, self.namespace(), worker.interrupter, ip=ip or "127.0.0.1",
                                  banner=_banner(worker), file_info={"jupyter_futures": {
                                      "worker": worker.address, "name": str(worker.name), "pid": os.getpid(),
                                      "scheduler": worker.scheduler_address}})
            await worker.loop.run_in_executor(None, kernel.start)  # importing IPython takes a while: off the loop
            self.kernel = kernel
            logger.info("worker %s opened a Jupyter kernel: %s", worker.address, path)
            return path

    def interrupt(self, comm: Any = None) -> bool:
        """Interrupt the cell the kernel runs; False if no kernel is open or no cell runs."""
        kernel = self.kernel
        return kernel is not None and kernel.alive and kernel.interrupt()

    async def close(self) -> bool:
        """Stop the kernel and remove its file; False if none was open."""
        async with self._guard():
            kernel, self.kernel = self.kernel, None
            if kernel is None:
                return False
            was_open = kernel.alive  # else it stopped by itself (a client's shutdown, `exit` in a cell)
            await self.worker.loop.run_in_executor(None, kernel.stop)
            return was_open

    def _guard(self) -> asyncio.Lock:
        if self._lock is None:  # made on the worker's loop, where every RPC runs
            self._lock = asyncio.Lock()
        return self._lock

    def namespace(self) -> dict:
        """What a kernel cell sees besides builtins."""
        worker = self.worker

        def running_tasks() -> dict:
            """{key: thread name} of the tasks this worker is running now."""
            names = {t.ident: t.name for t in threading.enumerate()}
            return {task.key: names.get(ident, str(ident)) for ident, task in list(worker.executor.executing.items())}

        def get_client() -> Any:
            """This worker's client (made on first use), as ``get_client()`` gives tasks."""
            if not worker.has_client():
                # Not made here: the kernel's cells run on an event loop (the kernel's), where the worker
                # refuses to make it; the worker's loop makes it in a thread, as for actors.
                asyncio.run_coroutine_threadsafe(worker.ensure_client(), worker.loop).result()
            return worker.get_client()

        return {"worker": worker, "data": worker.data, "running_tasks": running_tasks, "get_client": get_client}


def _has_ipykernel() -> bool:
    try:
        import ipykernel  # noqa: F401
    except ImportError:
        return False
    return True


def _banner(worker: Any) -> str:
    return (f"jupyter_futures worker {worker.name} ({worker.address}), process {os.getpid()}.\n"
            f"  worker           the Worker\n"
            f"  data             its data: data[key] -> value (spilled values are read back)\n"
            f"  running_tasks()  {{key: thread}} of the tasks running now\n"
            f"  get_client()     the worker's client\n")
