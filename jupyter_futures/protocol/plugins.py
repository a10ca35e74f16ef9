"""Plugins: user objects whose methods the scheduler or the workers call when things happen there.

``WorkerPlugin`` and ``SchedulerPlugin`` are the base classes users subclass (dask's names, methods and
signatures); the scheduler and workers call their hooks through ``call_hook``, which logs a hook's
error instead of letting it reach the process (a bad plugin fails itself, never the cluster).
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import uuid
from typing import Any


class SchedulerPlugin:
    """Extends the scheduler: override the hooks you need and register an instance with
    ``client.register_plugin(plugin)``. The hooks run on the scheduler's event loop, with the scheduler
    process's ``Scheduler`` object (as ``client.run_on_scheduler`` passes ``dask_scheduler``).

    ``idempotent = True``: registering a plugin under a name already taken does nothing (else the new
    one replaces the old)."""

    idempotent: bool = False

    async def start(self, scheduler: Any) -> None:
        """Run when the plugin is registered (an error here is raised to the registering client)."""

    async def before_close(self) -> None:
        """Run when the scheduler begins to close."""

    async def close(self) -> None:
        """Run when the scheduler closes."""

    def restart(self, scheduler: Any) -> None:
        """Run when ``client.restart()`` restarts the workers."""

    def transition(self, key: str, start: str, finish: str, *args: Any, stimulus_id: str, **kwargs: Any) -> None:
        """Run after a task changed state on the scheduler (``stimulus_id``: the event that moved it)."""

    def add_worker(self, scheduler: Any, worker: str) -> None:
        """Run when a worker joins (``worker``: its address)."""

    def remove_worker(self, scheduler: Any, worker: str, *, stimulus_id: str, **kwargs: Any) -> None:
        """Run when a worker leaves."""

    def add_client(self, scheduler: Any, client: str) -> None:
        """Run when a client connects (``client``: its id)."""

    def remove_client(self, scheduler: Any, client: str) -> None:
        """Run when a client disconnects."""


class WorkerPlugin:
    """Extends the workers: override the hooks you need and register an instance with
    ``client.register_plugin(plugin)``. Every worker gets its own copy: ``setup`` runs on the workers
    there are and on each worker that joins later, ``teardown`` when the worker closes or the plugin is
    unregistered. The hooks run on the worker's event loop, with the worker process's ``Worker``.

    ``idempotent = True``: registering a plugin under a name already taken does nothing (else the new
    one replaces the old)."""

    idempotent: bool = False

    def setup(self, worker: Any) -> None:
        """Run when the plugin is attached to a worker (an error here is raised to the registering client)."""

    def teardown(self, worker: Any) -> None:
        """Run when the worker closes, or the plugin is unregistered."""

    def transition(self, key: str, start: str, finish: str, **kwargs: Any) -> None:
        """Run after a task changed state on this worker."""


# dask's own base classes, accepted too: their subclasses use only what the hooks are given.
_DASK_MODULE = "distributed.diagnostics.plugin"


def plugin_kind(plugin: Any) -> str:
    """"scheduler" or "worker": which base class ``plugin`` derives from (ours or dask's). A class, a
    nanny plugin or an object of neither kind is refused, saying what to pass instead."""
    if isinstance(plugin, type):
        raise TypeError(f"register_plugin() takes a plugin instance, not the class {plugin.__name__}: "
                        f"pass {plugin.__name__}()")
    if isinstance(plugin, SchedulerPlugin):
        return "scheduler"
    if isinstance(plugin, WorkerPlugin):
        return "worker"
    for base in type(plugin).__mro__:
        if base.__module__ == _DASK_MODULE and base.__name__ in ("SchedulerPlugin", "WorkerPlugin"):
            return "scheduler" if base.__name__ == "SchedulerPlugin" else "worker"
        if base.__module__ == _DASK_MODULE and base.__name__ == "NannyPlugin":
            raise TypeError("jupyter_futures has no nanny plugins: make it a WorkerPlugin (its setup runs in "
                            "every worker process, including the ones a nanny restarts)")
    raise TypeError(f"register_plugin() takes a WorkerPlugin or SchedulerPlugin, not a {type(plugin).__name__}: "
                    f"subclass one of them (from jupyter_futures import WorkerPlugin)")


def plugin_name(plugin: Any) -> str:
    """The plugin's ``name`` attribute, else its class name and a random suffix (as dask names them)."""
    name = getattr(plugin, "name", None)
    if name is not None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"the plugin's name {name!r} must be a non-empty string")
        return name
    return f"{type(plugin).__name__}-{uuid.uuid4()}"


def overrides(plugin: Any, hook: str, base: type) -> bool:
    """Whether ``plugin`` has its own ``hook`` (not the base class's do-nothing one)."""
    own = getattr(type(plugin), hook, None)
    return own is not None and own is not getattr(base, hook, None)


def call_hook(logger: logging.Logger, name: str, plugin: Any, hook: str, *args: Any, **kwargs: Any) -> None:
    """On the process's loop: ``plugin.hook(*args, **kwargs)``; an awaitable result is awaited in a task of
    its own. Any error is logged with the plugin's name, never raised."""
    method = getattr(plugin, hook, None)
    if method is None:
        return
    try:
        result = method(*args, **kwargs)
    except Exception:
        logger.exception("plugin %r failed in %s", name, hook)
        return
    if inspect.isawaitable(result):
        asyncio.ensure_future(_logged(logger, name, hook, result))


async def _logged(logger: logging.Logger, name: str, hook: str, awaitable: Any) -> None:
    try:
        await awaitable
    except Exception:
        logger.exception("plugin %r failed in %s", name, hook)


async def call_hook_async(logger: logging.Logger, name: str, plugin: Any, hook: str, *args: Any,
                          **kwargs: Any) -> None:
    """``plugin.hook(*args, **kwargs)``, awaited if it returns an awaitable; errors are logged, not raised."""
    method = getattr(plugin, hook, None)
    if method is None:
        return
    try:
        result = method(*args, **kwargs)
        if inspect.isawaitable(result):
            await result
    except Exception:
        logger.exception("plugin %r failed in %s", name, hook)


class MoveFeed:
    """A state machine's moves, for the plugins with a ``transition`` hook. The state machine appends its
    story records to ``records`` only while some plugin watches (``watch_moves``); the shell takes them
    after each batch of events and calls the hooks itself (no plugin runs inside a state machine)."""

    def __init__(self, base: type):
        self.base = base  # WorkerPlugin or SchedulerPlugin: a plugin watches when it overrides its hook
        self.watchers: list[tuple[str, Any]] = []
        self.records: list | None = None

    def update(self, state: Any, plugins: dict[str, Any]) -> None:
        """Which of ``plugins`` watch now; have ``state`` (when there is one yet) record for them, or stop."""
        self.watchers = [(n, p) for n, p in plugins.items() if overrides(p, "transition", self.base)]
        if state is None:
            return
        if self.watchers and self.records is None:
            self.records = []
            state.watch_moves(self.records)
        elif not self.watchers and self.records is not None:
            state.watch_moves(None)
            self.records = None

    def take(self) -> list[tuple[str, str, str, str]]:
        """The moves since the last call, as (key, stimulus, start, finish): records that leave a task in
        its state (an ignored event, a sub-state) are not moves."""
        records = self.records
        if not records:
            return []
        moves = [(key, stimulus, start, finish) for key, stimulus, start, finish, _when in records
                 if start != finish]
        records.clear()  # the state machine holds this very list
        return moves

    def tell(self, logger: logging.Logger, key: str, start: str, finish: str, **kwargs: Any) -> None:
        """Call every watcher's ``transition`` hook; one that raises is logged."""
        for name, plugin in self.watchers:
            try:
                plugin.transition(key, start, finish, **kwargs)
            except Exception:
                logger.exception("plugin %r failed in transition of %r (%s -> %s)", name, key, start, finish)
