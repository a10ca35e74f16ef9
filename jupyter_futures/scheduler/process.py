"""``python -m jupyter_futures.scheduler.process``: run a scheduler until stopped."""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys

from ..protocol import auth, registry, schedulerfile
from ..protocol.collector import pace_for_a_server
from ..protocol.logs import configure as configure_logging
from ..protocol.lifeline import watch_parent
from ..protocol.security import add_tls_arguments, security_from_args
from . import logs as scheduler_logs
from .server import Scheduler


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options of the scheduler."""
    p = argparse.ArgumentParser(prog="jupyter-futures scheduler", description="Run a jupyter_futures scheduler.")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0 for all)")
    p.add_argument("--port", type=int, default=8786, help="port to listen on (0 for any free port)")
    p.add_argument("--dashboard-port", type=int, default=None, help="serve the JSON dashboard on this port")
    p.add_argument("--token-file", default=None,
                   help=f"where to write the cluster token (mode 0600; default {auth.default_token_file()})")
    p.add_argument("--listen-fd", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--lifeline-fd", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--name", default=None, help="a name for this cluster, shown in the Jupyter sidebar")
    p.add_argument("--scheduler-file", default=None,
                   help="write the scheduler's address to this JSON file (workers and clients can read it there)")
    p.add_argument("--made-by", default="cli", help=argparse.SUPPRESS)
    p.add_argument("--manager-pid", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--server-id", default=None, help=argparse.SUPPRESS)
    p.add_argument("--options", default="{}", help=argparse.SUPPRESS)
    p.add_argument("--log-level", default="WARNING")
    add_tls_arguments(p, "scheduler")
    return p.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    """Start a scheduler and serve until SIGTERM/SIGINT or the parent dies."""
    token = os.environ.get(auth.TOKEN_ENV) or auth.new_token()
    token_file = None
    if not os.environ.get(auth.TOKEN_ENV) or args.token_file:
        token_file = auth.write_token_file(token, args.token_file)
    sock = None
    if args.listen_fd is not None:
        import socket

        sock = socket.socket(fileno=args.listen_fd)
    scheduler = Scheduler(args.host, args.port, token, dashboard_port=args.dashboard_port, sock=sock,
                          security=security_from_args(args, "scheduler"))
    await scheduler.start()
    loop = asyncio.get_running_loop()
    watch_parent(loop, args.lifeline_fd)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: loop.create_task(scheduler.close()))
    dashboard = scheduler.dashboard.url if scheduler.dashboard is not None else ""
    registry.write(registry.make_record(
        id=scheduler.id, name=args.name, address=scheduler.address, token=token, made_by=args.made_by,
        dashboard=dashboard, manager_pid=args.manager_pid, server_id=args.server_id,
        options=json.loads(args.options)))
    ready = {"id": scheduler.id, "address": scheduler.address, "pid": os.getpid(), "token_file": token_file,
             "dashboard": dashboard}
    if args.scheduler_file:
        schedulerfile.write(args.scheduler_file, {**scheduler.identity(), "dashboard": dashboard})
    print(json.dumps(ready), flush=True)
    try:
        await scheduler.finished()
    finally:
        registry.remove(scheduler.id)


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    args = parse_args(argv)
    configure_logging(args.log_level)
    scheduler_logs.install()  # Client.get_scheduler_logs
    pace_for_a_server()
    try:
        asyncio.run(run(args))
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # the port is taken, or the host is not an address of this machine
        sys.exit(f"jupyter-futures scheduler: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}; "
                 f"pass --port 0 for any free port, or stop what holds this one")


if __name__ == "__main__":
    main()
