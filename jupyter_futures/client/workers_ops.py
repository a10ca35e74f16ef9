"""Operations on the cluster's workers and their data, as dask's: ``upload_file``, ``replicate``,
``rebalance``, ``retire_workers``, ``restart_workers``, ``get_worker_logs``, ``get_scheduler_logs``.
The scheduler does the work (scheduler/operations.py); this side checks the arguments and waits."""
from __future__ import annotations

import os
from typing import Any, Callable

from ..protocol.comm import Comm
from ..protocol.durations import parse_duration
from .structure import find_futures
from .table import FutureTable

UPLOAD_KINDS = (".py", ".egg", ".zip", ".pyz")


def _worker_list(method: str, workers: Any) -> list | None:
    """``workers`` as a list of addresses or names (one string is one worker), or None."""
    if workers is None:
        return None
    if isinstance(workers, str):
        return [workers]
    try:
        return list(workers)
    except TypeError:
        raise TypeError(f"{method}(workers={workers!r}): give a list of worker addresses or names") from None


def _no_options(method: str, kwargs: dict) -> None:
    if kwargs:
        raise TypeError(f"{method}() got unexpected arguments {sorted(kwargs)}: see help(Client.{method}) for the "
                        f"ones it takes")


class WorkerOperations:
    """Mixin of ``Client``: moving data between workers, retiring and restarting workers, uploads, logs."""

    # What this part uses of the rest of the Client:
    timeout: float
    futures: FutureTable
    scheduler_comm: Comm | None
    request: Callable[..., Any]
    sync: Callable[..., Any]
    _request_async: Callable[..., Any]

    def upload_file(self, filename: str, load: bool = True) -> Any:
        """Send a local ``.py``, ``.egg`` or ``.zip`` file to every worker (and to workers that join later),
        into a folder on their ``sys.path``; ``load``: import it there now (an import error is raised here).
        Returns {worker address: {"status": "OK"}}."""
        if not isinstance(filename, (str, os.PathLike)) or not str(filename).endswith(UPLOAD_KINDS):
            raise ValueError(f"upload_file({filename!r}): give the path of a .py, .egg or .zip file")
        with open(filename, "rb") as f:
            data = f.read()
        return self.request("upload_file", os.path.basename(str(filename)), data, bool(load))

    def _after_waiting(self, found: list, op: str, *args: Any) -> Any:
        """Wait until the futures ``found`` are done, then ask the scheduler ``op(*args)``."""
        async def _run():
            await self.futures.wait_async([f.state for f in found])
            return await self._request_async(op, args, None)
        return self.sync(_run)

    def replicate(self, futures: Any, n: int | None = None, workers: Any = None, branching_factor: int = 2,
                  **kwargs: Any) -> Any:
        """Copy the data of ``futures`` (once done) so ``n`` workers (default: all, or all of ``workers``, a list
        of addresses or names) hold each, each holder giving ``branching_factor`` copies per round; extra copies
        among them are dropped, as dask's."""
        _no_options("replicate", kwargs)
        if isinstance(branching_factor, bool) or not isinstance(branching_factor, int) or branching_factor < 1:
            raise ValueError(f"replicate(branching_factor={branching_factor!r}): give a whole number >= 1")
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ValueError(f"replicate(n={n!r}): give how many workers should hold each value, a whole "
                             f"number >= 1 (or None for every worker)")
        found = find_futures(futures)
        keys = list(dict.fromkeys(f.key for f in found))
        return self._after_waiting(found, "replicate", keys, n, _worker_list("replicate", workers), branching_factor)

    def rebalance(self, futures: Any = None, workers: Any = None, **kwargs: Any) -> Any:
        """Move data (of ``futures``, default all) from the workers (of ``workers``, default all) holding more
        than the mean to those holding less, as dask's. KeyError names futures whose data is held nowhere."""
        _no_options("rebalance", kwargs)
        found = [] if futures is None else find_futures(futures)
        keys = None if futures is None else list(dict.fromkeys(f.key for f in found))
        return self._after_waiting(found, "rebalance", keys, _worker_list("rebalance", workers))

    def retire_workers(self, workers: Any = None, close_workers: bool = True, remove: bool = True,
                       **kwargs: Any) -> Any:
        """Retire ``workers`` (addresses or names; default: dask's choice of idle workers): what only they hold
        is copied to the other workers first, then they are removed (``remove``) and closed for good
        (``close_workers``; their nannies do not restart them). Returns {address: description} of each worker
        retired; one whose data could not be moved (no other worker) is not retired."""
        _no_options("retire_workers", kwargs)
        return self.request("retire_workers", _worker_list("retire_workers", workers), bool(close_workers),
                            bool(remove))

    def restart_workers(self, workers: list, timeout: float | str | None = None,
                        raise_for_error: bool = True) -> Any:
        """Restart these workers (addresses or names) through their nannies and wait (``timeout``: seconds or
        e.g. "1 minute"; default four times the client's timeout) until they are back. Returns
        {each of ``workers``: "OK" | "timed out"}; TimeoutError instead when ``raise_for_error``."""
        if workers is None or isinstance(workers, str):
            raise TypeError(f"restart_workers(workers={workers!r}): give a list of worker addresses or names")
        timeout = self.timeout * 4 if timeout is None else parse_duration(timeout)
        return self.request("restart_workers", list(workers), timeout, bool(raise_for_error))

    def get_worker_logs(self, n: int | None = None, workers: Any = None, nanny: bool = False) -> Any:
        """{worker address: [(level, line), ...]} of the workers' recent log records (of ``workers``, default
        all), newest first, the last ``n`` (default all kept)."""
        return self.request("worker_logs", n, _worker_list("get_worker_logs", workers), bool(nanny))

    def get_scheduler_logs(self, n: int | None = None) -> Any:
        """The scheduler's recent log records, ``[(level, line), ...]``, newest first, the last ``n``."""
        return self.request("scheduler_logs", n, post=lambda rows: [tuple(r) for r in rows])
