"""``Client.recreate_error_locally`` and ``recreate_task_locally`` (dask's ``ReplayTaskClient``): run a
task's function in this process, with its inputs gathered from the cluster, so its exception is raised
here, where a debugger (``%debug``, ``pdb.pm()``) can step through it."""
from __future__ import annotations

from typing import Any, Callable

from ..protocol import serialize
from ..protocol.comm import Comm
from .future import Future, FutureState
from .structure import find_futures
from .table import FutureTable


class TaskReplay:
    """The part of ``Client`` that replays tasks locally."""

    asynchronous: bool
    futures: FutureTable
    scheduler_comm: Comm
    sync: Callable[..., Any]  # (client.py) run a coroutine on the client's loop
    adopt_future: Callable[[str], Future]  # (client.py) a future of a key made elsewhere
    _fetch_values: Callable[[list[FutureState]], Any]  # (data.py) a coroutine of {key: value}

    def recreate_error_locally(self, future: Any) -> Any:
        """Run, in this process, the task where the failure of ``future`` (a future, or futures in any
        structure or collection) began: its function with its inputs fetched from the cluster, so the
        exception is raised here and a debugger can step into it. Waits for the futures first; ValueError
        if none of them failed."""
        return self._replay(future, errored=True)

    def recreate_task_locally(self, future: Any) -> Any:
        """Run ``future``'s task in this process (its function with its inputs fetched from the cluster) and
        return what it returns: to debug a task that succeeded with a wrong value."""
        return self._replay(future, errored=False)

    def _replay(self, future: Any, errored: bool) -> Any:
        found = find_futures(future)
        if not found:
            raise ValueError(f"give a future (or futures in a list, dict or collection), not "
                             f"{type(future).__name__} {future!r:.60}")
        if self.asynchronous:
            return self._replay_async(found, errored)
        func, args, kwargs = self.sync(self._replay_parts, found, errored)
        return func(*args, **kwargs)

    async def _replay_async(self, found: list[Future], errored: bool) -> Any:
        func, args, kwargs = await self._replay_parts(found, errored)
        return func(*args, **kwargs)

    async def _replay_parts(self, found: list[Future], errored: bool) -> tuple:
        """(function, args, kwargs) of the task to replay, its input futures replaced by their values."""
        await self.futures.wait_async([f.state for f in found])
        keys = [f.key for f in found if f.status == "error"] if errored else [found[0].key]
        if errored and not keys:
            raise ValueError("none of these futures failed: recreate_error_locally() runs a task that raised "
                             "(recreate_task_locally() runs any task)")
        key, func_ser, args_ser, deps = await self.scheduler_comm.request("replay_spec", keys, errored)
        inputs = [self.adopt_future(k) for k in deps]
        states = [f.state for f in inputs]
        await self.futures.wait_async(states)
        failed = [f.key for f in inputs if f.status != "finished"]
        if failed:
            raise ValueError(f"cannot run {key!r} here: its inputs {failed} are not available ("
                             f"{', '.join(sorted({f.status for f in inputs if f.status != 'finished'}))})")
        values = await self._fetch_values(states)
        func = serialize.loads(func_ser)
        args, kwargs = serialize.loads(args_ser, persistent_load=values.__getitem__)
        return func, args, kwargs
