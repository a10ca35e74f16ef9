"""``ProgressModel``: how many of a set of futures finished, erred or were cancelled, per function name."""
from __future__ import annotations

import time
from typing import Iterable

from ..client.future import DONE_STATES
from .render import ALREADY_COMPUTED, key_split, progress_html, progress_text

RECONCILE_AFTER = 1.0  # seconds without events after which pending futures are checked once


class ProgressModel:
    """Counts of finished / erred / cancelled futures per function name, updated by client events.

    Fed on the client's loop thread (``on_states``, ``reconcile``); read from any thread.
    """

    def __init__(self, futures: list, title: str = ""):
        self.title = title
        self.started = time.time()
        self.stopped: float | None = None
        self.last_change = time.monotonic()
        self._groups: dict[str, list[int]] = {}  # name -> [total, finished, erred, cancelled]
        self._pending: dict[str, tuple] = {}  # key -> (its group's counters, its state), while not done
        self._done_keys: set[str] = set()  # keys already done when shown (to count a repeated one once)
        self.clients: list = []
        names: dict[str, str] = {}  # "inc-<40 hex>" -> "inc", once per function (100,000 keys: fast)
        pending, done_keys, groups, clients = self._pending, self._done_keys, self._groups, self.clients
        for f in futures:
            key = f.key
            st = f.state
            done = st.status in DONE_STATES
            if key in pending or (done and key in done_keys):  # equal pure calls share a key: count once
                continue
            head, _, tail = key.rpartition("-")
            if len(tail) in (32, 40):  # a generated key: its head is the name
                name = names.get(head)
                if name is None:
                    name = names[head] = key_split(key)
            else:
                name = key_split(key)
            g = groups.get(name)
            if g is None:
                g = groups[name] = [0, 0, 0, 0]
            g[0] += 1
            if done:
                done_keys.add(key)
                _count(g, st.status)
                continue
            client = f.client
            if client not in clients:
                if not hasattr(type(client), "subscribe"):  # released with .release(): it will not finish here
                    g[3] += 1
                    continue
                clients.append(client)
            pending[key] = (g, st)
        self.note = ""
        if not pending:  # all done already: show how long they took to run
            states = [f.state for f in futures]
            runs = [st.ran for st in states if st.ran is not None]
            if runs:
                self.started = min(r[0] for r in runs)
                self.stopped = max(r[1] for r in runs)
            elif states:
                self.started = min(st.submitted for st in states)
                self.stopped = max(st.stopped or st.submitted for st in states)
            else:
                self.stopped = self.started
            if any(st.earlier for st in states):
                self.note = ALREADY_COMPUTED

    def on_states(self, states: Iterable) -> bool:
        """Count the states that reached a final status; True if this changed the counts.
        (Called on the client's loop thread for every batch of task events: kept lean.)"""
        pending = self._pending
        changed = False
        for st in states:
            if st.status in DONE_STATES:
                item = pending.get(st.key)
                if item is not None:
                    # Counted before it leaves ``pending``: a render that sees the model complete
                    # (another thread) sees every count.
                    _count(item[0], st.status)
                    del pending[st.key]
                    changed = True
        if changed:
            self.last_change = time.monotonic()
            if not pending:
                self.stopped = time.time()
        return changed

    def reconcile(self) -> bool:
        """Count pending futures that are done though no event said so (cancelled by ``client.cancel``,
        failed as the client closed). Called on the loop thread when no event came for a while."""
        return self.on_states([st for _, st in list(self._pending.values())])

    def quiet(self) -> bool:
        """True, once per ``RECONCILE_AFTER`` seconds, when no event came for that long: time to reconcile."""
        now = time.monotonic()
        if now - self.last_change <= RECONCILE_AFTER:
            return False
        self.last_change = now
        return True

    @property
    def complete(self) -> bool:
        return not self._pending

    def groups(self) -> list[dict]:
        """[{name, total, finished, erred, cancelled}] in order of first appearance."""
        return [{"name": name, "total": g[0], "finished": g[1], "erred": g[2], "cancelled": g[3]}
                for name, g in list(self._groups.items())]

    def elapsed(self) -> float:
        return (self.stopped or time.time()) - self.started

    def html(self) -> str:
        return progress_html(self.groups(), self.elapsed(), self.title, self.note)

    def text(self) -> str:
        return progress_text(self.groups(), self.elapsed(), self.title, self.note)


def _count(g: list[int], status: str) -> None:
    if status == "finished":
        g[1] += 1
    elif status == "error":
        g[2] += 1
    else:  # cancelled or lost
        g[3] += 1
