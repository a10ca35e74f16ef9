"""The data of the live feed's topics, built from the scheduler's state: plain JSON-able values.

Pure functions and one counter class, no I/O: ``feed.py`` decides when to build
what and whom to send it to. The shapes are the ``data`` of the deltas in
docs/jupyter-api.md ("Live feed").
"""
from __future__ import annotations

import itertools
import operator
import re
from collections import Counter
from typing import Any, Iterable

from ..protocol.keys import key_split
from .state import SchedulerState

THRESHOLDS = {"spill": 0.6, "pause": 0.8, "terminate": 0.95}
MAX_FUTURES = 1000  # futures listed per client
MAX_PREFIXES = 1000  # prefixes whose finished tasks are counted (the least recently active go first)
MAX_TEXT = 4096  # characters of one task output record

# How the scheduler's task states count in a progress bar.
PROGRESS_STATE = {
    "waiting": "waiting", "queued": "waiting", "no-worker": "waiting", "released": "waiting",
    "processing": "processing", "memory": "memory", "erred": "erred", "lost": "erred",
}
_state = operator.attrgetter("state")
_head = operator.itemgetter(0)
_tail = operator.itemgetter(2)
# Tails joined by newlines, each a number or a hash as key_split strips them. The alternatives cannot
# both match one tail and nothing is given back (possessive): a mismatch fails in linear time.
_TAILS = re.compile(r"(?:(?:[0-9a-fA-F]{8,}+|[0-9]{1,7}+)\n)*+(?:[0-9a-fA-F]{8,}+|[0-9]{1,7}+)")


def cluster_view(state: SchedulerState) -> dict:
    """The live part of a ``Cluster`` of docs/jupyter-api.md: workers, threads, memory, task counts,
    and each worker (``kernel`` stays None here: a worker kernel is opened on request, through the REST)."""
    workers = sorted(state.workers.values(), key=lambda w: w.address)
    return {
        "workers": len(workers), "threads": sum(w.nthreads for w in workers),
        "memory": sum(w.metrics.get("memory", 0) for w in workers),
        "memory_limit": sum(w.memory_limit for w in workers), "tasks": state.counts(),
        "worker_list": [
            {"address": w.address, "name": w.name, "nthreads": w.nthreads, "memory": w.metrics.get("memory", 0),
             "memory_limit": w.memory_limit, "cpu": w.metrics.get("cpu", 0.0), "processing": len(w.processing),
             "pid": w.pid, "kernel": None}
            for w in workers
        ],
    }


def prefixes(keys: list) -> list[str]:
    """``key_split`` of each key. Per key it costs a few C calls when, as for every key a client
    makes, each one ends in ``-<hash or number>`` after a non-empty head: the key's prefix is then
    its head's, found once per distinct head. Any other batch goes key by key."""
    try:
        parts = list(map(str.rpartition, keys, itertools.repeat("-")))
    except TypeError:  # a key that is not a string
        return [key_split(k) for k in keys]
    tails = "\n".join(map(_tail, parts))
    heads = list(map(_head, parts))
    if (not keys or not tails.isascii() or tails.count("\n") != len(keys) - 1 or "" in heads
            or _TAILS.fullmatch(tails) is None):
        return [key_split(k) for k in keys]
    of_head = {head: key_split(head) for head in set(heads)}
    return list(map(of_head.__getitem__, heads))


def task_records(state: SchedulerState, records: list[tuple]) -> list[dict]:
    """``tasks`` data from task-stream records (key, worker, start, stop, status)."""
    tasks = state.tasks
    out = []
    for (key, worker, start, stop, status), prefix in zip(records, prefixes([r[0] for r in records])):
        ts = tasks.get(key) if status == "finished" else None
        out.append({"key": key, "prefix": prefix, "worker": worker, "start": start, "stop": stop,
                    "status": status, "nbytes": ts.nbytes if ts is not None else None})
    return out


def transfer_records(worker: str, transfers: Iterable[tuple]) -> list[dict]:
    """``tasks`` data of the inputs ``worker`` fetched: (keys, peer, start, stop, nbytes) each."""
    out = []
    for keys, _peer, start, stop, nbytes in transfers:
        key = keys[0] if keys else ""
        out.append({"key": key, "prefix": key_split(key), "worker": worker, "start": start, "stop": stop,
                    "status": "transfer", "nbytes": nbytes})
    return out


def even_sample(items: list, limit: int) -> list:
    """At most ``limit`` items spread evenly over ``items`` (all of them when they fit)."""
    if len(items) <= limit:
        return items
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


class ProgressCounts:
    """Per task prefix: how many tasks wait, run, are in memory, failed, or finished and were released.

    Tasks the scheduler holds are counted by a scan (``counts``); finished tasks are counted from the
    task stream (``add_finished``; counted at the next scan, in bulk, mostly from the prefixes the scan
    finds anyway), so that ``released`` = finished - in memory survives the tasks being forgotten.
    Nothing here runs per task transition.
    """

    def __init__(self) -> None:
        self.finished: dict[str, int] = {}  # prefix -> finished records seen, least recently active first
        self._pending: list[tuple] = []

    def add_finished(self, records: list[tuple]) -> None:
        """Task-stream records to count (their ``finished`` ones) at the next ``counts``."""
        self._pending.extend(records)

    def counts(self, state: SchedulerState) -> dict[str, dict]:
        """{prefix: {"total", "waiting", "processing", "memory", "erred", "released"}} now."""
        tasks = state.tasks
        keys = list(tasks)
        present = prefixes(keys)
        self._count_finished(dict(zip(keys, present)))
        out: dict[str, dict] = {}
        for (prefix, st), n in Counter(zip(present, map(_state, tasks.values()))).items():
            bucket = PROGRESS_STATE.get(st)
            if bucket is None:
                continue
            row = out.get(prefix)
            if row is None:
                row = out[prefix] = {"total": 0, "waiting": 0, "processing": 0, "memory": 0, "erred": 0,
                                     "released": 0}
            row[bucket] += n
        for prefix, n in self.finished.items():
            row = out.get(prefix)
            if row is None:
                row = out[prefix] = {"total": 0, "waiting": 0, "processing": 0, "memory": 0, "erred": 0,
                                     "released": 0}
            row["released"] = max(n - row["memory"], 0)
        for row in out.values():
            row["total"] = row["waiting"] + row["processing"] + row["memory"] + row["erred"] + row["released"]
        return out

    def _count_finished(self, known: dict[str, str]) -> None:
        """Count the pending finished records by prefix (``known``: the prefixes of current tasks)."""
        keys = [r[0] for r in self._pending if r[4] == "finished"]
        self._pending = []
        found = list(map(known.get, keys))
        if None in found:  # tasks forgotten since they finished
            found = [p for p in found if p is not None] + prefixes([k for k in keys if k not in known])
        finished = self.finished
        for prefix, n in Counter(found).items():
            finished[prefix] = finished.pop(prefix, 0) + n  # re-inserted last: the dict's order is recency
        while len(finished) > MAX_PREFIXES:
            del finished[next(iter(finished))]


def workers_view(state: SchedulerState) -> list[dict]:
    """``workers`` data: each worker with its latest metrics."""
    out = []
    for ws in state.workers.values():
        m = ws.metrics
        memory = m.get("memory", 0)
        managed = m.get("managed", ws.nbytes)
        out.append({
            "address": ws.address, "name": ws.name, "nthreads": ws.nthreads, "cpu": m.get("cpu", 0.0),
            "memory": memory, "managed": managed, "spilled": m.get("spilled", 0),
            "unmanaged": m.get("unmanaged", max(memory - managed, 0)),
            "memory_limit": m.get("memory_limit", ws.memory_limit), "thresholds": m.get("thresholds", THRESHOLDS),
            "paused": bool(m.get("paused", False)), "processing": len(ws.processing),
            "in_memory": len(ws.has_what), "time": m.get("time"),
        })
    return out


def clients_view(state: SchedulerState, clients: dict[str, dict], cells: dict[str, dict]) -> list[dict]:
    """``clients`` data: for each client in ``clients`` (id -> its register-client info), what it holds."""
    out = []
    for client in sorted(clients):
        info = clients[client]
        held = state.clients.get(client) or ()
        nbytes = 0
        for ts in held:
            if ts.state == "memory":
                nbytes += ts.nbytes
        cell_of = cells.get(client, {})
        futures = [{"key": ts.key, "state": ts.state, "nbytes": ts.nbytes if ts.state == "memory" else None,
                    "worker": _worker_of(ts), "cell": cell_of.get(ts.key)}
                   for ts in itertools.islice(held, MAX_FUTURES)]
        out.append({"client": client, "kernel_id": info.get("kernel_id"), "notebook": info.get("notebook"),
                    "held": len(held), "bytes": nbytes, "futures": futures})
    return out


def _worker_of(ts: Any) -> str | None:
    if ts.processing_on is not None:
        return ts.processing_on.address
    for ws in ts.who_has:
        return ws.address
    return None


def output_record(time: float, worker: str, key: str, stream: str, text: str) -> dict:
    """A ``logs`` record of what task ``key`` wrote to ``stream`` (text cut at ``MAX_TEXT``)."""
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + f"... [{len(text) - MAX_TEXT} more characters]"
    return {"time": time, "worker": worker, "kind": "stderr" if stream == "stderr" else "stdout", "level": None,
            "name": None, "key": key, "text": text}
