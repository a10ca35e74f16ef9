"""Statistical profiler of a worker's task threads.

One sampler thread per worker process. While tasks execute it takes the stacks
of the executor threads that run them every ``interval`` seconds (10 ms by
default) and adds each stack, outermost frame first and starting below the
worker's own frames, to a call tree. With no task running it blocks on an event,
so an idle worker pays nothing.

Trees are kept in one-second time buckets, one tree per key prefix (``inc`` for
``inc-<hash>``), so that ``get(start, stop, key)`` can select a time window and a
function; the trees of the most recently sampled keys are also kept whole, so
``key`` may be a full key too. History is bounded by age, bucket count and node
count.

``get`` returns the tree in dask's format::

    {"description": {"filename", "line_number", "name", "line"},
     "identifier": str, "count": int, "children": {identifier: node}}

whose root has identifier ``"root"``. Set ``JUPYTER_FUTURES_PROFILE_INTERVAL``
(seconds; ``0`` turns sampling off) in the environment of the worker process to
change the interval.
"""
from __future__ import annotations

import asyncio
import linecache
import logging
import os
import sys
import threading
import time
from collections import OrderedDict, deque
from types import CodeType

from ..protocol.keys import key_split

logger = logging.getLogger("jupyter_futures.worker")

INTERVAL_ENV = "JUPYTER_FUTURES_PROFILE_INTERVAL"
DEFAULT_INTERVAL = 0.01  # seconds between samples while tasks run
BUCKET = 1.0  # seconds of samples per time bucket
HISTORY = 3600.0  # seconds of buckets kept
MAX_BUCKETS = 3600
MAX_NODES = 250_000  # tree nodes kept over all buckets; the oldest buckets go first
MAX_KEYS = 1000  # full-key trees kept (most recently sampled keys)
MAX_CODE_IDS = 20_000


def interval_from_env(default: float = DEFAULT_INTERVAL) -> float:
    """The sampling interval (seconds) set in the environment; 0 means off."""
    raw = os.environ.get(INTERVAL_ENV, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        logger.warning("ignoring %s=%r: not a number of seconds", INTERVAL_ENV, raw)
        return default
    return max(value, 0.0)


# A node is [count, {identifier: node}]: compact while sampling, converted to dicts on request.

def _new() -> list:
    return [0, {}]


def _merge_into(dst: list, src: list) -> None:
    dst[0] += src[0]
    children = dst[1]
    for ident, child in src[1].items():
        mine = children.get(ident)
        if mine is None:
            children[ident] = mine = [0, {}]
        _merge_into(mine, child)


def _size(node: list) -> int:
    return 1 + sum(_size(c) for c in node[1].values())


def identifier(code: CodeType) -> str:
    """``name;filename;first line`` of a code object: one node per function, as dask does."""
    return f"{code.co_name};{code.co_filename};{code.co_firstlineno}"


def description(ident: str) -> dict:
    """The ``description`` of a tree node from its identifier."""
    if ident == "root":
        return {"filename": "", "line_number": 0, "name": "root", "line": ""}
    name, _, rest = ident.partition(";")
    filename, _, line = rest.rpartition(";")
    try:
        lineno = int(line)
    except ValueError:
        filename, lineno = rest, 0
    text = linecache.getline(filename, lineno).strip() if lineno else ""
    return {"filename": filename, "line_number": lineno, "name": name, "line": text}


def to_dict(node: list, ident: str = "root") -> dict:
    """A compact node (and its subtree) in dask's dict format."""
    return {
        "description": description(ident),
        "identifier": ident,
        "count": node[0],
        "children": {i: to_dict(c, i) for i, c in node[1].items()},
    }


def empty_tree() -> dict:
    """A tree with no samples."""
    return to_dict(_new())


class _Bucket:
    __slots__ = ("start", "first", "last", "trees", "nodes")

    def __init__(self, start: float):
        self.start = start
        self.first = float("inf")  # time of its first and last sample
        self.last = 0.0
        self.trees: dict[str, list] = {}  # key prefix -> [first sample time, last, tree]
        self.nodes = 0


class Profiler:
    """Samples the stacks of the threads in ``executing`` (thread ident -> task with ``.key``).

    ``stop_code`` is the code object of the worker frame that calls a task's
    function: the frames below it are the task's. Call ``wake()`` whenever a task
    starts; ``get()`` returns the merged tree of a time window and key.
    """

    def __init__(self, executing: dict, stop_code: CodeType, interval: float | None = None):
        self.executing = executing
        self.stop_code = stop_code
        self.interval = interval_from_env() if interval is None else max(float(interval), 0.0)
        self.enabled = self.interval > 0
        self._wake = threading.Event()
        self._wake.set()  # when off it stays set, so that wake() is a single flag check
        self._generation = 0  # a sampler thread runs while this is the one it started with
        self._started = False
        self._closed = False
        self._lock = threading.Lock()
        self._buckets: deque[_Bucket] = deque()
        self._nodes = 0
        self._keys: OrderedDict[str, list] = OrderedDict()  # key -> [first, last, tree]
        self._ids: dict[CodeType, str] = {}
        self._thread: threading.Thread | None = None
        self.samples = 0

    def start(self) -> Profiler:
        """Start the sampler thread (unless sampling is off)."""
        self._started = True
        if self.enabled and self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._run, args=(self._wake, self._generation, self.interval),
                                            name="jf-profile", daemon=True)
            self._thread.start()
        return self

    def set_interval(self, interval: float) -> None:
        """Sample every ``interval`` seconds from now on; 0 turns sampling off.

        E.g. ``client.run(lambda dask_worker: dask_worker.profiler.set_interval(0))``.
        """
        old = self._wake
        self.interval = max(float(interval), 0.0)
        self.enabled = self.interval > 0
        self._generation += 1
        self._wake = threading.Event()
        self._wake.set()  # off: stays set; on: the new thread first looks for running tasks
        old.set()  # the previous sampler thread wakes up, sees a new generation and ends
        self._thread = None
        if self._started:
            self.start()

    def close(self) -> None:
        """Stop the sampler thread."""
        self._closed = True
        self._wake.set()

    def wake(self) -> None:
        """A task starts: sample until no task runs (cheap when already sampling)."""
        if not self._wake.is_set():
            self._wake.set()

    # -- sampling (the sampler thread) -----------------------------------------
    def _run(self, wake: threading.Event, generation: int, interval: float) -> None:
        def current() -> bool:
            return not self._closed and self._generation == generation

        while True:
            wake.wait()
            if not current():
                return
            # Clear before looking: a task that starts after this sets the flag again.
            wake.clear()
            due = time.monotonic()
            while current():
                try:
                    busy = self._sample()
                except Exception:  # never let a sampling bug stop the worker or the sampler
                    logger.exception("profiler sample failed")
                    busy = bool(self.executing)
                if not busy:
                    break
                # A steady cadence: waiting for the GIL after a sleep counts towards the interval.
                due += interval
                delay = due - time.monotonic()
                if delay <= 0:
                    due, delay = time.monotonic(), interval / 2
                time.sleep(delay)

    def _sample(self) -> bool:
        """Add one sample of every running task; False when none runs."""
        running = list(self.executing.items())
        if not running:
            return False
        frames = sys._current_frames()
        now = time.time()
        stop_code = self.stop_code
        stacks = []
        for ident, task in running:
            frame = frames.get(ident)
            codes = []
            while frame is not None and frame.f_code is not stop_code:
                codes.append(frame.f_code)
                frame = frame.f_back
            if frame is not None:  # inside the task (not in the worker's bookkeeping around it)
                codes.reverse()
                stacks.append((task.key, codes))
        del frames
        if stacks:
            self._add(stacks, now)
        return True

    def _ids_of(self, codes: list) -> list[str]:
        ids = self._ids
        out = []
        for code in codes:
            i = ids.get(code)
            if i is None:
                if len(ids) > MAX_CODE_IDS:
                    ids.clear()
                i = ids[code] = identifier(code)
            out.append(i)
        return out

    def _add(self, stacks: list, now: float) -> None:
        with self._lock:
            bucket = self._bucket(now)
            for key, codes in stacks:
                path = self._ids_of(codes)
                prefix = key_split(key)
                ptree = bucket.trees.get(prefix)
                new = 0
                if ptree is None:
                    ptree = bucket.trees[prefix] = [now, now, _new()]
                    new = 1
                ptree[1] = now
                new += _insert(ptree[2], path)
                bucket.nodes += new
                self._nodes += new
                entry = self._keys.get(key)
                if entry is None:
                    entry = self._keys[key] = [now, now, _new()]
                    if len(self._keys) > MAX_KEYS:
                        self._keys.popitem(last=False)
                else:
                    self._keys.move_to_end(key)
                    entry[1] = now
                _insert(entry[2], path)
                self.samples += 1
            bucket.first = min(bucket.first, now)
            bucket.last = now
            self._trim(now)

    def _bucket(self, now: float) -> _Bucket:
        start = now - now % BUCKET
        buckets = self._buckets
        if buckets and buckets[-1].start == start:
            return buckets[-1]
        bucket = _Bucket(start)
        buckets.append(bucket)
        return bucket

    def _trim(self, now: float) -> None:
        buckets = self._buckets
        while len(buckets) > 1 and (len(buckets) > MAX_BUCKETS or self._nodes > MAX_NODES
                                    or buckets[0].last < now - HISTORY):
            self._nodes -= buckets.popleft().nodes

    # -- queries --------------------------------------------------------------
    def get(self, start: float | None = None, stop: float | None = None, key: str | None = None,
            keys: list | None = None) -> dict:
        """The call tree of the samples taken between ``start`` and ``stop`` (epoch seconds) of
        tasks whose key or key prefix is ``key`` (all tasks when None), or of the tasks ``keys``
        (full keys among the last ``MAX_KEYS`` sampled)."""
        lo = float("-inf") if start is None else float(start)
        hi = float("inf") if stop is None else float(stop)
        merged = _new()
        with self._lock:
            entry = self._keys.get(key) if key is not None and key_split(key) != key else None
            if keys is not None:
                for k in keys:
                    found = self._keys.get(k)
                    if found is not None and found[0] <= hi and found[1] >= lo:
                        _merge_into(merged, found[2])
            elif entry is not None:
                if entry[0] <= hi and entry[1] >= lo:
                    _merge_into(merged, entry[2])
            else:
                for bucket in self._buckets:
                    if bucket.last < lo or bucket.first > hi:
                        continue
                    for prefix, (first, last, tree) in bucket.trees.items():
                        if (key is None or prefix == key) and first <= hi and last >= lo:
                            _merge_into(merged, tree)
        return to_dict(merged)

    async def handle(self, start: float | None = None, stop: float | None = None, key: str | None = None,
                     keys: list | None = None) -> dict:
        """The ``profile`` request: ``get`` off the event loop (merging an hour of samples takes a moment)."""
        return await asyncio.to_thread(self.get, start, stop, key, keys)

    def stacks(self) -> list[dict]:
        """The current stack of every running task, innermost frame last:
        ``[{"key", "thread", "frames": [{"filename", "line_number", "name", "line"}]}]``."""
        running = list(self.executing.items())
        frames = sys._current_frames()
        names = {t.ident: t.name for t in threading.enumerate()}
        out = []
        for ident, task in running:
            frame = frames.get(ident)
            stack = []
            while frame is not None and frame.f_code is not self.stop_code:
                code = frame.f_code
                lineno = frame.f_lineno or 0
                stack.append({"filename": code.co_filename, "line_number": lineno, "name": code.co_name,
                              "line": linecache.getline(code.co_filename, lineno).strip() if lineno else ""})
                frame = frame.f_back
            if frame is None:  # not inside the task's own call (starting or finishing): no task frames
                stack = []
            stack.reverse()
            out.append({"key": task.key, "thread": names.get(ident, str(ident)), "frames": stack})
        del frames
        return out

    def info(self) -> dict:
        """How much the profiler holds (for tests and diagnostics)."""
        with self._lock:
            return {"enabled": self.enabled, "interval": self.interval, "samples": self.samples,
                    "buckets": len(self._buckets), "nodes": self._nodes,
                    "keys": len(self._keys)}


def _insert(tree: list, path: list[str]) -> int:
    """Count one sample along ``path`` (identifiers, outermost first); returns the number of new nodes."""
    new = 0
    node = tree
    node[0] += 1
    for ident in path:
        children = node[1]
        child = children.get(ident)
        if child is None:
            children[ident] = child = [0, {}]
            new += 1
        child[0] += 1
        node = child
    return new
