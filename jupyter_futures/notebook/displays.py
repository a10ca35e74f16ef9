"""Live displays that leave a true record: each is a ``display_data`` with an id, updated with its end.

A future, progress bar or client shown in a kernel is a live widget. Widgets are not a record:
a notebook saved and reopened, or rendered by nbconvert or GitHub, has no widget state, and a
display frozen at the moment it was made would read "pending" forever. So:

* every live display is published as ``display_data`` with a ``display_id`` (a cell's result,
  normally an ``execute_result``, is turned into one: JupyterLab updates only those);
* when it reaches its end (finished, erred, cancelled, complete, closed) the kernel sends an
  ``update_display_data`` with the static HTML and text of that end and no widget view, so what is
  saved is readable anywhere;
* when the kernel is asked to shut down or restart, displays still live are updated the same way,
  marked "no longer live" (JupyterLab's own restart drops such updates; its extension marks those).

Output metadata ``{"jupyter_futures": {"live", "kind", "kernel_id"}}`` says which outputs are live
displays, for the JupyterLab extension; a record adds ``"state"``, the widget's facts at its end. The hooks are ipykernel's ``register_hook`` on the display
publisher and the display hook (ipykernel 7); without them displays stay as they were made.
"""
from __future__ import annotations

import logging
import threading
import uuid
import weakref
from typing import Any, Callable

logger = logging.getLogger("jupyter_futures.notebook")

MARK = "application/vnd.jupyter-futures.display+json"  # in a bundle on its way out only: never published
META = "jupyter_futures"
STOPPED = "the kernel stopped"
RESTARTED = "the kernel restarted"


def new_display_id() -> str:
    """A display id of our own."""
    return f"jupyter-futures-{uuid.uuid4().hex}"


class Displays:
    """The live displays of one kernel: publishing them with ids, updating them with their end."""

    def __init__(self, shell: Any, kernel_id: str | None):
        self.shell = shell
        self.kernel_id = kernel_id
        self._lock = threading.Lock()
        self._views: dict[str, Any] = {}  # display id -> weakref to the view, until its end is published
        self._published: set[str] = set()
        self._hooked = threading.local()  # ipykernel's hooks are per thread
        self._kernel = getattr(shell, "kernel", None)
        self._original_shutdown: Callable | None = None

    # -- hooks ----------------------------------------------------------------------------------------
    def open(self) -> None:
        """Hook into this thread's publishing (idempotent; call from the thread that runs cells)."""
        if getattr(self._hooked, "done", False):
            return
        for publisher in (getattr(self.shell, "displayhook", None), getattr(self.shell, "display_pub", None)):
            if hasattr(publisher, "register_hook"):
                publisher.register_hook(self._on_publish)
        self._hooked.done = True
        kernel = self._kernel
        if kernel is not None and self._original_shutdown is None and hasattr(kernel, "do_shutdown"):
            # The one moment a kernel hears it is going, before it says so: no event exists for it.
            self._original_shutdown = kernel.do_shutdown
            kernel.do_shutdown = self._on_shutdown

    def close(self) -> None:
        """Undo ``open`` for this thread (``%unload_ext``)."""
        for publisher in (getattr(self.shell, "displayhook", None), getattr(self.shell, "display_pub", None)):
            if hasattr(publisher, "unregister_hook"):
                publisher.unregister_hook(self._on_publish)
        self._hooked.done = False
        if self._original_shutdown is not None:
            self._kernel.do_shutdown = self._original_shutdown
            self._original_shutdown = None

    def _on_shutdown(self, restart: bool) -> Any:
        try:
            self.end_all(RESTARTED if restart else STOPPED)
        except Exception:  # never keep a kernel from stopping
            logger.exception("could not mark live displays as no longer live")
        return self._original_shutdown(restart)

    # -- displays --------------------------------------------------------------------------------------
    def register(self, display_id: str, view: Any) -> None:
        """``view`` (with ``static_bundle(reason)`` and ``ended``) is shown under ``display_id``."""
        with self._lock:
            self._views[display_id] = weakref.ref(view)

    def _on_publish(self, msg: dict) -> dict:
        """ipykernel hook: a bundle carrying our mark leaves as ``display_data`` with its id."""
        content = msg.get("content") or {}
        data = content.get("data")
        if not isinstance(data, dict) or MARK not in data:
            return msg
        info = data.pop(MARK)
        display_id, kind = info.get("display_id"), info.get("kind")
        with self._lock:
            ref = self._views.get(display_id)
            view = ref() if ref is not None else None
            self._published.add(display_id)
        live = view is not None and not view.ended
        meta = self._meta(kind, live)
        if view is not None and not live:  # it ended while being displayed: its record, at once
            static = view.static_bundle()
            data.clear()
            data.update(static)
            meta["state"] = view.facts()
            self._forget(display_id)
        content["transient"] = {**(content.get("transient") or {}), "display_id": display_id}
        content["metadata"] = {**(content.get("metadata") or {}), META: meta}
        if msg.get("msg_type") == "execute_result":
            msg["msg_type"] = msg["header"]["msg_type"] = "display_data"
            content.pop("execution_count", None)
        return msg

    def ended(self, display_id: str, view: Any) -> None:
        """``view`` reached its end: replace its published display with the record of that end."""
        with self._lock:
            published = display_id in self._published
        if published:
            self._update(display_id, view, view.static_bundle())
            self._forget(display_id)
        # Not yet published: the publish hook sends the record instead of the widget.

    def end_all(self, reason: str) -> None:
        """Replace every published live display by its last state, marked no longer live."""
        with self._lock:
            items = [(d, ref()) for d, ref in self._views.items() if d in self._published]
        for display_id, view in items:
            if view is not None:
                self._update(display_id, view, view.static_bundle(reason))
            self._forget(display_id)

    def _forget(self, display_id: str) -> None:
        with self._lock:
            self._views.pop(display_id, None)
            self._published.discard(display_id)

    def _meta(self, kind: str, live: bool) -> dict:
        return {"live": live, "kind": kind, "kernel_id": self.kernel_id}

    def _update(self, display_id: str, view: Any, data: dict) -> None:
        """Replace the display by ``data``, the record of ``view`` (its facts in the metadata)."""
        publisher = getattr(self.shell, "display_pub", None)
        if publisher is None:
            return
        meta = {META: {**self._meta(view.kind, False), "state": view.facts()}}
        try:
            publisher.publish(data, meta, transient={"display_id": display_id}, update=True)
        except Exception:  # the kernel is going
            logger.debug("could not update display %s", display_id, exc_info=True)
