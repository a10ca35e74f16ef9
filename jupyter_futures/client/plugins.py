"""``Client.register_plugin`` and its undoing: scheduler plugins run in the scheduler, worker plugins in
every worker (protocol/plugins.py has the base classes; scheduler/plugins.py and worker/plugins.py run
them)."""
from __future__ import annotations

from typing import Any, Callable

from ..protocol import serialize
from ..protocol.plugins import WorkerPlugin, plugin_kind, plugin_name
from .future import error_from


class PluginRegistration:
    """The part of ``Client`` that registers plugins."""

    request: Callable[..., Any]  # (client.py) ask the scheduler; a coroutine when asynchronous

    def register_plugin(self, plugin: Any, name: str | None = None, idempotent: bool | None = None) -> Any:
        """Register a ``WorkerPlugin`` (set up on every worker now and on each that joins later; an error
        of its ``setup`` is raised here) or a ``SchedulerPlugin`` (started in the scheduler; an error of
        its ``start`` is raised here). ``name`` defaults to ``plugin.name``, else the class name and a
        random suffix; a plugin of the same name is replaced, unless ``idempotent`` (default:
        ``plugin.idempotent``), in which case nothing happens. Returns {worker: {"status": "OK"}} for a
        worker plugin, None for a scheduler plugin (as dask)."""
        kind = plugin_kind(plugin)
        name = plugin_name(plugin) if name is None else name
        if not isinstance(name, str) or not name:
            raise TypeError(f"register_plugin(name={name!r}): give a non-empty string, or leave it out")
        if idempotent is None:
            idempotent = getattr(plugin, "idempotent", False)
        if not isinstance(idempotent, bool):
            raise TypeError(f"idempotent={idempotent!r}: give True or False")
        try:
            blob = serialize.dumps(plugin)
        except Exception as exc:
            raise serialize.SerializationError(
                f"cannot pickle the plugin {name!r} to send it to the cluster: {exc}. Keep only picklable "
                f"state on it; open files or connections in its setup/start instead") from exc
        if kind == "scheduler":
            return self.request("register_scheduler_plugin", blob, name, idempotent, post=_started)
        return self.request("register_worker_plugin", blob, name, idempotent, post=_replies)

    def unregister_worker_plugin(self, name: str, nanny: bool | None = None) -> Any:
        """Tear down the worker plugin ``name`` on every worker (its ``teardown`` runs) and stop giving it
        to new workers; an error of a ``teardown`` is raised here. ValueError if no such plugin."""
        if nanny:
            raise ValueError("unregister_worker_plugin(nanny=True): jupyter_futures has no nanny plugins")
        return self.request("unregister_worker_plugin", name, post=_replies)

    def unregister_scheduler_plugin(self, name: str) -> Any:
        """Remove the scheduler plugin ``name`` (as dask, its ``close`` is not called). ValueError if no
        such plugin."""
        return self.request("unregister_scheduler_plugin", name, post=_none)

    def register_worker_callbacks(self, setup: Callable | None = None) -> Any:
        """Run ``setup`` on every worker now and on each that joins later (a worker plugin; ``setup`` may
        take ``dask_worker`` to get the worker)."""
        if not callable(setup):
            raise TypeError(f"register_worker_callbacks(setup=...) needs a function, got {type(setup).__name__}")
        return self.register_plugin(_SetupCallback(setup))


class _SetupCallback(WorkerPlugin):
    """``register_worker_callbacks``'s plugin: one function run at setup."""

    def __init__(self, setup: Callable):
        self._setup = setup
        self.name = f"worker-setup-{serialize.token_of(serialize.dumps(setup).header)}"

    def setup(self, worker: Any) -> Any:
        """Call the function, with the worker as ``dask_worker`` if it takes it."""
        import inspect

        try:
            takes_worker = "dask_worker" in inspect.signature(self._setup).parameters
        except (TypeError, ValueError):
            takes_worker = False
        return self._setup(dask_worker=worker) if takes_worker else self._setup()


def _none(_: Any) -> None:
    return None


def _started(reply: tuple) -> None:
    """The scheduler's answer to a scheduler plugin: its ``start``'s error is raised, with its traceback."""
    if reply[0] == "error":
        raise error_from("plugin-start", reply[1], reply[2])


def _replies(replies: dict) -> dict:
    """{worker: ("ok",) | ("error", exception, frames)} -> {worker: {"status": "OK"}}; the first error is
    raised, with its remote traceback."""
    out = {}
    for worker, reply in replies.items():
        if reply[0] == "error":
            raise error_from(f"plugin-{worker}", reply[1], reply[2])
        out[worker] = {"status": "OK"}
    return out
