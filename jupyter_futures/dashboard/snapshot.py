"""What the dashboard shows: plain-JSON snapshots of the scheduler's state."""
from __future__ import annotations

import os
import time
from collections import Counter, defaultdict
from typing import Any

from ..scheduler.views import cluster_view


def status(scheduler: Any) -> dict:
    """Workers, task counts by state and by function, and recent task-stream records."""
    state = scheduler.state
    by_prefix: dict[str, Counter] = defaultdict(Counter)
    for ts in state.tasks.values():
        by_prefix[ts.prefix][ts.state] += 1
    return {
        "address": scheduler.address,
        "id": scheduler.id,
        "time": time.time(),
        "workers": [
            {"address": w.address, "name": w.name, "nthreads": w.nthreads, "memory_limit": w.memory_limit,
             "processing": len(w.processing), "in_memory": len(w.has_what), "nbytes": w.nbytes,
             "metrics": dict(w.metrics)}
            for w in state.workers.values()
        ],
        "tasks": state.counts(),
        "by_function": {p: dict(c) for p, c in sorted(by_prefix.items())},
        "clients": len(scheduler.client_comms),
        "total_tasks_submitted": state.n_tasks_total,
    }


def task_stream(scheduler: Any, since: float = 0.0, limit: int = 10_000) -> list[dict]:
    """Finished tasks since ``since`` (epoch seconds): key, worker, start, stop, outcome."""
    rows = [r for r in scheduler.state.task_stream[-limit:] if r[3] >= since]
    return [{"key": k, "worker": w, "start": s, "stop": e, "status": st} for k, w, s, e, st in rows]


def cluster(scheduler: Any) -> dict:
    """This scheduler as a ``Cluster`` of docs/jupyter-api.md (what the feed's ``clusters`` message lists)."""
    manager = scheduler.manager_comm
    managed = manager is not None and not manager.closed
    dashboard = scheduler.dashboard.url if scheduler.dashboard is not None else ""
    return {
        "id": scheduler.id, "name": scheduler.id, "address": scheduler.address, "dashboard": dashboard,
        "made_by": None, "managed": managed, "scalable": managed, "status": "running", "selected": False,
        "started": scheduler.started, "pid": os.getpid(), "adapt": None, **cluster_view(scheduler.state),
    }
