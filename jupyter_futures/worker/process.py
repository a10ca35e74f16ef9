"""``python -m jupyter_futures.worker.process ADDRESS``: run one worker until stopped."""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from ..protocol.security import add_tls_arguments, security_from_args
from ..protocol import auth, schedulerfile
from ..protocol.address import parse_address
from ..protocol.collector import pace_for_a_server
from ..protocol.logs import configure as configure_logging
from ..protocol.logs import let_info_through
from ..protocol.lifeline import CLEAN_EXIT, RESTART, say_clean_exit, say_ready, watch_parent
from ..protocol.sizes import parse_memory
from .memory import memory_thresholds
from .server import Worker


def _address(text: str) -> str:
    try:
        parse_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _threads(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a worker needs a whole number of threads, at least 1")
    return n


def _memory(text: str) -> int:
    try:
        return parse_memory(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _resources(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not (isinstance(value, dict) and all(isinstance(v, (int, float)) for v in value.values())):
        raise argparse.ArgumentTypeError(f"{text!r}: give a JSON object of amounts, e.g. '{{\"GPU\": 1}}'")
    return value


def _thresholds(text: str) -> dict:
    try:
        return memory_thresholds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


SCHEDULER_FILE_WAIT = 60.0  # seconds a worker waits for a scheduler started at the same time to write its file


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options of a worker, checked (argparse names a bad one and exits)."""
    p = argparse.ArgumentParser(prog="jupyter-futures worker", description="Run a jupyter_futures worker.")
    p.add_argument("scheduler", type=_address, nargs="?", default=None,
                   help="scheduler address, e.g. tcp://10.0.0.5:8786 (or --scheduler-file)")
    p.add_argument("--scheduler-file", default=None, help="read the scheduler's address from this JSON file")
    p.add_argument("--nthreads", type=_threads, default=1, help="threads that run tasks")
    p.add_argument("--memory-limit", type=_memory, default=0, help="e.g. 4GB; values spill to disk past 60%%")
    p.add_argument("--memory-thresholds", type=_thresholds, default=None,
                   help='shares of the memory limit as JSON, e.g. \'{"spill": 0.6, "pause": 0.8, "terminate": 0.95}\' '
                        "(the defaults); null turns one off")
    p.add_argument("--local-directory", default=None,
                   help="where spilled values go (default: $JUPYTER_FUTURES_LOCAL_DIRECTORY, else the temp directory)")
    p.add_argument("--name", default=None, help="a name for this worker")
    p.add_argument("--host", default=None, help="interface for peers (default: the one that reaches the scheduler)")
    p.add_argument("--resources", type=_resources, default=None, help='abstract resources as JSON, e.g. \'{"GPU": 1}\'')
    p.add_argument("--lifeline-fd", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--spill-dir", default=None, help=argparse.SUPPRESS)  # the folder its nanny made for it
    p.add_argument("--log-level", default="WARNING")
    add_tls_arguments(p, "worker")
    args = p.parse_args(argv)
    if args.scheduler is None:
        if not args.scheduler_file:
            p.error("give the scheduler's address, e.g. tcp://10.0.0.5:8786, or --scheduler-file FILE")
        try:
            args.scheduler = schedulerfile.read_address(args.scheduler_file, timeout=SCHEDULER_FILE_WAIT)
        except (TimeoutError, ValueError) as exc:
            p.error(str(exc))
    return args


async def run(args: argparse.Namespace) -> None:
    """Run one worker until the scheduler goes away, SIGTERM, or the parent dies."""
    loop = asyncio.get_running_loop()
    lifeline = watch_parent(loop, args.lifeline_fd)
    worker = Worker(args.scheduler, auth.find_token(), nthreads=args.nthreads, memory_limit=args.memory_limit,
                    name=args.name, host=args.host, resources=args.resources,
                    memory_thresholds=args.memory_thresholds, spill_dir=args.spill_dir,
                    local_directory=args.local_directory, security=security_from_args(args, "worker"))
    # Said before any task of it starts: from then on a death is the work's doing, not the start's.
    worker.on_registered = lambda: say_ready(lifeline, worker.address)
    try:
        await worker.start()
    except OSError:
        say_clean_exit(lifeline)  # cannot reach the scheduler: restarting would not help
        raise
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: loop.create_task(worker.close()))
    await worker.finished()
    say_clean_exit(lifeline, RESTART if worker.restart_requested else CLEAN_EXIT)


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    args = parse_args(argv)
    configure_logging(args.log_level)
    pace_for_a_server()
    let_info_through()  # the worker's INFO records reach the scheduler's log feed, not the terminal
    try:
        asyncio.run(run(args))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"jupyter-futures worker: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
