"""The same workloads on Ray: ``ray.init(num_cpus=2)`` and remote functions."""

import time

import ray

from bench_data import check_plus_one, make_array, tree_expected
from bench_tasks import add, inc, noop
from bench_timing import median, repeat_timed, result, warm_then_timed

r_noop = ray.remote(noop)
r_inc = ray.remote(inc)
r_add = ray.remote(add)


def warm_up():
    """Run one task end to end so a worker is live."""
    assert ray.get(r_inc.remote(0)) == 1


def bench_map(n, repeats):
    """``n`` no-op remote calls, then get them all; tasks per second (median)."""
    expected = list(range(n))

    def once():
        assert ray.get([r_noop.remote(i) for i in range(n)]) == expected

    times = repeat_timed(once, repeats)
    return result(n / median(times), "tasks/s", seconds=times, n=n)


def bench_roundtrip(n):
    """``n`` sequential ``ray.get(inc.remote(i))``; median latency in ms."""
    latencies = []
    for i in range(n):
        t0 = time.perf_counter()
        assert ray.get(r_inc.remote(i)) == i + 1
        latencies.append(time.perf_counter() - t0)
    ms = sorted(x * 1000 for x in latencies)
    return result(median(ms), "ms", p10=ms[len(ms) // 10], p90=ms[9 * len(ms) // 10],
                  n=n)


def bench_chain(n, repeats):
    """A chain of ``n`` dependent remote calls (ObjectRef arguments); seconds."""

    def once():
        x = 0
        for _ in range(n):
            x = r_inc.remote(x)
        assert ray.get(x) == n

    times = repeat_timed(once, repeats)
    return result(median(times), "s", seconds=times, n=n)


def tree_reduce(leaves):
    """Remote inc over the leaves, remote add pairwise level by level; root value."""
    level = [r_inc.remote(i) for i in range(leaves)]
    while len(level) > 1:
        nxt = [r_add.remote(a, b) for a, b in zip(level[0::2], level[1::2])]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return ray.get(level[0])


def bench_tree(leaves, repeats):
    """Binary tree reduction over ``leaves`` leaves; wall seconds (median)."""
    expected = tree_expected(leaves)

    def once():
        assert tree_reduce(leaves) == expected

    times = repeat_timed(once, repeats)
    return result(median(times), "s", seconds=times, leaves=leaves,
                  tasks=2 * leaves - 1)


def bench_scatter(mib, repeats):
    """``ray.put`` an array, remote ``arr + 1``, ``ray.get``; MB/s (median)."""
    arr = make_array(mib)

    def once():
        ref = ray.put(arr)
        out = ray.get(r_add.remote(ref, 1))
        check_plus_one(arr, out)

    first, times = warm_then_timed(once, repeats)
    return result(mib / median(times), "MB/s", seconds=times, mib=mib, first_round_seconds=first)


def bench_startup(repeats):
    """Seconds from ``ray.init(num_cpus=2)`` to a first result."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        ray.init(num_cpus=2)
        try:
            assert ray.get(r_inc.remote(1)) == 2
            times.append(time.perf_counter() - t0)
        finally:
            ray.shutdown()
    return result(median(times), "s", seconds=times)


WORKLOADS = {
    "map": bench_map,
    "roundtrip": bench_roundtrip,
    "chain": bench_chain,
    "tree": bench_tree,
    "scatter": bench_scatter,
}


def run(workload, params):
    """Run one workload on a fresh local Ray instance; return its result dict."""
    if workload == "startup":
        return bench_startup(**params)
    ray.init(num_cpus=2)
    try:
        warm_up()
        return WORKLOADS[workload](**params)
    finally:
        ray.shutdown()
