"""Notebook integration: live widgets for futures and clients, ``progress``, magics, task output in cells.

Nothing here is imported by ``import jupyter_futures``, and this package imports
ipywidgets and IPython only when a display, ``progress`` in a kernel, or
``%load_ext jupyter_futures`` needs them. The client never imports it: ``jupyter_futures/__init__.py``
plugs it into the client's hooks (``client/hooks.py``).

- ``render``: HTML and text for futures, progress and clients (no Jupyter imports)
- ``counts``: ``ProgressModel``, the counts of futures per function name that progress bars show
- ``hub``: one state subscription per client, one throttled flusher thread for all displays
- ``widgets``: the ipywidgets (FutureWidget, ProgressWidget, ClientWidget)
- ``reprs``: display bundles: widget + static HTML + text
- ``formatters``: lists, tuples, sets and dicts of futures shown as one aggregate (IPython formatters)
- ``progress``: ``progress(futures)``, widget in a kernel, text bar elsewhere
- ``kernel``: cell tracking in a kernel: task output to its cell, Ctrl-C cancels the cell's futures;
  ``shells``: the kernel's integration, found by the display bundles without making one
- ``magics``: ``%futures`` and ``%%remote``; ``remote``: what ``%%remote`` runs on the worker
- ``lab``: ``python -m jupyter_futures.notebook.lab``, JupyterLab on the quickstart notebook
"""
from importlib import import_module

_EXPORTS = {"progress": "progress", "attach": "kernel", "FutureWidget": "widgets",
            "ProgressWidget": "widgets", "ClientWidget": "widgets"}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'jupyter_futures.notebook' has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
