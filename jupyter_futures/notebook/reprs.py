"""Jupyter display bundles for futures, clients, progress and containers of futures.

In a kernel with ipywidgets, a bundle carries a live widget view plus ``text/html`` and
``text/plain`` snapshots; a frontend without widgets (nbconvert, VS Code without the widget
renderer) shows the snapshot, which says the same things as of the moment of display.
Elsewhere (plain IPython, no kernel) only the static parts are made.
"""
from __future__ import annotations

from typing import Any

from . import shells
from .counts import ProgressModel
from .displays import MARK
from .env import ipython_shell, kernel_shell, widgets_available
from .render import (client_html, client_snapshot, client_text, future_html, future_snapshot, future_text,
                     is_released)


def _widget_bundle(widget: Any) -> dict:
    """The widget's view, with its HTML and text as the fallbacks of frontends without widgets; in a
    kernel, marked to leave as a display with an id that its end will update (see ``displays``)."""
    data = widget._repr_mimebundle_()
    if isinstance(data, tuple):
        data = data[0]
    data = dict(data or {})
    data["text/html"] = widget.value
    data["text/plain"] = widget.text
    it = shells.find(kernel_shell() or ipython_shell())
    if it is not None and it.displays is not None:
        it.displays.register(widget.display_id, widget)
        widget.displays = it.displays
        data[MARK] = {"display_id": widget.display_id, "kind": widget.kind}
    return data


def _attach(client: Any) -> None:
    """In a kernel: ``client``'s task output goes to its cells (see ``kernel.attach``; a client starting in
    a kernel is attached already, so this only makes sure)."""
    it = shells.find(kernel_shell())
    if it is not None:
        it.attach(client)


def future_bundle(future: Any) -> dict:
    """The display of one future."""
    try:
        table = future.client.futures
    except Exception:  # a released future (its client is a stand-in that refuses every use)
        table = None
    if table is not None and widgets_available():
        from .widgets import FutureWidget

        _attach(future.client)
        return _widget_bundle(FutureWidget(future))
    st = future.state
    snap = future_snapshot(st, released=is_released(st, table))
    return {"text/plain": future_text(snap), "text/html": future_html(snap)}


def client_bundle(client: Any) -> dict:
    """The display of a client."""
    info = client.latest_scheduler_info() if client.status == "running" else {}
    if widgets_available():
        from .widgets import ClientWidget

        _attach(client)
        return _widget_bundle(ClientWidget(client, info))
    snap = client_snapshot(client, info)
    return {"text/plain": client_text(snap), "text/html": client_html(snap)}


def progress_bundle(futures: list, title: str = "") -> dict:
    """Progress bars for many futures: live in a kernel with widgets, else a snapshot."""
    model = ProgressModel(futures, title=title)
    if widgets_available():
        from .widgets import ProgressWidget

        for client in model.clients:
            _attach(client)
        return _widget_bundle(ProgressWidget(model))
    return {"text/plain": model.text(), "text/html": model.html()}


def container_summary(obj: Any) -> tuple[list, str] | None:
    """(futures, title) when ``obj`` is a non-empty list/tuple/set/dict holding only futures, else None."""
    from ..client.future import Future

    if isinstance(obj, dict):
        values = obj.values()
    elif isinstance(obj, (list, tuple, set, frozenset)):
        values = obj
    else:
        return None
    if not values:
        return None
    for v in values:  # stops at the first non-future: cheap for ordinary containers
        if type(v) is not Future:
            return None
    futures = list(values)
    return futures, f"{type(obj).__name__} of {len(futures)} future{'s' if len(futures) != 1 else ''}"


def container_bundle(obj: Any) -> dict | None:
    """One aggregate display for a container of futures (a list of 10,000 futures is one widget)."""
    found = container_summary(obj)
    if found is None:
        return None
    futures, title = found
    return progress_bundle(futures, title=title)


def container_text(obj: Any) -> str | None:
    """Short text for a container of futures, instead of one line per future."""
    found = container_summary(obj)
    if found is None:
        return None
    return ProgressModel(found[0], title=found[1]).text()
