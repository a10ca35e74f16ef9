"""Benchmark jupyter_futures against dask.distributed (plus Ray and a process pool).

Usage::

    python benchmarks/run_benchmarks.py [--only NAME ...] [--quick] [--libs LIB ...]

The driver runs every (library, workload) pair in its own subprocess
(``run_benchmarks.py --worker LIB WORKLOAD``), each on a fresh local cluster of
2 worker processes x 1 thread, reads one JSON line back and prints a table.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from bench_config import BY_NAME, LIBRARIES, SUPPORTED, WORKLOADS  # noqa: E402
from bench_report import Outcome, notes, render, table_rows  # noqa: E402

MARKER = "@@BENCH_RESULT@@"
PROBE_TIMEOUT = 180.0
STDERR_TAIL = 6


# ---------------------------------------------------------------- worker side

def import_library(lib):
    """Import what a library's workloads need; raise if it is unusable."""
    if lib in ("dask", "jupyter_futures"):
        import bench_futures
        bench_futures.client_class(lib)
    elif lib == "ray":
        import bench_ray  # noqa: F401
    elif lib == "ppe":
        import bench_ppe  # noqa: F401
    else:
        raise ValueError(f"unknown library {lib!r}")


def run_workload(lib, workload, quick):
    """Run one workload for one library in this process; return its result dict."""
    import_library(lib)
    if workload == "probe":
        return {"value": 0.0, "unit": "", "extra": {}}
    params = BY_NAME[workload].params(quick)
    if lib in ("dask", "jupyter_futures"):
        import bench_futures
        return bench_futures.run(lib, workload, params)
    if lib == "ray":
        import bench_ray
        return bench_ray.run(workload, params)
    import bench_ppe
    return bench_ppe.run(workload, params)


def worker_main(lib, workload, quick):
    """Entry point of a library subprocess: print one result line, then exit at once."""
    try:
        payload = run_workload(lib, workload, quick)
    except BaseException as exc:  # report anything, including import failures
        traceback.print_exc()
        payload = {"error": f"{type(exc).__name__}: {exc}".strip()}
    print(MARKER + " " + json.dumps(payload, default=str), flush=True)
    sys.stderr.flush()
    os._exit(0)  # never hang on exit: the driver ends whatever is left running


# ---------------------------------------------------------------- driver side

def child_env():
    """Environment for library subprocesses: this folder and the repo importable."""
    env = dict(os.environ)
    paths = [HERE, REPO] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    return env


def group_alive(pgid):
    """True while any process of the process group ``pgid`` exists."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def kill_group(proc, grace=5.0):
    """End the subprocess and all it started in its session: SIGTERM, then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not group_alive(proc.pid):
            break
        os.killpg(proc.pid, sig)
        deadline = time.monotonic() + grace
        while group_alive(proc.pid) and time.monotonic() < deadline:
            proc.poll()  # reap the leader so it does not linger as a zombie
            time.sleep(0.05)
    proc.wait()


def parse_outcome(stdout, stderr, returncode):
    """Read the result line a worker printed; explain what went wrong if none."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARKER):
            data = json.loads(line[len(MARKER):])
            if "error" in data:
                return Outcome("error", message=data["error"])
            return Outcome("ok", data["value"], data["unit"], data.get("extra", {}))
    tail = " | ".join(stderr.strip().splitlines()[-STDERR_TAIL:])
    return Outcome("error", message=f"exit code {returncode}, no result; stderr: {tail}")


def spawn(lib, workload, quick, timeout):
    """Run ``--worker LIB WORKLOAD`` in a subprocess with a time limit; return an Outcome."""
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", lib, workload]
    if quick:
        cmd.append("--quick")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=child_env(), cwd=REPO,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        kill_group(proc)
        stdout, stderr = proc.communicate()
        timed_out = True
    finally:
        kill_group(proc)
    outcome = parse_outcome(stdout, stderr, proc.returncode)
    if timed_out and outcome.ok:
        outcome.message = f"result printed, but the process outlived {timeout:.0f} s"
    elif timed_out:
        outcome = Outcome("timeout", message=f"no result within {timeout:.0f} s")
    outcome.seconds = time.perf_counter() - t0
    return outcome


def probe_libraries(libs):
    """Check which libraries import; print a clear note for those that do not."""
    usable = {}
    for lib in libs:
        outcome = spawn(lib, "probe", False, PROBE_TIMEOUT)
        usable[lib] = outcome
        if not outcome.ok:
            print(f"NOTE: {lib} is not usable, its runs are skipped: {outcome.message}",
                  flush=True)
    return usable


def unusable_outcome(lib, probe):
    """The Outcome recorded for every workload of a library that failed its probe."""
    status = "skipped" if lib in ("ray", "ppe") else "error"
    return Outcome(status, message=f"{lib} not usable: {probe.message}")


def describe(lib, workload, outcome):
    """One progress line for a finished subprocess."""
    figure = (f"{outcome.value:.4g} {outcome.unit}" if outcome.ok
              else f"{outcome.status.upper()} {outcome.message}")
    return f"[{workload}] {lib}: {figure}  ({outcome.seconds:.1f} s)"


def run_all(workloads, libs, quick):
    """Run every selected workload on every selected library; return the outcomes."""
    probes = probe_libraries(libs)
    outcomes = {}
    for w in workloads:
        for lib in libs:
            if w.name not in SUPPORTED[lib]:
                outcome = Outcome("n/a")
            elif not probes[lib].ok:
                outcome = unusable_outcome(lib, probes[lib])
            else:
                outcome = spawn(lib, w.name, quick, w.time_limit(quick))
                print(describe(lib, w.name, outcome), flush=True)
            outcomes.setdefault(w.name, {})[lib] = outcome
    return outcomes


def save_json(path, outcomes):
    """Write all outcomes to ``path`` as JSON."""
    data = {w: {lib: vars(o) for lib, o in per.items()} for w, per in outcomes.items()}
    with open(path, "w") as f:
        json.dump(data, f, indent=2, default=str)


def load_note():
    """The machine's 1/5/15-minute load averages, as text."""
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def parse_args(argv):
    """Parse the command line."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=list(BY_NAME), metavar="NAME",
                   help="run only these workloads: " + ", ".join(BY_NAME))
    p.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    p.add_argument("--libs", nargs="+", choices=LIBRARIES, default=LIBRARIES,
                   metavar="LIB", help="libraries to run: " + ", ".join(LIBRARIES))
    p.add_argument("--json", metavar="PATH", help="also write all results as JSON")
    p.add_argument("--worker", nargs=2, metavar=("LIB", "WORKLOAD"),
                   help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None):
    """Driver entry point (or a worker's, with the hidden --worker option)."""
    args = parse_args(argv)
    if args.worker:
        return worker_main(*args.worker, args.quick)
    workloads = [w for w in WORKLOADS if not args.only or w.name in args.only]
    libs = [lib for lib in LIBRARIES if lib in args.libs]
    print(f"jupyter_futures benchmarks ({'quick' if args.quick else 'full'} sizes), "
          f"2 workers x 1 thread, python {sys.version.split()[0]}, "
          f"{load_note()}", flush=True)
    outcomes = run_all(workloads, libs, args.quick)
    print(f"\nfinished, {load_note()} (other load on the machine skews figures)\n")
    print(render(table_rows(workloads, outcomes, libs)))
    print("\nDetails:")
    print("\n".join(notes(workloads, outcomes, libs)))
    if args.json:
        save_json(args.json, outcomes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
