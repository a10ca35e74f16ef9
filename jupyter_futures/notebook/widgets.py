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
from .hub import FLUSHER, fetch_scheduler_info, hub_for
from .progress import RECONCILE_AFTER, ProgressModel
from .render import client_html, client_snapshot, client_text, future_html, future_snapshot, future_text

_FINAL = DONE_STATES | {"released"}
CLIENT_REFRESH = 2.0  # seconds between two fetches of the scheduler's state for client widgets


class FutureWidget(W.HTML):
    """One future: name, key, status (coloured), elapsed time, worker; result type and size, or traceback."""

    key = Unicode("").tag(sync=True)
    name = Unicode("").tag(sync=True)
    status = Unicode("").tag(sync=True)
    worker = Unicode("").tag(sync=True)
    elapsed = Float(0.0).tag(sync=True)
    result_type = Unicode("").tag(sync=True)
    nbytes = Int(0).tag(sync=True)
    exception = Unicode("").tag(sync=True)

    def __init__(self, future: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.add_class("jf-future-widget")
        self._state = future._state
        self._client_ref = weakref.ref(future.client)
        self._hub = hub_for(future.client)
        self.text = ""
        self._live = False
        self._render()
        if self.status not in _FINAL:
            self._live = True
            self._hub.add_future_view(self.key, self)
            self._hub.when_done([self._state], self._on_done)
            FLUSHER.start_ticking(self)
            self._render()  # it may have finished while we registered

    def _on_done(self, _state: Any) -> None:
        FLUSHER.mark((self,))

    def _released(self, st: Any) -> bool:
        client = self._client_ref()
        return client is None or (not st.done() and client._states.get(st.key) is not st)

    def _render(self) -> None:
        st = self._state
        if st is None:
            return
        snap = future_snapshot(st, released=self._released(st))
        self.text = future_text(snap)
        with self.hold_sync():
            self.key = snap["key"]
            self.name = snap["name"]
            self.status = snap["status"]
            self.worker = snap["worker"]
            self.elapsed = snap["elapsed"]
            self.result_type = snap["type"]
            self.nbytes = snap["nbytes"]
            self.exception = snap["exception"]
            self.value = future_html(snap)
        if snap["status"] in _FINAL and self._live:
            self._finish()

    def _finish(self) -> None:
        self._live = False
        self._hub.remove_future_view(self.key, self)
        FLUSHER.stop_ticking(self)
        self._state = None  # keep no result or exception alive for the display's sake

    _flush = _render


class ProgressWidget(W.HTML):
    """One bar per function name with finished / erred / total counts, for many futures."""

    done = Int(0).tag(sync=True)  # futures done: finished, erred or cancelled (``value`` is the markup)
    total = Int(0).tag(sync=True)
    finished = Int(0).tag(sync=True)
    erred = Int(0).tag(sync=True)
    cancelled = Int(0).tag(sync=True)
    groups = List(Dict()).tag(sync=True)
    title = Unicode("").tag(sync=True)
    elapsed = Float(0.0).tag(sync=True)

    def __init__(self, model: ProgressModel, **kwargs: Any):
        super().__init__(**kwargs)
        self.add_class("jf-progress-widget")
        self.model = model
        self.title = model.title
        self.text = ""
        self._live = False
        self._hubs = []
        self._render()
        if not model.complete:
            self._live = True
            for client in model.clients:
                hub = hub_for(client)
                self._hubs.append(hub)
                hub.add_multi_view(self)
            FLUSHER.start_ticking(self)
            if model.reconcile():  # done while we registered
                self._render()

    def on_states(self, states: list) -> bool:
        return self.model.on_states(states)

    def _reconcile(self) -> None:
        if self.model.reconcile():
            FLUSHER.mark((self,))

    def _render(self) -> None:
        model = self.model
        if self._live and time.monotonic() - model.last_change > RECONCILE_AFTER:
            # No event for a while: check once for futures that ended without one (client.cancel...).
            model.last_change = time.monotonic()
            for hub in self._hubs:
                hub.call_soon(self._reconcile)
        groups = model.groups()
        self.text = model.text()
        with self.hold_sync():
            self.groups = groups
            self.total = sum(g["total"] for g in groups)
            self.finished = sum(g["finished"] for g in groups)
            self.erred = sum(g["erred"] for g in groups)
            self.cancelled = sum(g["cancelled"] for g in groups)
            self.done = self.finished + self.erred + self.cancelled
            self.elapsed = round(model.elapsed(), 3)
            self.value = model.html()
        if model.complete and self._live:
            self._live = False
            for hub in self._hubs:
                hub.remove_multi_view(self)
            self._hubs = []
            FLUSHER.stop_ticking(self)
            model.clients = []

    _flush = _render


class ClientWidget(W.HTML):
    """A client: scheduler address, workers, threads, memory per worker, tasks, dashboard link; live."""

    address = Unicode("").tag(sync=True)
    status = Unicode("").tag(sync=True)
    n_workers = Int(0).tag(sync=True)
    threads = Int(0).tag(sync=True)
    memory = Int(0).tag(sync=True)
    processing = Int(0).tag(sync=True)
    in_memory = Int(0).tag(sync=True)
    dashboard_link = Unicode("").tag(sync=True)

    def __init__(self, client: Any, info: dict | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.add_class("jf-client-widget")
        self._client_ref = weakref.ref(client)
        self._info = info
        self._fetched = time.monotonic() if info is not None else 0.0
        self.text = ""
        self._live = True
        self._render()
        if self._live:
            FLUSHER.start_ticking(self)

    def _render(self) -> None:
        client = self._client_ref()
        if client is None:
            self._stop()
            return
        if client.status == "running" and time.monotonic() - self._fetched >= CLIENT_REFRESH:
            info = fetch_scheduler_info(client)
            if info is not None:
                self._info = info
            self._fetched = time.monotonic()
        snap = client_snapshot(client, self._info if client.status == "running" else {})
        self.text = client_text(snap)
        with self.hold_sync():
            self.address = snap["address"]
            self.status = snap["status"]
            self.n_workers = len(snap["workers"])
            self.threads = snap["threads"]
            self.memory = snap["memory"]
            self.processing = snap["processing"]
            self.in_memory = snap["in_memory"]
            self.dashboard_link = snap["dashboard"]
            self.value = client_html(snap)
        if client.status in ("closing", "closed"):
            self._stop()

    def _stop(self) -> None:
        if self._live:
            self._live = False
            FLUSHER.stop_ticking(self)

    _flush = _render
