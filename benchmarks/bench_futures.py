"""Workloads written against the dask.distributed futures API.

The same code runs on ``dask.distributed`` and on ``jupyter_futures``: only
the module that provides ``Client`` differs.  Every cluster is
``Client(n_workers=2, threads_per_worker=1)``.
"""

import importlib
import os
import shutil
import sys
import tempfile
import threading
import time

import psutil

from bench_collections import bench_dask_array, bench_dask_delayed
from bench_config import MIB
from bench_data import check_plus_one, make_array, tree_expected
from bench_tasks import (Counter, add, burn, count_scheduler_tasks, inc, noop, noop_dep, queue_consumer,
                         queue_producer, wait_for_file)
from bench_timing import median, repeat_timed, result, warm_then_timed

MODULES = {"dask": "dask.distributed", "jupyter_futures": "jupyter_futures"}


def client_class(lib):
    """Import the library and return its ``Client`` class."""
    return importlib.import_module(MODULES[lib]).Client


def new_client(lib):
    """Start a fresh local cluster of 2 worker processes x 1 thread."""
    return client_class(lib)(n_workers=2, threads_per_worker=1)


def warm_up(client, timeout=120):
    """Run one task end to end so connections and workers are live."""
    assert client.submit(inc, 0, pure=False).result(timeout=timeout) == 1


def settle(client, pause=0.2):
    """Let releases from the previous repetition reach the cluster."""
    warm_up(client)
    time.sleep(pause)


def bench_map(client, n, repeats):
    """map ``n`` no-op tasks then gather them; tasks per second (median)."""
    expected = list(range(n))

    def once():
        futures = client.map(noop, range(n), pure=False)
        assert client.gather(futures) == expected

    times = []
    for _ in range(repeats):
        settle(client)
        times += repeat_timed(once, 1)
    return result(n / median(times), "tasks/s", seconds=times, n=n)


def bench_roundtrip(client, n):
    """``n`` sequential submit().result() round trips; median latency in ms."""
    latencies = []
    for i in range(n):
        t0 = time.perf_counter()
        assert client.submit(inc, i, pure=False).result() == i + 1
        latencies.append(time.perf_counter() - t0)
    ms = sorted(x * 1000 for x in latencies)
    return result(median(ms), "ms", p10=ms[len(ms) // 10], p90=ms[9 * len(ms) // 10],
                  n=n)


def bench_chain(client, n, repeats):
    """A chain of ``n`` dependent inc tasks; wall seconds (median)."""

    def once():
        x = 0
        for _ in range(n):
            x = client.submit(inc, x, pure=False)
        assert x.result() == n

    times = []
    for _ in range(repeats):
        settle(client)
        times += repeat_timed(once, 1)
    return result(median(times), "s", seconds=times, n=n)


def tree_reduce(client, leaves):
    """map inc over the leaves, add pairwise level by level; return the root value."""
    level = client.map(inc, range(leaves), pure=False)
    while len(level) > 1:
        pairs = zip(level[0::2], level[1::2])
        nxt = [client.submit(add, a, b, pure=False) for a, b in pairs]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0].result()


def bench_tree(client, leaves, repeats):
    """Binary tree reduction over ``leaves`` leaves; wall seconds (median)."""
    expected = tree_expected(leaves)

    def once():
        assert tree_reduce(client, leaves) == expected

    times = []
    for _ in range(repeats):
        settle(client)
        times += repeat_timed(once, 1)
    return result(median(times), "s", seconds=times, leaves=leaves,
                  tasks=2 * leaves - 1)


def bench_scatter(client, mib, repeats):
    """scatter an array, submit ``arr + 1``, gather it; MB/s (median)."""
    arr = make_array(mib)

    def once():
        fut = client.scatter(arr)
        out_fut = client.submit(add, fut, 1, pure=False)
        out = client.gather(out_fut)
        check_plus_one(arr, out)

    first, times = warm_then_timed(once, repeats, before=lambda: settle(client))
    return result(mib / median(times), "MB/s", seconds=times, mib=mib, first_round_seconds=first)


def scheduler_process(client):
    """Return a psutil handle on the scheduler's process."""
    return psutil.Process(client.run_on_scheduler(os.getpid))


def rss_mb(proc):
    """Return a process's resident set size in MB (MiB)."""
    return proc.memory_info().rss / MIB


def wait_until_registered(client, n, limit=300.0):
    """Poll the scheduler's task count until it holds ``n`` tasks; return whether it could tell."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            known = client.run_on_scheduler(count_scheduler_tasks)
        except Exception:
            return False
        if known is None:
            return False
        if known >= n:
            return True
        time.sleep(0.2)
    raise TimeoutError(f"scheduler did not register {n} tasks in {limit} s")


def wait_rss_stable(proc, limit=60.0, tolerance_mb=1.0, calm_readings=4):
    """Poll RSS until it stops growing; return the highest reading in MB."""
    deadline = time.monotonic() + limit
    last, calm, peak = rss_mb(proc), 0, 0.0
    while time.monotonic() < deadline and calm < calm_readings:
        time.sleep(0.25)
        now = rss_mb(proc)
        calm = calm + 1 if abs(now - last) < tolerance_mb else 0
        last, peak = now, max(peak, now)
    return max(peak, last)


def measure_pending(client, blocker, n):
    """Map ``n`` tasks that wait on ``blocker``; return the scheduler's RSS growth."""
    warm_up(client)
    proc = scheduler_process(client)
    before = wait_rss_stable(proc, limit=5.0)
    client_before = rss_mb(psutil.Process())
    t0 = time.perf_counter()
    futures = client.map(noop_dep, range(n), dep=blocker, pure=False)
    warm_up(client)  # a round trip submitted after the map on the same client
    counted = wait_until_registered(client, n)
    submit_s = time.perf_counter() - t0
    after = wait_rss_stable(proc)
    assert not blocker.done(), "blocker finished early: tasks were not pending"
    assert all(f.status == "pending" for f in futures[:: max(1, n // 100)])
    same = proc.pid == os.getpid()
    delta = after - before
    return result(delta, "MB", bytes_per_task=delta * MIB / n, n=n,
                  rss_before_mb=before, rss_after_mb=after,
                  submit_seconds=submit_s, task_count_checked=counted,
                  scheduler_in_client_process=same,
                  client_rss_growth_mb=None if same
                  else rss_mb(psutil.Process()) - client_before)


def bench_memory(client, n):
    """Scheduler RSS growth (MB) while ``n`` tasks wait on a blocked dependency.

    The pending futures are dropped (released) when the measurement returns;
    the blocker is then let go, and the cluster is torn down by the caller.
    """
    workdir = tempfile.mkdtemp(prefix="jf-bench-")
    flag = os.path.join(workdir, "release")
    blocker = client.submit(wait_for_file, flag, pure=False)
    try:
        return measure_pending(client, blocker, n)
    finally:
        release_blocker(blocker, flag)
        shutil.rmtree(workdir, ignore_errors=True)


def bench_forget(client, n):
    """The scheduler's RSS (MB) still held after ``n`` computed tasks were released and forgotten;
    before, peak (all ``n`` held) and after are in details."""
    warm_up(client)
    proc = scheduler_process(client)
    before = wait_rss_stable(proc, limit=5.0)
    futures = client.map(noop, range(n), pure=False)
    client.gather(futures)
    peak = wait_rss_stable(proc, limit=10.0)
    del futures
    deadline = time.monotonic() + 120
    while client.run_on_scheduler(count_scheduler_tasks) > 0:
        if time.monotonic() > deadline:
            raise TimeoutError("the scheduler did not forget the released tasks within 120 s")
        time.sleep(0.2)
    after = wait_rss_stable(proc)
    same = proc.pid == os.getpid()
    return result(after - before, "MB", n=n, rss_before_mb=before, rss_peak_mb=peak, rss_after_mb=after,
                  kept_share_of_growth=(after - before) / max(peak - before, 1e-9),
                  scheduler_in_client_process=same)


def release_blocker(blocker, flag, limit=10.0):
    """Let the blocker task finish; wait at most ``limit`` seconds for it."""
    with open(flag, "w"):
        pass
    try:
        blocker.result(timeout=limit)
    except Exception as exc:
        print(f"blocker did not finish cleanly: {exc!r}", file=sys.stderr)


def close_quietly(client, limit=60.0):
    """Close a client and its cluster, giving up (with a note) after ``limit`` seconds."""

    def close():
        try:
            client.close()
        except Exception as exc:
            print(f"client close failed: {exc!r}", file=sys.stderr)

    closer = threading.Thread(target=close, daemon=True)
    closer.start()
    closer.join(limit)
    if closer.is_alive():
        print(f"client close still running after {limit:.0f} s", file=sys.stderr)


def bench_startup(lib, repeats):
    """Seconds from ``Client(n_workers=2, threads_per_worker=1)`` to a first result."""
    cls = client_class(lib)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        with cls(n_workers=2, threads_per_worker=1) as client:
            assert client.submit(inc, 1).result() == 2
            times.append(time.perf_counter() - t0)
    return result(median(times), "s", seconds=times)


PROFILE_ENV = "JUPYTER_FUTURES_PROFILE_INTERVAL"  # read by jupyter_futures' worker processes; 0 = off


def calibrate_burn(task_ms, probe=200_000):
    """The ``burn`` size that takes about ``task_ms`` here (best of 5 probes)."""
    best = min(repeat_timed(lambda: burn(probe), 5))
    return max(1000, int(probe * task_ms / 1000 / best))


def profiled_client(lib, enabled):
    """A fresh cluster whose workers sample task stacks (``enabled``) or not.

    jupyter_futures reads the environment variable in each worker process
    (``LocalCluster`` passes its environment on). dask's workers all start with
    their default (sampling on); ``set_sampling`` turns it off on one of them.
    """
    saved = os.environ.get(PROFILE_ENV)
    os.environ[PROFILE_ENV] = "0.01" if enabled else "0"
    try:
        client = new_client(lib)
    finally:
        if saved is None:
            os.environ.pop(PROFILE_ENV, None)
        else:
            os.environ[PROFILE_ENV] = saved
    if lib == "dask" and not enabled:
        set_sampling(client, lib, False)
    return client


def _jf_sampling(on, dask_worker=None):
    dask_worker.profiler.set_interval(0.01 if on else 0)


def _dask_sampling(on, dask_worker=None):
    pc = dask_worker.periodic_callbacks["profile"]
    pc.start() if on else pc.stop()


def set_sampling(client, lib, on):
    """Turn stack sampling on or off on a running cluster's workers."""
    client.run(_jf_sampling if lib == "jupyter_futures" else _dask_sampling, on)


def worker_cpu_seconds(procs):
    """User + system CPU seconds used so far by these worker processes (all their threads)."""
    total = 0.0
    for proc in procs:
        t = proc.cpu_times()
        total += t.user + t.system
    return total


def bench_profile(lib, tasks, task_ms, repeats):
    """Overhead (%) of stack sampling on a CPU-bound map of ``tasks`` pure-Python loops.

    Two clusters, one sampling and one not, run the map alternately (ABBA order)
    so that load changes hit both alike. Halfway through they swap roles
    (sampling turned off on one, on on the other at run time), so a difference
    between the two clusters themselves cancels out.

    Two figures per run: wall time, and the CPU time of the worker processes
    (all threads: the task thread and the sampler). The headline is the CPU-time
    overhead (total with sampling / total without, minus 1): on a shared machine
    other load stretches wall times by far more than the effect measured, but
    barely changes the CPU time the same work takes. The wall-clock overhead
    (median of the per-pair overheads) is in the details.
    """
    n = calibrate_burn(task_ms)
    a, b = profiled_client(lib, True), profiled_client(lib, False)
    try:
        expected = [burn(n)] * tasks
        procs = {}
        for client in (a, b):
            warm_up(client)
            assert client.gather(client.map(burn, [n] * 2, pure=False)) == expected[:2]
            procs[id(client)] = [psutil.Process(pid) for pid in client.run(os.getpid).values()]

        def timed(client):
            time.sleep(0.1)
            cpu0 = worker_cpu_seconds(procs[id(client)])
            t0 = time.perf_counter()
            assert client.gather(client.map(burn, [n] * tasks, pure=False)) == expected
            wall = time.perf_counter() - t0
            return wall, worker_cpu_seconds(procs[id(client)]) - cpu0

        def measure(on, off, count):
            runs_on, runs_off = [], []
            for i in range(count):
                if i % 2 == 0:
                    runs_on.append(timed(on))
                    runs_off.append(timed(off))
                else:
                    runs_off.append(timed(off))
                    runs_on.append(timed(on))
            return runs_on, runs_off

        first = (repeats + 1) // 2
        on1, off1 = measure(a, b, first)
        samples_on = a.profile()["count"]
        samples_off = b.profile()["count"]
        assert samples_on > 0, "sampling on, but the profile is empty"
        if lib == "jupyter_futures":
            assert samples_off == 0, "sampling off (JUPYTER_FUTURES_PROFILE_INTERVAL=0), but the profile has samples"
        set_sampling(a, lib, False)
        set_sampling(b, lib, True)
        on2, off2 = measure(b, a, repeats - first)
        runs_on, runs_off = on1 + on2, off1 + off2
        wall_on, cpu_on = [r[0] for r in runs_on], [r[1] for r in runs_on]
        wall_off, cpu_off = [r[0] for r in runs_off], [r[1] for r in runs_off]
        wall_pairs = [100 * (x / y - 1) for x, y in zip(wall_on, wall_off)]
        cpu_pct = 100 * (sum(cpu_on) / sum(cpu_off) - 1)
        cpu_first = 100 * (sum(cpu_on[:first]) / sum(cpu_off[:first]) - 1)
        cpu_swapped = 100 * (sum(cpu_on[first:]) / sum(cpu_off[first:]) - 1) if repeats > first else None
        return result(cpu_pct, "% slower", cpu_first_half_pct=cpu_first, cpu_swapped_half_pct=cpu_swapped,
                      wall_median_pair_pct=median(wall_pairs),
                      wall_ratio_of_medians_pct=100 * (median(wall_on) / median(wall_off) - 1),
                      wall_median_on_s=median(wall_on), wall_median_off_s=median(wall_off),
                      cpu_on_s=cpu_on, cpu_off_s=cpu_off, wall_pairs_pct=wall_pairs,
                      samples_on_first_half=samples_on, samples_off_first_half=samples_off,
                      tasks=tasks, burn_n=n, task_ms=task_ms, repeats=repeats)
    finally:
        close_quietly(a)
        close_quietly(b)


def library_of(client):
    """The top-level module a client comes from (``distributed`` or ``jupyter_futures``)."""
    return importlib.import_module(type(client).__module__.split(".")[0])


def bench_actor(client, n):
    """``n`` sequential ``counter.increment().result()`` calls on one actor; median latency in ms."""
    counter = client.submit(Counter, actor=True).result()
    warm = 20
    for _ in range(warm):
        counter.increment().result()
    latencies = []
    for i in range(n):
        t0 = time.perf_counter()
        value = counter.increment().result()
        latencies.append(time.perf_counter() - t0)
        assert value == warm + i + 1
    ms = sorted(x * 1000 for x in latencies)
    return result(median(ms), "ms", p10=ms[len(ms) // 10], p90=ms[9 * len(ms) // 10], n=n)


def bench_queue(client, n, repeats):
    """A producer task puts ``n`` ints into a Queue, a consumer task gets them one by one;
    items per second from the two submits to the consumer's result (median)."""
    queue_cls = library_of(client).Queue
    expected = n * (n - 1) // 2

    def once():
        queue = queue_cls()
        t0 = time.perf_counter()
        consumer = client.submit(queue_consumer, queue, n, pure=False)
        producer = client.submit(queue_producer, queue, n, pure=False)
        assert consumer.result() == expected
        elapsed = time.perf_counter() - t0
        assert producer.result() == n
        return elapsed

    times = []
    for _ in range(repeats):
        settle(client)
        times.append(once())
    return result(n / median(times), "items/s", seconds=times, n=n)


CLIENT_WORKLOADS = {
    "map": bench_map,
    "roundtrip": bench_roundtrip,
    "chain": bench_chain,
    "tree": bench_tree,
    "scatter": bench_scatter,
    "memory": bench_memory,
    "forget": bench_forget,
    "dask_delayed": bench_dask_delayed,
    "dask_array": bench_dask_array,
    "actor": bench_actor,
    "queue": bench_queue,
}


def run(lib, workload, params):
    """Run one workload on a fresh cluster of ``lib``; return its result dict."""
    if workload == "startup":
        return bench_startup(lib, **params)
    if workload == "profile":
        return bench_profile(lib, **params)
    if workload == "feed":
        from bench_feed import bench_jf  # it imports this module

        return bench_jf(**params)
    client = new_client(lib)
    try:
        warm_up(client)
        return CLIENT_WORKLOADS[workload](client, **params)
    finally:
        close_quietly(client)
