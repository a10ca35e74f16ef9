"""The scheduler's plugins: scheduler plugins it runs, worker plugins it hands to every worker.

The shell (server.py) tells ``SchedulerPlugins`` what happened (a worker or client came or went, a
restart, closing) and, after each batch of events, hands it the state machine's moves, which it passes
to the plugins' ``transition`` hooks. The state machine never calls a plugin: it only appends its
records to a list this module gave it (``SchedulerState.watch_moves``), and only while some plugin has a
``transition`` hook. A hook that raises is logged (``protocol/plugins.call_hook``); only a failing
``start`` is raised, to the client registering the plugin, as dask does.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any

from ..protocol import messages, serialize
from ..protocol.comm import Comm
from ..protocol.plugins import MoveFeed, SchedulerPlugin, call_hook, call_hook_async
from ..protocol.tracebacks import dump_traceback

logger = logging.getLogger("jupyter_futures.scheduler")

CLOSE_TIMEOUT = 10.0  # seconds the plugins' close hooks may take when the scheduler closes


class SchedulerPlugins:
    """The plugins of one scheduler: ``plugins`` {name: scheduler plugin} and ``worker_plugins`` {name:
    pickled worker plugin}, dask's two dicts (``Scheduler.plugins``, ``Scheduler.worker_plugins``)."""

    def __init__(self, scheduler: Any):
        self.scheduler = scheduler
        self.plugins: dict[str, Any] = {}
        self.worker_plugins: dict[str, serialize.Serialized] = {}
        self.moves = MoveFeed(SchedulerPlugin)

    def rpc_handlers(self) -> dict:
        """The requests of ``Client.register_plugin`` and its undoing."""
        return {
            "register_scheduler_plugin": self._rpc_register_scheduler_plugin,
            "unregister_scheduler_plugin": self._rpc_unregister_scheduler_plugin,
            "register_worker_plugin": self._rpc_register_worker_plugin,
            "unregister_worker_plugin": self._rpc_unregister_worker_plugin,
        }

    # -- scheduler plugins ----------------------------------------------------------------------------
    async def _rpc_register_scheduler_plugin(self, comm: Comm, blob: serialize.Serialized, name: str,
                                             idempotent: bool) -> tuple:
        """Start the plugin and keep it: ``("ok",)`` (also when ``idempotent`` and ``name`` is taken), or
        ``("error", exception, frames)`` when it could not be unpickled or its ``start`` raised."""
        if idempotent and name in self.plugins:
            return ("ok",)
        try:
            plugin = serialize.loads(blob)
            result = plugin.start(self.scheduler)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:  # noqa: BLE001 - the registering client hears of it
            logger.warning("scheduler plugin %r failed to start: %r", name, exc)
            return ("error", *_error_record(exc))
        if name in self.plugins:
            logger.warning("a scheduler plugin named %r replaces the one registered before", name)
        self.plugins[name] = plugin
        self._watch()
        logger.info("scheduler plugin %r registered", name)
        return ("ok",)

    def _rpc_unregister_scheduler_plugin(self, comm: Comm, name: str) -> None:
        if name not in self.plugins:
            raise ValueError(f"no scheduler plugin named {name!r}; registered: {sorted(self.plugins)}")
        del self.plugins[name]
        self._watch()

    def _watch(self) -> None:
        self.moves.update(self.scheduler.state, self.plugins)

    def deliver_moves(self) -> None:
        """The moves since the last call, to each plugin's ``transition``."""
        for key, stimulus, start, finish in self.moves.take():
            self.moves.tell(logger, key, start, finish, stimulus_id=stimulus)

    # -- events of the shell ------------------------------------------------------------------------
    def worker_added(self, address: str, comm: Comm) -> None:
        """A worker joined: send it the worker plugins first (before any task), then tell the plugins."""
        if self.worker_plugins:
            comm.write_batch([messages.worker_plugins(dict(self.worker_plugins))])
        for name, plugin in list(self.plugins.items()):
            call_hook(logger, name, plugin, "add_worker", scheduler=self.scheduler, worker=address)

    def worker_removed(self, address: str) -> None:
        """A worker left."""
        for name, plugin in list(self.plugins.items()):
            call_hook(logger, name, plugin, "remove_worker", scheduler=self.scheduler, worker=address,
                      stimulus_id="remove-worker")

    def client_added(self, client: str) -> None:
        """A client connected."""
        for name, plugin in list(self.plugins.items()):
            call_hook(logger, name, plugin, "add_client", scheduler=self.scheduler, client=client)

    def client_removed(self, client: str) -> None:
        """A client disconnected."""
        for name, plugin in list(self.plugins.items()):
            call_hook(logger, name, plugin, "remove_client", scheduler=self.scheduler, client=client)

    def restarting(self) -> None:
        """``Client.restart()``."""
        for name, plugin in list(self.plugins.items()):
            call_hook(logger, name, plugin, "restart", self.scheduler)

    async def close(self) -> None:
        """The scheduler closes: ``before_close``, then ``close``, of every plugin; hooks still running
        after ``CLOSE_TIMEOUT`` are left behind (a stuck plugin never keeps the scheduler open)."""
        async def close_all() -> None:
            for hook in ("before_close", "close"):
                for name, plugin in list(self.plugins.items()):
                    await call_hook_async(logger, name, plugin, hook)
        if self.plugins:
            try:
                await asyncio.wait_for(close_all(), CLOSE_TIMEOUT)
            except asyncio.TimeoutError:
                logger.warning("scheduler plugins still closing after %g s: the scheduler closes without them",
                               CLOSE_TIMEOUT)

    # -- worker plugins -----------------------------------------------------------------------------
    async def _rpc_register_worker_plugin(self, comm: Comm, blob: serialize.Serialized, name: str,
                                          idempotent: bool) -> dict:
        """Keep the plugin for workers that join later, and set it up on every worker now: {address:
        ("ok",) or ("error", exception, frames)} ({} when ``idempotent`` and ``name`` is taken)."""
        if idempotent and name in self.worker_plugins:
            return {}
        self.worker_plugins[name] = blob
        logger.info("worker plugin %r registered", name)
        return await self._broadcast("plugin_add", blob, name)

    async def _rpc_unregister_worker_plugin(self, comm: Comm, name: str) -> dict:
        if name not in self.worker_plugins:
            raise ValueError(f"no worker plugin named {name!r}; registered: {sorted(self.worker_plugins)}")
        del self.worker_plugins[name]
        return await self._broadcast("plugin_remove", name)

    async def _broadcast(self, op: str, *args: Any) -> dict:
        """``op`` on every worker there is; a worker that leaves meanwhile is left out."""
        targets = list(self.scheduler.worker_comms.items())
        replies = await asyncio.gather(*(comm.request(op, *args) for _, comm in targets), return_exceptions=True)
        out = {}
        for (address, _), reply in zip(targets, replies):
            if isinstance(reply, BaseException):
                logger.info("worker %s did not answer %s: %r", address, op, reply)
            else:
                out[address] = reply
        return out


def _error_record(exc: BaseException) -> tuple:
    """(pickled exception, frames of the plugin's own code) of a failed ``start``."""
    try:
        ser = serialize.dumps(exc)
        serialize.loads(ser)
    except Exception:
        ser = serialize.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))
    return ser, dump_traceback(exc.__traceback__, skip=1)
