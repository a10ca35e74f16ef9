"""The scheduler's cluster operations on request, in one place for the shell (server.py): uploads
(``uploads.py``), data moves (``data_moves.py``), worker restarts (``restarts.py``) and logs (``logs.py``)."""
from __future__ import annotations

import functools
from typing import Any

from ..protocol.comm import Comm
from . import logs
from .uploads import Uploads


class ClusterOperations:
    """Owns the uploads and the data moves of one scheduler; ``rpc_handlers()`` are its requests."""

    def __init__(self, scheduler: Any):
        self.scheduler = scheduler
        self.uploads = Uploads(scheduler)

    @functools.cached_property
    def moves(self) -> Any:
        """The data moves (replicate, rebalance, retire_workers), made on first use: every scheduler
        start would otherwise compile their modules."""
        from .data_moves import DataMoves

        return DataMoves(self.scheduler)

    def worker_joined(self, comm: Comm) -> None:
        """A worker registers: before anything else reaches it, the uploaded files."""
        self.uploads.greet(comm)

    def rpc_handlers(self) -> dict:
        """Request name -> handler(comm, ...)."""
        s = self.scheduler
        return {
            "upload_file": lambda comm, filename, data, load=True: self.uploads.upload(filename, data, load),
            "replicate": lambda comm, keys, n=None, workers=None, branching_factor=2: self.moves.replicate(
                keys, n, workers, branching_factor),
            "rebalance": lambda comm, keys=None, workers=None: self.moves.rebalance(keys, workers),
            "retire_workers": lambda comm, workers=None, close_workers=True, remove=True: self.moves.retire_workers(
                workers, close_workers, remove),
            "restart_workers": lambda comm, workers, timeout, raise_for_error=True: _restart_workers(
                s, workers, timeout, raise_for_error),
            "scheduler_logs": lambda comm, n=None: logs.scheduler_logs(n),
            "worker_logs": lambda comm, n=None, workers=None, nanny=False: logs.worker_logs(s, n, workers, nanny),
        }


def _restart_workers(scheduler: Any, workers: list, timeout: float, raise_for_error: bool) -> Any:
    from .restarts import restart_workers  # on first use, as the data moves

    return restart_workers(scheduler, workers, timeout, raise_for_error)
