"""What each workload is: its sizes (full and --quick), unit, target and time limit."""

from dataclasses import dataclass, field

MIB = 2**20


@dataclass(frozen=True)
class Workload:
    """One benchmark workload and the target jupyter_futures must meet against dask."""

    name: str
    title: str
    unit: str
    higher_is_better: bool
    target_ratio: float  # required (jupyter_futures vs dask) ratio, >1 = jf better
    target_text: str
    full: dict = field(default_factory=dict)
    quick: dict = field(default_factory=dict)
    timeout: float = 600.0  # seconds, per library subprocess (full size)
    max_value: float = None  # when set: an absolute target on jupyter_futures' own figure (< max_value)

    def params(self, quick):
        """Return the size parameters for a full or a --quick run."""
        return dict(self.quick if quick else self.full)

    def time_limit(self, quick):
        """Return the subprocess time limit in seconds."""
        return min(self.timeout, 240.0) if quick else self.timeout


WORKLOADS = [
    Workload(
        "map", "map+gather no-op tasks", "tasks/s", True, 10.0, ">= 10x dask",
        full={"n": 10_000, "repeats": 2}, quick={"n": 500, "repeats": 2},
        timeout=600,
    ),
    Workload(
        "roundtrip", "submit().result() round trip (median)", "ms", False, 20.0,
        "<= 1/20 dask",
        full={"n": 500}, quick={"n": 50}, timeout=300,
    ),
    Workload(
        "chain", "chain of dependent tasks", "s", False, 10.0, ">= 10x faster",
        full={"n": 1_000, "repeats": 2}, quick={"n": 100, "repeats": 2},
        timeout=300,
    ),
    Workload(
        "tree", "binary tree reduction", "s", False, 10.0, ">= 10x faster",
        full={"leaves": 4_096, "repeats": 2}, quick={"leaves": 256, "repeats": 2},
        timeout=600,
    ),
    Workload(
        "scatter", "scatter array, arr+1, gather", "MB/s", True, 2.0, ">= 2x dask",
        full={"mib": 100, "repeats": 11}, quick={"mib": 10, "repeats": 2},
        timeout=300,
    ),
    Workload(
        "memory", "scheduler RSS growth, pending tasks", "MB", False, 1.0,
        "<= dask",
        full={"n": 100_000}, quick={"n": 5_000}, timeout=900,
    ),
    Workload(
        "forget", "scheduler RSS kept after 100k computed tasks are forgotten", "MB", False, 1.0,
        "<= dask",
        full={"n": 100_000}, quick={"n": 5_000}, timeout=900,
    ),
    Workload(
        "dask_delayed", "dask.compute of 2,000 delayed calls and their sum", "s", False, 5.0, ">= 5x faster",
        full={"n": 2_000, "repeats": 3}, quick={"n": 200, "repeats": 1}, timeout=600,
    ),
    Workload(
        "dask_array", "dask.array (ones + 1).sum(), 1,600 chunks", "s", False, 5.0, ">= 5x faster",
        full={"side": 2_000, "chunk": 50, "repeats": 3}, quick={"side": 400, "chunk": 50, "repeats": 1},
        timeout=600,
    ),
    Workload(
        "startup", "Client() to first result", "s", False, 1.0, "<= dask",
        full={"repeats": 3}, quick={"repeats": 1}, timeout=300,
    ),
    Workload(
        "profile", "profiling overhead, CPU-bound map (sampling on vs off)", "% slower", False, 1.0,
        "< 5% (jf alone)",
        full={"tasks": 40, "task_ms": 50, "repeats": 15}, quick={"tasks": 20, "task_ms": 50, "repeats": 4},
        timeout=300, max_value=5.0,
    ),
    Workload(
        "feed", "live feed overhead: map with vs without a subscriber to every topic", "% slower", False, 1.0,
        "< 5% (jf alone)",
        full={"n": 10_000, "rounds": 8}, quick={"n": 1_000, "rounds": 2}, timeout=600, max_value=5.0,
    ),
    Workload(
        "actor", "actor method call round trip (median)", "ms", False, 5.0, "<= 1/5 dask",
        full={"n": 1_000}, quick={"n": 100}, timeout=300,
    ),
    Workload(
        "queue", "Queue put/get of small items between two tasks", "items/s", True, 3.0, ">= 3x dask",
        full={"n": 10_000, "repeats": 3}, quick={"n": 1_000, "repeats": 2}, timeout=600,
    ),
]

BY_NAME = {w.name: w for w in WORKLOADS}

# Which workloads have a meaningful equivalent on the reference engines.
RAY_WORKLOADS = {"map", "roundtrip", "chain", "tree", "scatter", "startup"}
PPE_WORKLOADS = {"map", "roundtrip", "chain", "tree", "scatter", "startup"}

LIBRARIES = ["jupyter_futures", "dask", "ray", "ppe"]
SUPPORTED = {
    "jupyter_futures": set(BY_NAME),
    "dask": set(BY_NAME) - {"feed"},  # no feed: bench_feed.py run alone prints dask's map for the ratios
    "ray": RAY_WORKLOADS,
    "ppe": PPE_WORKLOADS,
}
