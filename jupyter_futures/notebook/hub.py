"""How live displays learn of changes: one subscription per client, one throttled flusher thread.

The client calls the hub's subscription (``client.subscribe``) on its loop thread with
the states that changed; the hub only marks the views that show them as dirty (a set
insert). A single flusher thread then renders dirty views at most ``INTERVAL`` apart, so a widget
sends at most ~10 updates a second however fast tasks finish, and rendering and
comm traffic never run on the client's loop. Views that show a clock (pending
and running futures, unfinished progress) also get a tick every ``TICK`` seconds.

A view is any object with ``flush_view()``; multi-key views (progress) also have
``on_states(states) -> bool``. Nothing here imports Jupyter.
"""
from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Any, Callable, Iterable

logger = logging.getLogger("jupyter_futures.notebook")

INTERVAL = 0.1  # seconds between two updates of one view: at most 10 a second
TICK = 1.0  # seconds between clock ticks of views that show elapsed time
RENDER_WAIT = 0.5  # seconds the end of a cell waits for a render in flight


class Flusher:
    """A daemon thread that renders dirty views, throttled."""

    def __init__(self, interval: float = INTERVAL, tick: float = TICK):
        self.interval = interval
        self.tick = tick
        self._lock = threading.Lock()
        self._dirty: set = set()
        self._ticking: set = set()
        self._event = threading.Event()
        self._rendering = threading.Lock()  # held while the thread renders: flush_pending waits for it
        self._thread: threading.Thread | None = None

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="jupyter-futures-widgets", daemon=True)
            self._thread.start()

    def mark(self, views: Iterable) -> None:
        """Render these views soon (from any thread; cheap)."""
        with self._lock:
            self._dirty.update(views)
            self._ensure_thread()
        self._event.set()

    def start_ticking(self, view: Any) -> None:
        """Render ``view`` every ``tick`` seconds until ``stop_ticking``."""
        with self._lock:
            self._ticking.add(view)
            self._ensure_thread()
        self._event.set()

    def stop_ticking(self, view: Any) -> None:
        with self._lock:
            self._ticking.discard(view)

    def flush_pending(self) -> None:
        """Render the dirty views now, in the calling thread (at the end of a cell, so its reply
        follows the last updates of what it waited for), after any render the thread is doing."""
        # Bounded: a render may itself wait for the loop of an asynchronous client, which is
        # this very thread in a kernel; then it cannot finish before this cell does.
        waited = self._rendering.acquire(timeout=RENDER_WAIT)
        try:
            with self._lock:
                views, self._dirty = self._dirty, set()
            for view in views:
                _flush_one(view)
        finally:
            if waited:
                self._rendering.release()

    def _run(self) -> None:
        next_tick = time.monotonic() + self.tick
        while True:
            with self._lock:
                ticking = bool(self._ticking)
            timeout = max(0.0, next_tick - time.monotonic()) if ticking else None
            self._event.wait(timeout)
            self._event.clear()
            now = time.monotonic()
            with self._rendering:
                with self._lock:
                    views, self._dirty = self._dirty, set()
                    if now >= next_tick:
                        views |= self._ticking
                        next_tick = now + self.tick
                for view in views:
                    _flush_one(view)
            if views:
                time.sleep(self.interval)  # the throttle: nothing renders again for `interval` seconds


def _flush_one(view: Any) -> None:
    try:
        view.flush_view()
    except Exception:
        logger.exception("could not update the display of %r", view)


FLUSHER = Flusher()


class Hub:
    """The notebook layer's link to one client: a state subscription feeding the views that show its futures."""

    def __init__(self, client: Any):
        self.loop = client.loop
        self._lock = threading.Lock()
        self._by_key: dict[str, tuple] = {}  # key -> views showing that one future
        self._multi: tuple = ()  # views of many futures, with on_states()
        client.subscribe(self._on_states)  # for the client's lifetime, as the hub

    def settle(self, timeout: float = 1.0) -> None:
        """Return once the client's loop has handled what it was handling (so the views of every state
        it changed are marked dirty). A waiter can wake before the loop has told the hub, and a cell that
        ends in that gap would otherwise show a stale display."""
        if not self.loop.is_running() or getattr(self.loop, "_thread_id", None) == threading.get_ident():
            return  # a closed client, or an asynchronous one on this very thread: nothing runs on its loop now
        reached = threading.Event()
        if self.call_soon(reached.set):
            reached.wait(timeout)

    # -- registration (any thread) ---------------------------------------------------------------------
    def add_future_view(self, key: str, view: Any) -> None:
        with self._lock:
            self._by_key[key] = self._by_key.get(key, ()) + (view,)

    def remove_future_view(self, key: str, view: Any) -> None:
        with self._lock:
            views = tuple(v for v in self._by_key.get(key, ()) if v is not view)
            if views:
                self._by_key[key] = views
            else:
                self._by_key.pop(key, None)

    def add_multi_view(self, view: Any) -> None:
        with self._lock:
            self._multi = self._multi + (view,)

    def remove_multi_view(self, view: Any) -> None:
        with self._lock:
            self._multi = tuple(v for v in self._multi if v is not view)

    def call_soon(self, fn: Callable[[], None]) -> bool:
        """Run ``fn()`` on the client's loop thread (where states change); False if that loop is closed."""
        try:
            self.loop.call_soon_threadsafe(fn)
        except RuntimeError:
            return False
        return True

    def when_done(self, states: list, callback: Callable[[Any], None]) -> None:
        """Call ``callback(state)`` on the loop thread as each state reaches a final status, however it got
        there (a scheduler event, ``client.cancel``, the client closing). Already-done states are reported
        at once."""
        def register(listen: bool = True) -> None:
            for st in states:
                if st.done():
                    callback(st)
                elif listen:
                    st.callbacks.append(callback)
        if not self.call_soon(register):  # the loop is closed: report what is known
            register(listen=False)

    # -- events (client loop thread) -------------------------------------------------------------------
    def _on_states(self, states: list) -> None:
        dirty = []
        by_key = self._by_key
        if by_key:
            for st in states:
                views = by_key.get(st.key)
                if views:
                    dirty.extend(views)
        for view in self._multi:
            if view.on_states(states):
                dirty.append(view)
        if dirty:
            FLUSHER.mark(dirty)


_hubs: "weakref.WeakKeyDictionary[Any, Hub]" = weakref.WeakKeyDictionary()
_hubs_lock = threading.Lock()


def hub_for(client: Any) -> Hub:
    """The hub of ``client`` (made on first use)."""
    with _hubs_lock:
        hub = _hubs.get(client)
        if hub is None:
            hub = _hubs[client] = Hub(client)
        return hub


def settle_hubs() -> None:
    """``Hub.settle`` for the hub of every live client."""
    with _hubs_lock:
        hubs = list(_hubs.values())
    for hub in hubs:
        hub.settle()
