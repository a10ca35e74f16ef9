"""What ``progress()`` costs in a real notebook: a 100,000-task map, with and without the live bars.

Runs one kernel through nbclient (as a notebook would run in JupyterLab: every widget update goes
over the kernel's comm channel to the client, which records the widget state), on a local cluster
of 2 workers x 1 thread. Repetitions alternate between the two variants, each on fresh keys;
the script prints every timing, the medians and their ratio.

    .venv/bin/python benchmarks/bench_notebook_progress.py            # 100,000 tasks, 3 runs each
    .venv/bin/python benchmarks/bench_notebook_progress.py --tasks 20000 --reps 5

Target (issue 4): the run with progress displayed takes at most 10 % longer.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

SETUP = """
%load_ext jupyter_futures
import time
from jupyter_futures import Client, progress, wait
client = Client(n_workers=2, threads_per_worker=1)

def inc(x):
    return x + 1

wait(client.map(inc, range(-5000, 0)))
"""

RUN = """
t0, c0 = time.perf_counter(), time.process_time()
futures = client.map(inc, range({start}, {stop}))
{show}
wait(futures)
elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
assert all(f.status == "finished" for f in futures)
del futures
print("@@elapsed", elapsed, cpu)
"""


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=100_000)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args(argv)

    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP)]
    variants = []
    start = 0
    for rep in range(args.reps):
        order = ("progress", "plain") if rep % 2 else ("plain", "progress")
        for variant in order:
            show = "progress(futures)" if variant == "progress" else "pass"
            nb.cells.append(nbformat.v4.new_code_cell(RUN.format(start=start, stop=start + args.tasks, show=show)))
            variants.append(variant)
            start += args.tasks
    client = NotebookClient(nb, timeout=1800, kernel_name="python3", store_widget_state=True)
    times: dict[str, list[float]] = {"plain": [], "progress": []}
    cpus: dict[str, list[float]] = {"plain": [], "progress": []}  # CPU seconds of the kernel process
    t_all = time.perf_counter()
    with client.setup_kernel():
        client.execute_cell(nb.cells[0], 0)
        for i, variant in enumerate(variants, start=1):
            client.execute_cell(nb.cells[i], i)
            text = "".join(o.get("text", "") for o in nb.cells[i].outputs if o.output_type == "stream")
            elapsed, cpu = map(float, text.split("@@elapsed", 1)[1].split()[:2])
            times[variant].append(elapsed)
            cpus[variant].append(cpu)
            print(f"  {variant:>8}: {args.tasks} tasks in {elapsed:.2f} s (kernel CPU {cpu:.2f} s)", flush=True)
    widget_updates = _widget_updates(nb)
    plain, shown = statistics.median(times["plain"]), statistics.median(times["progress"])
    ratio = shown / plain
    cpu_plain, cpu_shown = statistics.median(cpus["plain"]), statistics.median(cpus["progress"])
    result = {"tasks": args.tasks, "reps": args.reps, "plain_s": times["plain"], "progress_s": times["progress"],
              "median_plain_s": plain, "median_progress_s": shown, "ratio": ratio,
              "kernel_cpu_plain_s": cpus["plain"], "kernel_cpu_progress_s": cpus["progress"],
              "kernel_cpu_ratio": cpu_shown / cpu_plain,
              "progress_widget_final_states": widget_updates, "wall_s": time.perf_counter() - t_all}
    print(f"median without progress: {plain:.2f} s, with progress: {shown:.2f} s, "
          f"ratio {ratio:.3f} ({(ratio - 1) * 100:+.1f} %; target <= +10 %)")
    print(f"kernel CPU without progress: {cpu_plain:.2f} s, with progress: {cpu_shown:.2f} s "
          f"({(cpu_shown / cpu_plain - 1) * 100:+.1f} %)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


def _widget_updates(nb) -> list[dict]:
    """The final state of each progress widget (done == total shows every update arrived)."""
    states = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    return [{"done": s["state"].get("done"), "total": s["state"].get("total")}
            for s in states.values() if "done" in s["state"]]


if __name__ == "__main__":
    main(sys.argv[1:])
