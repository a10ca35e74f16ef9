"""Jupyter kernels inside workers: ``open_worker_kernel``, ``interrupt_worker_kernel``, ``close_worker_kernel``.

Each goes through the scheduler's ``broadcast`` RPC to the one worker (as the Jupyter server
extension does, which talks only to schedulers). The worker writes the kernel's connection file;
JupyterLab (through jupyter_server's external kernels) or ``jupyter console --existing FILE``
attaches to it. Nothing here imports Jupyter; the worker needs ipykernel.
"""
from __future__ import annotations

import os
from typing import Any, Callable

KERNEL_DIR_ENV = "JUPYTER_FUTURES_KERNEL_DIR"


def default_kernel_dir() -> str:
    """Where connection files go by default: ``$JUPYTER_FUTURES_KERNEL_DIR``, else
    ``{jupyter runtime dir}/jupyter_futures/kernels``."""
    if os.environ.get(KERNEL_DIR_ENV):
        return os.environ[KERNEL_DIR_ENV]
    from ..protocol.registry import runtime_dir

    return str(runtime_dir() / "jupyter_futures" / "kernels")


class WorkerKernels:
    """The part of ``Client`` that opens Jupyter kernels in worker processes."""

    # What this part uses of the rest of the Client (``_ask_worker`` uses its scheduler_comm):
    scheduler_comm: Any
    sync: Callable[..., Any]

    def open_worker_kernel(self, worker: str, connection_dir: str | None = None) -> str:
        """Start a Jupyter kernel inside ``worker`` (its address or name) and return its connection file.

        The kernel runs on a thread of its own in the worker process; its namespace has ``worker``,
        ``data`` (the worker's data by key), ``running_tasks()`` and ``get_client()``. Attach with
        ``jupyter console --existing FILE``. Opening it again returns the same file. ``connection_dir``:
        see ``default_kernel_dir``. The worker needs ipykernel (``pip install ipykernel``).
        """
        folder = os.path.abspath(os.path.expanduser(connection_dir or default_kernel_dir()))
        return self.sync(_ask_worker, self, worker, "open_kernel", (folder,))

    def interrupt_worker_kernel(self, worker: str) -> bool:
        """Interrupt the cell ``worker``'s kernel runs (KeyboardInterrupt); False if it runs none."""
        return self.sync(_ask_worker, self, worker, "interrupt_kernel", ())

    def close_worker_kernel(self, worker: str) -> bool:
        """Stop ``worker``'s kernel and remove its connection file; False if none was open."""
        return self.sync(_ask_worker, self, worker, "close_kernel", ())


async def _ask_worker(client: Any, worker: str, op: str, args: tuple) -> Any:
    """``op(*args)`` on one worker, through the scheduler; the worker's error is raised here."""
    address = await _worker_address(client, worker)
    replies = await client.scheduler_comm.request("broadcast", op, args, [address])
    reply = replies[address]
    if isinstance(reply, BaseException):
        raise reply
    return reply


async def _worker_address(client: Any, worker: str) -> str:
    """The address of the worker called ``worker`` (an address or a name)."""
    workers = (await client.scheduler_comm.request("identity"))["workers"]
    if worker in workers:
        return worker
    for scheme in ("tcp", "tls"):
        if isinstance(worker, str) and f"{scheme}://{worker}" in workers:
            return f"{scheme}://{worker}"
    named = [address for address, info in workers.items() if str(info.get("name")) == str(worker)]
    if len(named) == 1:
        return named[0]
    known = ", ".join(f"{info.get('name')} ({address})" if str(info.get("name")) != address else address
                      for address, info in workers.items()) or "none"
    if named:
        raise ValueError(f"{len(named)} workers are named {worker!r}: give one's address ({', '.join(named)})")
    raise ValueError(f"no worker {worker!r} in this cluster: give a worker's address or name; workers: {known}")
