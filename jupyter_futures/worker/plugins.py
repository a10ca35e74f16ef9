"""The worker's plugins (``WorkerPlugin``): set up, torn down, and told of the state machine's moves.

Plugins come from the scheduler: with its first messages to a joining worker (``worker-plugins``, set
up before any task of it is handled), or by request when a client registers one (``plugin_add``,
whose answer carries a failed ``setup``'s error back to that client). ``Worker.plugins`` is the dict of
them by name, as dask's. The state machine never calls a plugin: while a plugin has a ``transition``
hook it appends its records to a list of ours (``WorkerState.watch_moves``), which the shell hands over
after each event (``deliver_moves``). A hook that raises is logged, never raised.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any, Callable

from ..protocol import serialize
from ..protocol.plugins import MoveFeed, WorkerPlugin, call_hook

logger = logging.getLogger("jupyter_futures.worker")

CLOSE_TIMEOUT = 10.0  # seconds the plugins' teardowns may take when the worker closes
# The worker's states by dask's names where they differ, as plugins written for dask test them.
DASK_NAMES = {"new": "released", "erred": "error"}


class WorkerPlugins:
    """The plugins of one worker, by name (``plugins``)."""

    def __init__(self, worker: Any, error_record: Callable[..., tuple]):
        self.worker = worker
        self.error_record = error_record  # (exception, skip) -> (pickled exception, frames)
        self.plugins: dict[str, Any] = {}
        self.moves = MoveFeed(WorkerPlugin)

    def rpc_handlers(self) -> dict:
        """The scheduler's requests: add a plugin (set it up), remove one (tear it down)."""
        return {"plugin_add": lambda comm, blob, name: self.add(blob, name),
                "plugin_remove": lambda comm, name: self.remove(name)}

    async def add(self, blob: serialize.Serialized, name: str) -> tuple:
        """Set up the plugin (replacing one of the same name): ``("ok",)``, or ``("error", exception,
        frames)`` when it could not be unpickled or its ``setup`` raised."""
        try:
            plugin = await self.worker.deserialize(blob)
        except Exception as exc:  # noqa: BLE001 - the registering client hears of it
            logger.exception("worker plugin %r could not be unpickled", name)
            return ("error", *self.error_record(exc, skip=0))
        if name in self.plugins:
            await self.remove(name)
        self.plugins[name] = plugin
        self._watch()
        return await self._run_hook(name, plugin, "setup")

    def add_all(self, plugins: dict) -> None:
        """A joining worker's plugins, set up before the scheduler's next message is handled (a ``setup``
        that returns an awaitable finishes in a task of its own). Failures are logged."""
        for name, blob in plugins.items():
            try:
                plugin = serialize.loads(blob)
            except Exception:
                logger.exception("worker plugin %r could not be unpickled", name)
                continue
            self.plugins[name] = plugin
            call_hook(logger, name, plugin, "setup", worker=self.worker)
        self._watch()

    async def remove(self, name: str) -> tuple:
        """Tear the plugin down and forget it: ``("ok",)`` or ``("error", exception, frames)``."""
        plugin = self.plugins.pop(name, None)
        self._watch()
        if plugin is None:
            return ("ok",)
        return await self._run_hook(name, plugin, "teardown")

    async def _run_hook(self, name: str, plugin: Any, hook: str) -> tuple:
        """``plugin.<hook>(worker=...)``, awaited if it returns an awaitable: ``("ok",)``, or ``("error",
        exception, frames)`` for the client that asked."""
        try:
            result = getattr(plugin, hook)(worker=self.worker)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:  # noqa: BLE001 - the client that asked hears of it
            logger.exception("worker plugin %r failed in %s", name, hook)
            return ("error", *self.error_record(exc, skip=1))
        return ("ok",)

    async def close(self) -> None:
        """The worker closes: tear every plugin down (errors are logged); teardowns still running after
        ``CLOSE_TIMEOUT`` are left behind (a stuck plugin never keeps the worker open)."""
        async def remove_all() -> None:
            for name in list(self.plugins):
                await self.remove(name)
        if self.plugins:
            try:
                await asyncio.wait_for(remove_all(), CLOSE_TIMEOUT)
            except asyncio.TimeoutError:
                logger.warning("worker plugins still tearing down after %g s: the worker closes without them",
                               CLOSE_TIMEOUT)

    def _watch(self) -> None:
        self.moves.update(self.worker.state, self.plugins)

    def deliver_moves(self) -> None:
        """The moves since the last call, to each plugin's ``transition(key, start, finish)``, in dask's
        state names."""
        for key, _stimulus, start, finish in self.moves.take():
            self.moves.tell(logger, key, DASK_NAMES.get(start, start), DASK_NAMES.get(finish, finish))
