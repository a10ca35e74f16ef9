"""Live ipywidgets for futures, progress and clients (imported only where ipywidgets is available).

Each is an ``ipywidgets.HTML`` whose ``value`` is the same HTML the static fallback shows, plus
a few synced traits (``status``, ``done``/``total``...) that tests and tools can read from the
widget state. Standard widgets only: no JavaScript of our own is needed in the frontend.
"""
from __future__ import annotations

import time
import weakref
from typing import Any

import ipywidgets as W
from traitlets import Dict, Float, Int, List, Unicode

from ..client.future import DONE_STATES
from .displays import new_display_id
from .hub import FLUSHER, hub_for
from .counts import ProgressModel
from .render import (client_html, client_snapshot, client_text, future_html, future_snapshot, future_text,
                     is_released, not_live_html, not_live_text, progress_html, progress_text, progress_totals)

_FINAL = DONE_STATES | {"released"}
CLIENT_REFRESH = 2.0  # seconds between two fetches of the scheduler's state for client widgets


class _LiveHTML(W.HTML):
    """An HTML widget with synced facts that the flusher re-renders (on changes, and on each clock
    tick) from ``_start`` until ``_stop``; at its end, its display becomes the record of that end."""

    kind = ""  # "future", "progress" or "client": what the display shows (in its output's metadata)
    FACTS: tuple = ()  # the synced traits a record of the display keeps

    def __init__(self, css_class: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.add_class(css_class)
        self.text = ""  # the text/plain of the last render
        self._live = False
        self.display_id = new_display_id()
        self.ended = False
        self.displays: Any = None  # the kernel's Displays once shown there (see reprs.widget_bundle)

    def _render(self) -> None:
        raise NotImplementedError

    def flush_view(self) -> None:
        self._render()

    def _show(self, text: str, html: str, **traits: Any) -> None:
        """Set the text, the synced ``traits`` and the HTML, sent to the frontend as one update."""
        self.text = text
        with self.hold_sync():
            for name, value in traits.items():
                setattr(self, name, value)
            self.value = html

    def _start(self) -> None:
        self._live = True
        FLUSHER.start_ticking(self)

    def _stop(self) -> None:
        """The end: no more renders; the display is replaced by the record of this last state."""
        if self._live:
            self._live = False
            FLUSHER.stop_ticking(self)
            self._unwatch()
        if not self.ended:
            self.ended = True
            if self.displays is not None:
                self.displays.ended(self.display_id, self)

    def facts(self) -> dict:
        """The synced facts of the last render (what the record's metadata keeps for tools and tests)."""
        return {name: getattr(self, name) for name in self.FACTS}

    def static_bundle(self, reason: str = "") -> dict:
        """The last render as plain HTML and text (marked no longer live, for ``reason``, if given)."""
        if reason and self._live:
            self._render()  # its state as of now, not of the last clock tick
        html, text = self.value, self.text
        if reason:
            html, text = not_live_html(html, reason), not_live_text(text, reason)
        return {"text/html": html, "text/plain": text}

    def _unwatch(self) -> None:
        """Drop what fed this view (hub registrations); called once, by ``_stop``."""


class FutureWidget(_LiveHTML):
    """One future: name, key, status (coloured), elapsed time, worker; result type and size, or traceback."""

    kind = "future"
    FACTS = ("key", "name", "status", "worker", "elapsed", "result_type", "nbytes", "exception")
    key = Unicode("").tag(sync=True)
    name = Unicode("").tag(sync=True)
    status = Unicode("").tag(sync=True)
    worker = Unicode("").tag(sync=True)
    elapsed = Float(0.0).tag(sync=True)
    result_type = Unicode("").tag(sync=True)
    nbytes = Int(0).tag(sync=True)
    exception = Unicode("").tag(sync=True)

    def __init__(self, future: Any, **kwargs: Any):
        super().__init__("jf-future-widget", **kwargs)
        self._state = future.state
        self._client_ref = weakref.ref(future.client)
        self._hub = hub_for(future.client)
        self._render()
        if self.status not in _FINAL:
            self._hub.add_future_view(self.key, self)
            self._hub.when_done([self._state], self._on_done)
            self._start()
            self._render()  # it may have finished while we registered

    def _on_done(self, _state: Any) -> None:
        FLUSHER.mark((self,))

    def _render(self) -> None:
        st = self._state
        if st is None:
            return
        client = self._client_ref()
        snap = future_snapshot(st, released=is_released(st, client.futures if client is not None else None))
        self._show(future_text(snap), future_html(snap), key=snap["key"], name=snap["name"],
                   status=snap["status"], worker=snap["worker"], elapsed=snap["elapsed"],
                   result_type=snap["type"], nbytes=snap["nbytes"], exception=snap["exception"])
        if snap["status"] in _FINAL:
            self._stop()
            self._state = None  # keep no result or exception alive for the display's sake

    def _unwatch(self) -> None:
        self._hub.remove_future_view(self.key, self)


class ProgressWidget(_LiveHTML):
    """One bar per function name with finished / erred / total counts, for many futures."""

    kind = "progress"
    FACTS = ("done", "total", "finished", "erred", "cancelled", "groups", "title", "elapsed")
    done = Int(0).tag(sync=True)  # futures done: finished, erred or cancelled (``value`` is the markup)
    total = Int(0).tag(sync=True)
    finished = Int(0).tag(sync=True)
    erred = Int(0).tag(sync=True)
    cancelled = Int(0).tag(sync=True)
    groups = List(Dict()).tag(sync=True)
    title = Unicode("").tag(sync=True)
    elapsed = Float(0.0).tag(sync=True)

    def __init__(self, model: ProgressModel, **kwargs: Any):
        super().__init__("jf-progress-widget", **kwargs)
        self.model = model
        self.title = model.title
        self._hubs: list = []
        self._render()
        if not model.complete:
            self._hubs = [hub_for(client) for client in model.clients]
            for hub in self._hubs:
                hub.add_multi_view(self)
            self._start()
            if model.reconcile():  # done while we registered
                self._render()

    def on_states(self, states: list) -> bool:
        return self.model.on_states(states)

    def _reconcile(self) -> None:
        if self.model.reconcile():
            FLUSHER.mark((self,))

    def _render(self) -> None:
        model = self.model
        if self._live and model.quiet():
            # No event for a while: check once for futures that ended without one (client.cancel...).
            for hub in self._hubs:
                hub.call_soon(self._reconcile)
        complete = model.complete  # read first: the counts read next are then final (counts.on_states)
        groups, elapsed = model.groups(), model.elapsed()
        self._show(progress_text(groups, elapsed, model.title, model.note),
                   progress_html(groups, elapsed, model.title, model.note),
                   groups=groups, elapsed=round(elapsed, 3), **progress_totals(groups))
        if complete:  # what was shown is the end (an end reached meanwhile marks this view dirty again)
            self._stop()

    def _unwatch(self) -> None:
        for hub in self._hubs:
            hub.remove_multi_view(self)
        self._hubs = []
        self.model.clients = []


class ClientWidget(_LiveHTML):
    """A client: scheduler address, workers, threads, memory per worker, tasks, dashboard link; live."""

    kind = "client"
    FACTS = ("address", "status", "n_workers", "threads", "memory", "processing", "in_memory", "dashboard_link")
    address = Unicode("").tag(sync=True)
    status = Unicode("").tag(sync=True)
    n_workers = Int(0).tag(sync=True)
    threads = Int(0).tag(sync=True)
    memory = Int(0).tag(sync=True)
    processing = Int(0).tag(sync=True)
    in_memory = Int(0).tag(sync=True)
    dashboard_link = Unicode("").tag(sync=True)

    def __init__(self, client: Any, info: dict | None = None, **kwargs: Any):
        super().__init__("jf-client-widget", **kwargs)
        self._client_ref = weakref.ref(client)
        self._info = info
        self._fetched = time.monotonic() if info is not None else 0.0
        self._start()
        self._render()

    def _render(self) -> None:
        client = self._client_ref()
        if client is None:
            self._stop()
            return
        running = client.status == "running"
        if running and time.monotonic() - self._fetched >= CLIENT_REFRESH:
            info = client.latest_scheduler_info()
            if info is not None:
                self._info = info
            self._fetched = time.monotonic()
        snap = client_snapshot(client, self._info if running else {})
        self._show(client_text(snap), client_html(snap), address=snap["address"], status=snap["status"],
                   n_workers=len(snap["workers"]), threads=snap["threads"], memory=snap["memory"],
                   processing=snap["processing"], in_memory=snap["in_memory"], dashboard_link=snap["dashboard"])
        if client.status in ("closing", "closed"):
            self._stop()
