"""jupyter_futures: Dask-compatible futures on a fast scheduler of its own, native to Jupyter.

Names are imported on first use, so that worker and scheduler processes, which
import ``jupyter_futures.<part>``, load only the part they run.

Here the notebook layer plugs into the client, which never imports it (``client/hooks.py``): it shows
futures and clients, and in a Jupyter kernel it wires each new client in. It is imported only when a
client starts in a kernel or something is displayed.
"""
import sys
from builtins import TimeoutError
from importlib import import_module

__version__ = "0.1.0"

from .client import hooks as _client_hooks  # noqa: E402 - after __version__, which the parts read

_EXPORTS = {
    "Client": "client.client", "ClientClosedError": "client.client", "default_client": "client.current",
    "Future": "client.future", "futures_of": "client.structure",
    "ALL_COMPLETED": "client.waiting", "FIRST_COMPLETED": "client.waiting", "FIRST_EXCEPTION": "client.waiting",
    "as_completed": "client.waiting", "fire_and_forget": "client.waiting", "wait": "client.waiting",
    "LocalCluster": "cluster.local",
    "get_client": "client.tasks", "get_worker": "client.tasks", "secede": "client.tasks", "rejoin": "client.tasks",
    "worker_client": "client.tasks",
    "performance_report": "client.profiling", "get_task_stream": "client.taskstream", "print": "client.printing", "warn": "client.printing",
    "Queue": "client.coordination", "Lock": "client.coordination", "MultiLock": "client.coordination",
    "Event": "client.coordination",
    "Variable": "client.coordination", "Semaphore": "client.coordination",
    "Actor": "client.actor", "ActorFuture": "client.actor",
    "AuthenticationError": "protocol.auth", "Security": "protocol.security",
    "FutureCancelledError": "protocol.errors", "FutureLostError": "protocol.errors",
    "KilledWorker": "protocol.errors", "LostDependency": "protocol.errors", "Reschedule": "protocol.errors",
    "WorkerPlugin": "protocol.plugins", "SchedulerPlugin": "protocol.plugins",
    "SerializationError": "protocol.serialize",
    "progress": "notebook.progress",
}
_ALIASES = {"CancelledError": "FutureCancelledError"}

__all__ = sorted([*_EXPORTS, *_ALIASES, "TimeoutError"])


def __getattr__(name: str):
    target = _ALIASES.get(name, name)
    if target not in _EXPORTS:
        raise AttributeError(f"module 'jupyter_futures' has no attribute {name!r}")
    value = getattr(import_module(f".{_EXPORTS[target]}", __name__), target)
    globals()[name] = value
    return value


def __dir__():
    return __all__


def _show_future(future):
    """A future's display: a live widget in a Jupyter kernel, static HTML and text elsewhere."""
    from .notebook.reprs import future_bundle

    return future_bundle(future)


def _show_client(client):
    """A client's display: a live widget in a Jupyter kernel, static HTML and text elsewhere."""
    from .notebook.reprs import client_bundle

    return client_bundle(client)


def _attach_in_kernel(client):
    """In a Jupyter kernel (``%load_ext`` or not): the client's task output goes to the cell that submitted
    the task, and a Ctrl-C that ends a cell cancels the futures it made."""
    if "ipykernel" in sys.modules:
        from .notebook.kernel import attach

        attach(client)


_client_hooks.set_display("future", _show_future)
_client_hooks.set_display("client", _show_client)
_client_hooks.on_client_started(_attach_in_kernel)


def _jupyter_server_extension_points():
    """The Jupyter server extension (cluster manager, REST, live feed, worker kernels)."""
    from .server.app import FuturesExtension

    return [{"module": "jupyter_futures", "app": FuturesExtension}]


def _jupyter_labextension_paths():
    """The prebuilt JupyterLab extension (the sidebar and dashboard panes)."""
    return [{"src": "labextension", "dest": "jupyter-futures"}]


def load_ipython_extension(ipython):
    """``%load_ext jupyter_futures``: the ``%futures`` and ``%%remote`` magics (see jupyter_futures.notebook)."""
    from .notebook.magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython):
    """``%unload_ext jupyter_futures``: remove the magics."""
    from .notebook.magics import unload_ipython_extension as unload

    unload(ipython)
