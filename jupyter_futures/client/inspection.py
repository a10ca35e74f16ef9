"""Asking the cluster about itself and running code on it: ``who_has``, ``run``, ``profile``, ..."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable

from ..protocol import serialize
from ..protocol.comm import Comm
from ..protocol.durations import parse_duration
from ..protocol.eventloop import in_loop_thread
from .future import error_from
from .structure import find_futures

logger = logging.getLogger("jupyter_futures.client")


class ClusterInspection:
    """The part of ``Client`` that queries the scheduler and workers and runs functions on them."""

    # What this part uses of the rest of the Client:
    status: str
    loop: asyncio.AbstractEventLoop
    scheduler_comm: Comm | None
    _scheduler_info: dict
    request: Callable[..., Any]
    sync: Callable[..., Any]
    loads: Callable[[serialize.Serialized], Any]

    @property
    def scheduler(self) -> SchedulerRef:
        """The scheduler this client is connected to, as dask code reads it: ``client.scheduler.address``."""
        return SchedulerRef(getattr(self, "scheduler_address", None))

    def who_has(self, futures: Any = None) -> dict:
        """{key: [worker addresses]} for these futures (or all keys)."""
        found = None if futures is None else find_futures(futures)

        def add_known(out: dict) -> dict:
            for f in found or ():
                # A worker may have told us of a result before it told the scheduler.
                if not out.get(f.key) and f.state.status == "finished" and f.state.who_has:
                    out[f.key] = list(f.state.who_has)
            return out
        return self.request("who_has", None if found is None else [f.key for f in found], post=add_known)

    def nbytes(self, keys: Any = None, summary: bool = True) -> dict:
        """Bytes of the values on the cluster, as dask's: {key: bytes} of these futures or keys (or all);
        with ``summary`` (the default), summed by key prefix, e.g. {"inc": 2800}."""
        if keys is not None:
            keys = keys if isinstance(keys, (list, tuple, set)) else [keys]
            keys = [k.key if hasattr(k, "key") else k for k in keys]
        return self.request("nbytes", keys, bool(summary))

    def has_what(self, workers: Any = None) -> dict:
        """{worker address: [keys it holds]}."""
        return self._per_worker("has_what", workers)

    def call_stack(self, futures: Any = None, keys: Any = None) -> dict:
        """What the running tasks are doing now, as dask's: {worker: {key: [frame lines, outermost first]}},
        for the tasks of ``futures`` and ``keys`` (every running task when neither is given)."""
        wanted = set(keys or ()) | {f.key for f in find_futures(futures)} if futures is not None or keys else None

        def lines(stacks: dict) -> dict:
            out: dict = {}
            for worker, running in stacks.items():
                if isinstance(running, BaseException):
                    continue  # a worker that left meanwhile runs nothing
                found = {task["key"]: [f'  File "{fr["filename"]}", line {fr["line_number"]}, in {fr["name"]}\n'
                                       f'\t{fr["line"]}\n' for fr in task["frames"]]
                         for task in running if wanted is None or task["key"] in wanted}
                if found:
                    out[worker] = found
            return out
        return self.request("broadcast", "stacks", (), None, post=lines)

    def processing(self, workers: Any = None) -> dict:
        """{worker address: [keys of the tasks it runs or has queued]}."""
        return self._per_worker("processing", workers)

    def nthreads(self, workers: Any = None) -> dict:
        """{worker address: number of threads}."""
        return self._per_worker("nthreads", workers)

    def _per_worker(self, op: str, workers: Any) -> dict:
        """The scheduler's {worker address: ...} answer to ``op``, for ``workers`` (all if None)."""
        if not workers:
            return self.request(op)
        return self.request(op, post=lambda out: {w: v for w, v in out.items() if w in workers})

    ncores = nthreads

    def scheduler_info(self, n_workers: int = -1) -> dict:
        """The scheduler's address, id, totals (``n_workers``, ``total_threads``, ``total_memory``) and a
        description of ``n_workers`` of its workers (-1, the default: all), as dask's."""
        if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < -1:
            raise ValueError(f"scheduler_info(n_workers={n_workers!r}): give how many workers to describe, "
                             f"a whole number >= 0, or -1 for all")
        return self.request("identity", post=lambda info: _described(self._keep_info(info), n_workers))

    def _keep_info(self, info: dict) -> dict:
        self._scheduler_info = info
        return info

    def latest_scheduler_info(self, timeout: float = 5.0) -> dict | None:
        """The scheduler's identity now, from any thread (for displays of the client): asked anew, except on
        the client's own loop thread, where it is the last one fetched; None when the client is not running
        or no answer came within ``timeout`` s."""
        if self.status != "running" or self.scheduler_comm is None:
            return None
        if in_loop_thread(self.loop):  # an asynchronous client shown from its own loop: use what we have
            return dict(self._scheduler_info or {})

        async def identity() -> dict:
            return await self.scheduler_comm.request("identity")
        try:
            info = asyncio.run_coroutine_threadsafe(identity(), self.loop).result(timeout)
        except Exception as exc:  # noqa: BLE001 - a display shows what it can
            logger.debug("could not fetch the scheduler's identity: %s", exc)
            return None
        self._scheduler_info = info
        return info

    def run_on_scheduler(self, function: Callable, *args: Any, **kwargs: Any) -> Any:
        """Run ``function`` in the scheduler process (it may take a ``dask_scheduler`` argument)."""
        return self.request("run_on_scheduler", serialize.dumps(function), serialize.dumps(args),
                             serialize.dumps(kwargs), post=self.loads)

    def run(self, function: Callable, *args: Any, workers: list | None = None, wait: bool = True,
            on_error: str = "raise", **kwargs: Any) -> Any:
        """Run ``function`` on every worker (or ``workers``); returns {worker address: result}."""
        if on_error not in ("raise", "return", "ignore"):
            raise ValueError(f"run(on_error={on_error!r}): use 'raise', 'return' or 'ignore'")
        if not wait:
            raise ValueError("run(wait=False): here every worker runs the function to its end and sends back "
                             "its result; leave out wait= (and ignore the result if you do not need it)")

        def results(replies: dict) -> dict:
            out = {}
            for worker, reply in replies.items():
                if isinstance(reply, BaseException):
                    value = reply
                elif reply[0] == "ok":
                    out[worker] = self.loads(reply[1])
                    continue
                else:
                    value = error_from(f"run-{worker}", *reply[1])
                if on_error == "raise":
                    raise value
                if on_error == "return":
                    out[worker] = value
            return out
        payload = (serialize.dumps(function), serialize.dumps(args), serialize.dumps(kwargs))
        return self.request("broadcast", "run", payload, workers, post=results)

    def get_task_stream(self, start: float | None = None, stop: float | None = None) -> list[dict]:
        """Records of finished tasks (started after ``start``, ended before ``stop``, epoch seconds):
        key, worker, start and stop times, outcome."""
        def records(rows: list) -> list[dict]:
            return [{"key": k, "worker": w, "start": s, "stop": e, "status": status}
                    for k, w, s, e, status in rows if stop is None or e <= stop]
        return self.request("task_stream", start or 0.0, post=records)

    def profile(self, start: Any = None, stop: Any = None, key: str | None = None, workers: Any = None,
                filename: str | None = None, merge_workers: bool = True) -> Any:
        """The call tree sampled from the workers' task threads (every ~10 ms while tasks run), merged.

        ``start``/``stop``: epoch seconds (or datetimes) of the window; ``key``: a key or key prefix
        (``"inc"``); ``workers``: addresses to ask (default all); ``filename``: also write an HTML
        flame graph there. The tree is in dask's format (``count``, ``children``, ``description``).
        """
        from .profiling import fetch_profile

        return self.sync(fetch_profile, self, start, stop, key, workers, filename, merge_workers)

    def wait_for_workers(self, n_workers: int = 1, timeout: float | str | None = None) -> Any:
        """Block until at least ``n_workers`` workers are connected (TimeoutError after ``timeout``:
        seconds or e.g. ``"5s"``)."""
        timeout = parse_duration(timeout)

        async def _wait():
            try:
                await asyncio.wait_for(self.scheduler_comm.request("wait_for_workers", n_workers), timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(f"fewer than {n_workers} workers after {timeout} s") from None
        return self.sync(_wait)


class SchedulerRef:
    """``client.scheduler``: the scheduler's ``address`` (None before the client connects). dask's is a
    connection to call the scheduler's handlers with; here the client's own methods do that."""

    def __init__(self, address: str | None):
        self.address = address

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise AttributeError(f"client.scheduler.{name}: only client.scheduler.address is available here; ask the "
                             f"scheduler through the client's methods (client.scheduler_info(), "
                             f"client.run_on_scheduler(f), ...)")

    def __repr__(self) -> str:
        return f"<Scheduler: {self.address}>"


def _described(info: dict, n_workers: int) -> dict:
    """The scheduler's identity with dask's totals, describing only the first ``n_workers`` workers (-1: all)."""
    workers = info.get("workers", {})
    out = {**info, "n_workers": len(workers), "total_threads": sum(w["nthreads"] for w in workers.values()),
           "total_memory": sum(w.get("memory_limit") or 0 for w in workers.values())}
    if n_workers != -1:
        out["workers"] = dict(list(workers.items())[:n_workers])
    return out
