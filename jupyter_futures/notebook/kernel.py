"""The notebook layer inside a Jupyter kernel: which cell made which futures, and what follows from it.

* Task output goes to the cell that submitted the task, live, each line marked
  ``[key @ worker]``: the kernel sends it as a ``stream`` message whose parent is
  that cell's execute request, so JupyterLab and Notebook 7 show it under that cell
  even after the cell finished.
* A KeyboardInterrupt (the stop button, Ctrl-C) that ends a cell cancels the
  unfinished futures that cell submitted, running ones included.
* Lists, tuples, sets and dicts of futures display as one aggregate widget (``formatters``).

``attach(client)`` wires a client in (idempotent); it is called when a client starts in a kernel
(the hook ``jupyter_futures/__init__.py`` plugs into the client), on the first display of a future
or client, by the ``%futures`` magics, by ``%load_ext jupyter_futures`` for every client, and at the
start of each cell for clients made since.
"""
from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import weakref
from collections import OrderedDict
from typing import Any

from ..client import current
from ..protocol import messages
from ..client.future import Future
from ..client.identity import kernel_info
from ..client.output import line_mark
from . import render, shells
from .displays import Displays
from .env import ipython_shell, kernel_shell
from .formatters import register_formatters, unregister_formatters
from .hub import FLUSHER, hub_for, settle_hubs
from .render import short_address

logger = logging.getLogger("jupyter_futures.notebook")

MAX_CELLS = 200  # cells remembered for routing output and cancelling
MAX_KEYS = 500_000  # keys remembered across those cells (about 50 MB at most)
ANNOTATE_INTERVAL = 0.3  # seconds submitted keys wait before their cells are told to the scheduler


class _Cell:
    __slots__ = ("msg_id", "parent", "batches", "nkeys", "cell_id")

    def __init__(self, msg_id: str, parent: dict, cell_id: str | None = None):
        self.msg_id = msg_id
        self.parent = parent  # the header of the cell's execute request: stream messages name it as parent
        self.batches: list[tuple[Any, list]] = []  # (weakref to client, keys) per submit/map call
        self.nkeys = 0
        self.cell_id = cell_id or msg_id  # the notebook's cell id when the frontend sent it


class _Annotations:
    """Which cell submitted which keys, told to each client's scheduler in batches
    (``("annotate-keys", {key: cell id})``, at most every ``ANNOTATE_INTERVAL`` seconds per client),
    so that the cluster's live feed can show the cell of every future. A submit only appends here."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[Any, list[tuple[list, str]]] = {}  # weakref to client -> (keys, cell id)

    def add(self, client_ref: Any, keys: list, cell_id: str) -> None:
        """Queue ``keys`` as submitted by cell ``cell_id`` (any thread)."""
        with self._lock:
            batch = self._pending.get(client_ref)
            if batch is not None:
                batch.append((keys, cell_id))
                return
            self._pending[client_ref] = [(keys, cell_id)]
        client = client_ref()
        if client is None:
            return
        try:
            client.loop.call_soon_threadsafe(client.loop.call_later, ANNOTATE_INTERVAL, self._send, client_ref)
        except RuntimeError:  # the client's loop is closed
            with self._lock:
                self._pending.pop(client_ref, None)

    def _send(self, client_ref: Any) -> None:
        with self._lock:
            batch = self._pending.pop(client_ref, None)
        client = client_ref()
        if not batch or client is None or client.status != "running":
            return
        cells: dict[str, str] = {}
        for keys, cell_id in batch:
            cells.update(dict.fromkeys(keys, cell_id))
        try:
            client.outbox.send(messages.annotate_keys(cells))
        except Exception:  # closing: nobody needs to know any more
            logger.debug("could not send the cells of submitted keys", exc_info=True)


def _kernel_id() -> str | None:
    """This kernel's id (from its connection file's name), if it has one."""
    return kernel_info().get("kernel_id")


def _header(parent: Any) -> dict:
    if not isinstance(parent, dict):
        return {}
    return parent.get("header", parent) or {}


class _OutputSink:
    """Task output waiting to be sent to its cells; flushed by the widget flusher (at most ~10 times a second).

    Whole lines go out marked ``[key @ worker]``; a line still being written waits for its end (for at
    most ``PARTIAL_WAIT`` seconds), so ``print("a", x)`` arriving in pieces stays one marked line.
    """

    PARTIAL_WAIT = 0.3
    # Output is sent at once (in order with results) up to BURST messages, refilled at RATE a second;
    # past that (a task printing in a tight loop), it is batched by the flusher, ~10 messages a second.
    BURST = 50
    RATE = 20.0

    def __init__(self, integration: Integration):
        self.integration = integration
        self._lock = threading.Lock()
        self._pending: list[tuple[dict, str, str]] = []
        self._partial: dict[tuple[str, str], list] = {}  # (key, stream) -> [parent, prefix, text, since]
        self._continued: set[tuple[str, str]] = set()  # lines already shown in part: no second mark
        self._ticking = False
        self._last_direct = time.monotonic()
        self._tokens = float(self.BURST)

    def add(self, parent: dict, key: str, worker: str, stream: str, text: str) -> None:
        prefix = line_mark(key, short_address(worker))
        ident = (key, stream)
        with self._lock:
            buf = self._partial.pop(ident, None)
            if buf is not None:
                text = buf[2] + text
            lines = text.splitlines(keepends=True)
            if lines and not lines[-1].endswith(("\n", "\r")):
                self._partial[ident] = [parent, prefix, lines.pop(), buf[3] if buf else time.monotonic()]
            if lines:
                marked = "".join(prefix + line for line in lines)
                if ident in self._continued:
                    self._continued.discard(ident)
                    marked = marked[len(prefix):]
                self._pending.append((parent, stream, marked))
            tick = bool(self._partial) and not self._ticking
            if tick:
                self._ticking = True
            now = time.monotonic()
            self._tokens = min(self.BURST, self._tokens + (now - self._last_direct) * self.RATE)
            self._last_direct = now
            direct = self._tokens >= 1
            if direct:
                self._tokens -= 1
        if tick:
            FLUSHER.start_ticking(self)
        if direct:
            # Now, on the client's loop: the text is published before the task's result can be shown.
            self.flush_view()
        else:  # a burst: batched, at most ~10 messages a second
            FLUSHER.mark((self,))

    def flush_view(self, force: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            for ident, (parent, prefix, text, since) in list(self._partial.items()):
                if force or now - since >= self.PARTIAL_WAIT:
                    del self._partial[ident]
                    if ident in self._continued:
                        prefix = ""
                    self._continued.add(ident)
                    self._pending.append((parent, ident[1], prefix + text))
            items, self._pending = self._pending, []
            untick = self._ticking and not self._partial
            if untick:
                self._ticking = False
        if untick:
            FLUSHER.stop_ticking(self)
        merged: list[list] = []
        for parent, stream, text in items:
            if merged and merged[-1][0] is parent and merged[-1][1] == stream:
                merged[-1][2] += text
            else:
                merged.append([parent, stream, text])
        for parent, stream, text in merged:
            self.integration.send_stream(parent, stream, text)


class Integration:
    """One per IPython shell: cell tracking, output routing, interrupt handling, container display."""

    def __init__(self, shell: Any):
        self.shell = shell
        self.kernel = getattr(shell, "kernel", None)
        self.clients: "weakref.WeakSet[Any]" = weakref.WeakSet()
        self.cells: OrderedDict[str, _Cell] = OrderedDict()
        self.current: _Cell | None = None
        self.last: _Cell | None = None  # the cell that ran last
        self._index: dict[str, _Cell] = {}
        self._unindexed: list[tuple[_Cell, list]] = []
        self._nkeys = 0
        self._lock = threading.RLock()
        self._sink = _OutputSink(self)
        self._annotations = _Annotations()
        self.displays = Displays(shell, _kernel_id()) if self.kernel is not None else None
        self._open = False
        self.open()

    def _cell_events(self) -> tuple:
        return (("pre_run_cell", self.pre_run_cell), ("post_run_cell", self.post_run_cell))

    def open(self) -> None:
        """Hook into the shell: cell events (in a kernel), displays of containers, traceback sources."""
        if self._open:
            return
        self._open = True
        if self.kernel is not None:
            for name, fn in self._cell_events():
                self.shell.events.register(name, fn)
            self.displays.open()
        register_formatters(self.shell)
        render.SOURCE_HOOKS["resolve"] = self.resolve_source
        render.SOURCE_HOOKS["label"] = self.label_source

    def close(self) -> None:
        """Undo ``open`` (``%unload_ext``); attached clients stay attached, and ``open`` hooks in again."""
        if not self._open:
            return
        self._open = False
        if self.kernel is not None:
            for name, fn in self._cell_events():
                try:
                    self.shell.events.unregister(name, fn)
                except ValueError:
                    pass
            self.displays.close()
        unregister_formatters(self.shell)

    def resolve_source(self, filename: str, lineno: int, name: str) -> str | None:
        """The file of a notebook function whose code lost its file name in pickling ("<dynamic-code>"):
        a function or method of that name in the notebook whose lines include ``lineno``."""
        if filename != "<dynamic-code>":
            return None
        ns = self.shell.user_ns
        candidates = [ns.get(name)]
        for obj in list(ns.values()):
            if isinstance(obj, type) and getattr(obj, "__module__", None) == "__main__":
                candidates.append(obj.__dict__.get(name))
        for fn in candidates:
            fn = getattr(fn, "__func__", fn)
            code = getattr(fn, "__code__", None)
            if code is None or code.co_name != name:
                continue
            lines = [line for _, _, line in code.co_lines() if line is not None]
            if lines and code.co_firstlineno <= lineno <= max(lines):
                return code.co_filename
        return None

    def label_source(self, filename: str) -> tuple[str, str] | None:
        """("Cell", "In[3]") for a notebook cell's file, as IPython labels it."""
        fmt = getattr(getattr(self.shell, "compile", None), "format_code_name", None)
        return fmt(filename) if fmt is not None else None

    # -- clients -----------------------------------------------------------------------------------------
    def attach(self, client: Any) -> None:
        """Route this client's task output to cells and track its submissions (once per client)."""
        if self.kernel is None or client in self.clients or not hasattr(client, "on_submit"):
            return
        with self._lock:
            if client in self.clients:
                return
            self.clients.add(client)
        hub_for(client)
        ref = weakref.ref(client)
        client.on_submit(lambda keys: self.submitted(ref, keys))
        client.subscribe_output(self.task_output)

    def attach_all(self) -> None:
        """Attach every running client of this process (clients made since the last cell)."""
        for client in current.clients():
            if client.status in ("running", "connecting"):
                self.attach(client)

    # -- cells -------------------------------------------------------------------------------------------
    def _parent(self) -> dict:
        parent = None
        try:
            parent = self.shell.parent_header
        except Exception:
            pass
        if not parent and self.kernel is not None:
            try:
                parent = self.kernel.get_parent()
            except Exception:
                parent = None
        return parent or {}

    def _cell_for(self, parent: dict) -> _Cell | None:
        header = _header(parent)
        msg_id = header.get("msg_id")
        if not msg_id:
            return None
        cell = self.cells.get(msg_id)
        if cell is None:
            metadata = parent.get("metadata") if isinstance(parent, dict) else None
            cell_id = metadata.get("cellId") if isinstance(metadata, dict) else None
            cell = self.cells[msg_id] = _Cell(msg_id, dict(header), cell_id if isinstance(cell_id, str) else None)
            while len(self.cells) > MAX_CELLS:
                self._forget(self.cells.popitem(last=False)[1])
        return cell

    def _forget(self, cell: _Cell) -> None:
        self._nkeys -= cell.nkeys
        for _, keys in cell.batches:
            for k in keys:
                if self._index.get(k) is cell:
                    del self._index[k]
        self._unindexed = [(c, ks) for c, ks in self._unindexed if c is not cell]

    def pre_run_cell(self, info: Any = None) -> None:
        if self.displays is not None:
            self.displays.open()  # its hooks are per thread: this is the thread that runs cells
        self.attach_all()
        with self._lock:
            self.current = self._cell_for(self._parent())

    def submitted(self, client_ref: Any, keys: list) -> None:
        """``client.on_submit``: remember which cell made these keys (in the submitting thread; O(1))."""
        with self._lock:
            cell = self._cell_for(self._parent())
            if cell is None:
                return
            cell.batches.append((client_ref, keys))
            cell.nkeys += len(keys)
            self._nkeys += len(keys)
            self._unindexed.append((cell, keys))
            while self._nkeys > MAX_KEYS and len(self.cells) > 1:
                self._forget(self.cells.popitem(last=False)[1])
        self._annotations.add(client_ref, keys, cell.cell_id)

    def post_run_cell(self, result: Any = None) -> None:
        with self._lock:
            cell, self.current = self.current, None
            self.last = cell or self.last
        err = getattr(result, "error_in_exec", None)
        if isinstance(err, KeyboardInterrupt) and cell is not None:
            self.cancel_cell(cell)
        self._sink.flush_view(force=True)  # output that arrived while the cell ran lands before its reply
        settle_hubs()
        FLUSHER.flush_pending()  # and so do the updates of displays

    def cancel_cell(self, cell: _Cell) -> int:
        """Cancel the unfinished futures ``cell`` submitted; returns how many."""
        total = running = 0
        by_client: dict[Any, dict] = {}
        for ref, keys in cell.batches:
            client = ref()
            if client is not None:
                by_client.setdefault(client, {}).update(dict.fromkeys(keys))
        for client, keys in by_client.items():
            if client.status != "running":
                continue
            table = client.futures
            futures = []
            for k in keys:
                st = table.get(k)
                if st is not None and not st.done():
                    futures.append(Future(k, client))
                    running += st.status == "running"
            if not futures:
                continue
            try:
                out = client.cancel(futures)
                if asyncio.iscoroutine(out):
                    asyncio.ensure_future(out, loop=client.loop)
            except Exception as exc:  # noqa: BLE001
                print(f"jupyter_futures: could not cancel this cell's futures: {exc}", file=sys.stderr)
                continue
            total += len(futures)
        if total:
            print(f"KeyboardInterrupt: cancelled {total} unfinished future{'s' if total != 1 else ''} "
                  f"this cell submitted ({running} running)", file=sys.stderr)
        return total

    # -- task output -------------------------------------------------------------------------------------
    def _cell_of_key(self, key: str) -> _Cell | None:
        cell = self._index.get(key)
        if cell is None and self._unindexed:
            with self._lock:
                for c, keys in self._unindexed:
                    for k in keys:
                        self._index[k] = c
                self._unindexed = []
            cell = self._index.get(key)
        return cell

    def task_output(self, key: str, worker: str, stream: str, text: str) -> None:
        """``client.subscribe_output``: queue ``text`` for the cell that submitted ``key`` (client loop thread)."""
        cell = self._cell_of_key(key)
        if cell is None:
            # Unknown key: output that overtook its submit's notification (it goes to the cell running now),
            # or a task someone else submitted. Not self._parent(): on this thread it may name an old cell.
            cell = self.current or self.last
        parent = cell.parent if cell is not None else {}
        self._sink.add(parent, key, worker, "stderr" if stream == "stderr" else "stdout", text)

    def send_stream(self, parent: dict, stream: str, text: str) -> None:
        """Publish ``text`` as a stream message under ``parent`` (a cell's execute request)."""
        kernel = self.kernel
        if kernel is None:
            (sys.stderr if stream == "stderr" else sys.stdout).write(text)
            return
        try:
            kernel.session.send(kernel.iopub_socket, "stream", {"name": stream, "text": text},
                                parent=parent or None, ident=f"stream.{stream}".encode())
        except Exception:  # the kernel is shutting down
            logger.debug("could not send task output", exc_info=True)


def integration(shell: Any = None, create: bool = True) -> Integration | None:
    """The integration for ``shell`` (default: the running IPython shell), made on first use if ``create``."""
    shell = shell or kernel_shell() or ipython_shell()
    if shell is None:
        return None
    it = shells.find(shell)
    if it is None and create:
        it = Integration(shell)
        shells.keep(shell, it)
    return it


def attach(client: Any) -> None:
    """In a Jupyter kernel: wire ``client`` into the notebook layer (a no-op elsewhere or when done)."""
    shell = kernel_shell()
    if shell is None:
        return
    it = integration(shell)
    if it is not None:
        it.attach(client)
