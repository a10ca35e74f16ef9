"""``progress(futures)``: live bars per function name in a notebook, a blocking text bar in a terminal."""
from __future__ import annotations

import sys
import threading
from typing import Any

from ..client.structure import find_futures
from .counts import ProgressModel
from .env import kernel_shell
from .render import progress_totals

def progress(*futures: Any, notebook: bool | None = None, multi: bool = True, complete: bool = True,
             group_by: Any = "prefix", **kwargs: Any) -> None:
    """Show the progress of futures (given one by one, or in lists, dicts, nested).

    In a Jupyter kernel: one live bar per function name with done / erred / total, displayed at once;
    the call returns immediately. Elsewhere (a script, a terminal): a text bar on stderr, and the call
    blocks until every future is done, like dask's ``progress``. ``multi``, ``complete`` and ``group_by``
    are accepted for dask's sake; the bars are always per function name, finished ones kept.
    """
    found = find_futures(list(futures))
    if notebook is None:
        notebook = kernel_shell() is not None
    if notebook:
        from IPython.display import display

        from .reprs import progress_bundle

        display(progress_bundle(found), raw=True)
        return None
    TextProgressBar(found, **kwargs).run()
    return None


class TextProgressBar:
    """``[#####        ] | 40% Completed |  1.2s`` on stderr, redrawn until every future is done."""

    def __init__(self, futures: list, width: int = 40, interval: float = 0.1, stream: Any = None, **kwargs: Any):
        self.model = ProgressModel(futures)
        self.width = width
        self.interval = float(str(interval).rstrip("ms")) / (1000 if str(interval).endswith("ms") else 1)
        self.stream = stream or sys.stderr
        self._wake = threading.Event()

    def on_states(self, states: list) -> bool:
        if self.model.on_states(states):
            self._wake.set()
        return False  # nothing for the flusher to render

    def _reconcile(self) -> None:
        if self.model.reconcile():
            self._wake.set()

    def run(self) -> None:
        from .hub import hub_for

        hubs = [hub_for(c) for c in self.model.clients]
        for hub in hubs:
            hub.add_multi_view(self)
        try:
            while not self.model.complete:
                self.draw()
                self._wake.wait(self.interval)
                self._wake.clear()
                if self.model.quiet():
                    for hub in hubs:
                        hub.call_soon(self._reconcile)
            self.draw()
            self.stream.write("\n")
            self.stream.flush()
        finally:
            for hub in hubs:
                hub.remove_multi_view(self)

    def draw(self) -> None:
        totals = progress_totals(self.model.groups())
        erred = totals["erred"]
        frac = totals["done"] / (totals["total"] or 1)
        bar = "#" * int(self.width * frac)
        extra = f" | {erred} erred" if erred else ""
        self.stream.write(f"\r[{bar:<{self.width}}] | {frac * 100:3.0f}% Completed | {self.model.elapsed():5.1f}s{extra}")
        self.stream.flush()
