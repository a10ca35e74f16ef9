"""What the layers above plug into the client, so that the client never imports them.

``jupyter_futures/__init__.py`` plugs in the notebook layer: it shows futures and clients (a live
widget in a Jupyter kernel, static HTML and text elsewhere) and, in a kernel, wires every new client
in (task output to the cell that submitted the task, Ctrl-C cancels the cell's futures).
"""
from __future__ import annotations

from typing import Any, Callable

_started: list[Callable[[Any], None]] = []
_displays: dict[str, Callable[[Any], dict]] = {}


def on_client_started(callback: Callable[[Any], None]) -> None:
    """Call ``callback(client)`` in the thread that started it, once each client is connected."""
    _started.append(callback)


def client_started(client: Any) -> None:
    """``client`` is connected: tell those who asked."""
    for callback in list(_started):
        callback(client)


def set_display(kind: str, render: Callable[[Any], dict]) -> None:
    """``render(obj)`` makes the Jupyter display bundle of a ``kind`` ("future" or "client")."""
    _displays[kind] = render


def display(kind: str, obj: Any) -> dict:
    """The Jupyter display bundle of ``obj``, a ``kind``: its repr when nothing is plugged in."""
    render = _displays.get(kind)
    return render(obj) if render is not None else {"text/plain": repr(obj)}
