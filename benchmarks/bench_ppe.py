"""The same workloads on a plain ``concurrent.futures.ProcessPoolExecutor(2)``.

A process pool has no task graph and no scatter, so dependencies are resolved
by the driver (each dependent step waits for its inputs' results) and the
array travels pickled as an argument.
"""

import time
from concurrent.futures import ProcessPoolExecutor

from bench_data import check_plus_one, make_array, tree_expected
from bench_tasks import add, inc, noop
from bench_timing import median, repeat_timed, result, warm_then_timed


def warm_up(pool):
    """Run one task end to end so both worker processes are live."""
    list(pool.map(inc, range(2)))


def bench_map(pool, n, repeats):
    """``pool.map`` over ``n`` no-op calls; tasks per second (median)."""
    expected = list(range(n))

    def once():
        assert list(pool.map(noop, range(n))) == expected

    times = repeat_timed(once, repeats)
    return result(n / median(times), "tasks/s", seconds=times, n=n)


def bench_roundtrip(pool, n):
    """``n`` sequential ``pool.submit(inc, i).result()``; median latency in ms."""
    latencies = []
    for i in range(n):
        t0 = time.perf_counter()
        assert pool.submit(inc, i).result() == i + 1
        latencies.append(time.perf_counter() - t0)
    ms = sorted(x * 1000 for x in latencies)
    return result(median(ms), "ms", p10=ms[len(ms) // 10], p90=ms[9 * len(ms) // 10],
                  n=n)


def bench_chain(pool, n, repeats):
    """``n`` dependent inc steps, each submitted once its input is known; seconds."""

    def once():
        x = 0
        for _ in range(n):
            x = pool.submit(inc, x).result()
        assert x == n

    times = repeat_timed(once, repeats)
    return result(median(times), "s", seconds=times, n=n, note="driver-resolved")


def tree_reduce(pool, leaves):
    """inc over the leaves, then add pairwise one level per ``pool.map``; root."""
    level = list(pool.map(inc, range(leaves)))
    while len(level) > 1:
        nxt = list(pool.map(add, level[0::2], level[1::2]))
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def bench_tree(pool, leaves, repeats):
    """Binary tree reduction over ``leaves`` leaves, level by level; seconds."""
    expected = tree_expected(leaves)

    def once():
        assert tree_reduce(pool, leaves) == expected

    times = repeat_timed(once, repeats)
    return result(median(times), "s", seconds=times, leaves=leaves,
                  tasks=2 * leaves - 1, note="driver-resolved levels")


def bench_scatter(pool, mib, repeats):
    """Submit ``add(arr, 1)`` with the array pickled as argument; MB/s (median)."""
    arr = make_array(mib)

    def once():
        check_plus_one(arr, pool.submit(add, arr, 1).result())

    first, times = warm_then_timed(once, repeats)
    return result(mib / median(times), "MB/s", seconds=times, mib=mib, first_round_seconds=first,
                  note="no scatter: pickled argument")


def bench_startup(repeats):
    """Seconds from ``ProcessPoolExecutor(2)`` to a first result."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        with ProcessPoolExecutor(2) as pool:
            assert pool.submit(inc, 1).result() == 2
            times.append(time.perf_counter() - t0)
    return result(median(times), "s", seconds=times)


WORKLOADS = {
    "map": bench_map,
    "roundtrip": bench_roundtrip,
    "chain": bench_chain,
    "tree": bench_tree,
    "scatter": bench_scatter,
}


def run(workload, params):
    """Run one workload on a fresh pool of 2 processes; return its result dict."""
    if workload == "startup":
        return bench_startup(**params)
    with ProcessPoolExecutor(2) as pool:
        warm_up(pool)
        return WORKLOADS[workload](pool, **params)
