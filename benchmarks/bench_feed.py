"""What the scheduler's live feed costs: map throughput with and without a subscriber to every topic.

The ``map`` workload of ``bench_futures.py`` (``client.map(noop, range(n))`` + ``gather``, 2 workers
x 1 thread) runs on one jupyter_futures cluster in alternating rounds (ABBA order): (a) with no
feed subscriber, (b) with a monitor subscribed to tasks, progress, workers, clients and logs. The
monitor is a separate process, as the Jupyter server is: it receives every delta and encodes it as
JSON, as the extension does for the browser. The same map then runs on dask.distributed, so every
figure has its ratio to dask.

    .venv/bin/python benchmarks/bench_feed.py                    # 10,000 tasks, 8 rounds of each
    .venv/bin/python benchmarks/bench_feed.py --n 2000 --rounds 4 --json out.json

Target: with the feed, at least 95 % of the throughput without it.
``run_benchmarks.py --only feed`` runs the jupyter_futures part (the % lost is its figure).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
for path in (HERE, REPO):
    if path not in sys.path:
        sys.path.insert(0, path)

from bench_futures import new_client, settle, warm_up  # noqa: E402
from bench_tasks import noop  # noqa: E402
from bench_timing import median, result  # noqa: E402

TOPICS = ["tasks", "progress", "workers", "clients", "logs"]


# ------------------------------------------------------------------ the monitor process

def monitor_main(address: str) -> None:
    """Subscribe/unsubscribe on command ("sub", "unsub", "quit" lines on stdin); answer each with a line."""
    from jupyter_futures.client.monitor import FeedMonitor

    counts = {"messages": 0, "bytes": 0}

    def consume(topic, data):
        counts["messages"] += 1
        counts["bytes"] += len(json.dumps({"op": "delta", "topic": topic, "data": data}, default=str))

    async def main():
        monitor = await FeedMonitor(address, on_delta=consume).start()
        loop = asyncio.get_running_loop()
        while True:
            line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            if line == "sub":
                counts["messages"] = counts["bytes"] = 0
                monitor.subscribe(TOPICS)
                await monitor.request("ping")  # the subscription is in place before the round starts
            elif line == "unsub":
                monitor.unsubscribe()
                await monitor.request("ping")
            elif line in ("quit", ""):
                await monitor.close()
                return
            print(json.dumps(counts), flush=True)

    asyncio.run(main())


class Monitor:
    """The monitor process, driven from the benchmark."""

    def __init__(self, address: str, token: str):
        env = dict(os.environ, JUPYTER_FUTURES_TOKEN=token,
                   PYTHONPATH=os.pathsep.join([HERE, REPO, os.environ.get("PYTHONPATH", "")]))
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--monitor", address], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def say(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the monitor process ended")
        return json.loads(line)

    def close(self) -> None:
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(10)
        except Exception:
            self.proc.kill()


# ------------------------------------------------------------------ measurements

def timed_map(client, n: int) -> float:
    """Seconds of ``map(noop, range(n))`` + ``gather`` (checked)."""
    t0 = time.perf_counter()
    futures = client.map(noop, range(n), pure=False)
    assert client.gather(futures) == list(range(n))
    return time.perf_counter() - t0


def cpu_seconds(procs: list) -> float:
    """User + system CPU seconds of these processes (all their threads) so far."""
    total = 0.0
    for proc in procs:
        t = proc.cpu_times()
        total += t.user + t.system
    return total


def bench_jf(n: int, rounds: int) -> dict:
    """Alternating rounds without and with a feed subscriber; % of throughput lost with it.

    Besides wall time, each round records the CPU time of the scheduler, the workers and this client
    process: on a shared machine it moves far less than wall time (the monitor's own CPU time, the
    Jupyter server's share, is reported apart).
    """
    import psutil

    client = new_client("jupyter_futures")
    monitor = Monitor(client.scheduler_address, client.cluster.token)
    try:
        warm_up(client)
        cluster = [psutil.Process(client.run_on_scheduler(os.getpid)), psutil.Process()]
        cluster += [psutil.Process(pid) for pid in client.run(os.getpid).values()]
        watcher = psutil.Process(monitor.proc.pid)
        runs = {False: [], True: []}
        cpu = {False: [], True: []}
        scheduler_cpu = {False: [], True: []}
        monitor_cpu, received = [], []
        order = [False, True, True, False] * ((rounds + 1) // 2)
        for feed_on in order[:2 * rounds]:
            if feed_on:
                monitor.say("sub")
            settle(client)
            c0, m0, s0 = cpu_seconds(cluster), cpu_seconds([watcher]), cpu_seconds(cluster[:1])
            runs[feed_on].append(timed_map(client, n))
            cpu[feed_on].append(cpu_seconds(cluster) - c0)
            scheduler_cpu[feed_on].append(cpu_seconds(cluster[:1]) - s0)
            if feed_on:
                time.sleep(0.3)  # the deltas of the round's end arrive
                monitor_cpu.append(cpu_seconds([watcher]) - m0)
                received.append(monitor.say("unsub"))
    finally:
        monitor.close()
        client.close()
    rate_without, rate_with = n / median(runs[False]), n / median(runs[True])
    lost = 100.0 * (1.0 - rate_with / rate_without)
    return result(lost, "% slower", tasks_per_s_without=rate_without, tasks_per_s_with=rate_with,
                  ratio=rate_with / rate_without, seconds_without=runs[False], seconds_with=runs[True],
                  cluster_cpu_without=cpu[False], cluster_cpu_with=cpu[True],
                  cpu_overhead_pct=100.0 * (median(cpu[True]) / median(cpu[False]) - 1.0),
                  scheduler_cpu_without=scheduler_cpu[False], scheduler_cpu_with=scheduler_cpu[True],
                  monitor_cpu=monitor_cpu, deltas_per_round=[r["messages"] for r in received],
                  json_kb_per_round=[round(r["bytes"] / 1e3) for r in received], n=n)


def bench_dask(n: int, rounds: int) -> dict:
    """The same map on dask.distributed: its throughput (median of ``rounds``)."""
    client = new_client("dask")
    try:
        warm_up(client)
        times = []
        for _ in range(rounds):
            settle(client)
            times.append(timed_map(client, n))
    finally:
        client.close()
    return result(n / median(times), "tasks/s", seconds=times, n=n)


def run_part(part: str, n: int, rounds: int) -> dict:
    """One library's part, in a fresh process of its own (clusters never overlap)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--part", part, "--n", str(n), "--rounds", str(rounds)]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=900, cwd=REPO,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join([HERE, REPO])))
    for line in reversed(out.stdout.splitlines()):
        if line.startswith("@@"):
            return json.loads(line[2:])  # (dask's shutdown noise on stderr is dropped)
    tail = " | ".join(out.stderr.strip().splitlines()[-5:])
    raise RuntimeError(f"{part} printed no result (exit code {out.returncode}): {tail}")


def main(argv=None) -> int:
    """Run both parts and print the figures and ratios."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10_000, help="tasks per map")
    p.add_argument("--rounds", type=int, default=8, help="rounds of each variant")
    p.add_argument("--json", help="also write the figures here")
    p.add_argument("--part", choices=["jupyter_futures", "dask"], help=argparse.SUPPRESS)
    p.add_argument("--monitor", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.monitor:
        monitor_main(args.monitor)
        return 0
    if args.part:
        fn = bench_jf if args.part == "jupyter_futures" else bench_dask
        print("@@" + json.dumps(fn(args.n, args.rounds), default=str), flush=True)
        os._exit(0)
    print(f"feed overhead: map of {args.n:,} no-op tasks, 2 workers x 1 thread, {args.rounds} rounds of each, "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    jf = run_part("jupyter_futures", args.n, args.rounds)
    try:
        dask = run_part("dask", args.n, args.rounds)
    except Exception as exc:  # noqa: BLE001 - reported, the jupyter_futures figures still stand
        print(f"dask: not measured ({exc})")
        dask = None
    x = jf["extra"]
    print(f"jupyter_futures without feed: {x['tasks_per_s_without']:>10,.0f} tasks/s")
    print(f"jupyter_futures with feed:    {x['tasks_per_s_with']:>10,.0f} tasks/s  "
          f"(ratio {x['ratio']:.3f}, {jf['value']:+.1f} % slower; target ratio >= 0.95)")
    print(f"CPU seconds of scheduler + workers + client per round (median): without "
          f"{median(x['cluster_cpu_without']):.3f}, with {median(x['cluster_cpu_with']):.3f} "
          f"({x['cpu_overhead_pct']:+.1f} %); the monitor process: {median(x['monitor_cpu']):.3f} s")
    print(f"  of which the scheduler: without {median(x['scheduler_cpu_without']):.3f}, "
          f"with {median(x['scheduler_cpu_with']):.3f}")
    print(f"deltas per round with feed: {x['deltas_per_round']}, JSON kB per round: {x['json_kb_per_round']}")
    if dask is not None:
        d = dask["value"]
        print(f"dask.distributed:             {d:>10,.0f} tasks/s")
        print(f"ratio vs dask: without feed {x['tasks_per_s_without'] / d:.1f}x, "
              f"with feed {x['tasks_per_s_with'] / d:.1f}x")
    print(f"rounds (s): without {[round(s, 3) for s in x['seconds_without']]}, "
          f"with {[round(s, 3) for s in x['seconds_with']]}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"jupyter_futures": jf, "dask": dask}, f, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
