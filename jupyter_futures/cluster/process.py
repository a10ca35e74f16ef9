"""``python -m jupyter_futures.cluster.process``: a LocalCluster as a process of its own.

The Jupyter server extension starts clusters this way, so that no scheduler runs inside the
Jupyter server: this process owns the scheduler and the nannies (they end with it), prints one
JSON line ``{"id", "address", "dashboard"}`` when the cluster is up, and closes the cluster on
SIGTERM or SIGINT.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys

from ..protocol.logs import configure as configure_logging
from .local import LocalCluster


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Options of the cluster process."""
    p = argparse.ArgumentParser(prog="python -m jupyter_futures.cluster.process")
    p.add_argument("--name", default=None)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--threads-per-worker", type=int, default=None)
    p.add_argument("--memory-limit", default="auto")
    p.add_argument("--dashboard-port", type=int, default=None)
    p.add_argument("--made-by", default="jupyter-server")
    p.add_argument("--server-id", default=None)
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--ready-fd", type=int, default=None, help="write the ready line here instead of stdout")
    p.add_argument("--log-level", default="WARNING")
    return p.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    """Start the cluster, say so on stdout (or --ready-fd), and run until told to stop."""
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=args.threads_per_worker,
                           memory_limit=args.memory_limit, dashboard_address=args.dashboard_port,
                           asynchronous=True, name=args.name, made_by=args.made_by, server_id=args.server_id,
                           timeout=args.timeout)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await cluster
        ready = json.dumps({"id": cluster.id, "address": cluster.scheduler_address,
                            "dashboard": cluster.dashboard_link}) + "\n"
        if args.ready_fd is None:
            print(ready, end="", flush=True)
        else:
            with os.fdopen(args.ready_fd, "w") as out:
                out.write(ready)
        stopped_by_itself = asyncio.ensure_future(cluster.scheduler_gone.wait())
        told = asyncio.ensure_future(stop.wait())
        await asyncio.wait([stopped_by_itself, told], return_when=asyncio.FIRST_COMPLETED)
        stopped_by_itself.cancel()
        told.cancel()
    finally:
        await cluster._close()


def main(argv: list[str] | None = None) -> None:
    """Entry point; errors at start go to stderr with exit code 1."""
    args = parse_args(argv)
    configure_logging(args.log_level)
    try:
        asyncio.run(run(args))
    except (ValueError, TypeError, TimeoutError, OSError, RuntimeError) as exc:
        print(f"cannot start the cluster: {exc}", file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
