"""The ``jupyter-futures`` command (also ``jupyter futures``): scheduler, worker, demo."""
from __future__ import annotations

import asyncio
import signal
import sys

USAGE = """jupyter-futures COMMAND [options]

commands:
  scheduler   run a scheduler (jupyter-futures scheduler --host 0.0.0.0 --port 8786)
  worker      run a worker, restarted if it crashes (jupyter-futures worker tcp://HOST:8786 --nthreads 2)
              with TLS: --tls-cert FILE --tls-key FILE [--tls-ca FILE] on both, and tls://HOST:8786
  demo        run the tour script on a local cluster
  lab         open JupyterLab on the quickstart notebook (needs the notebook extra)
"""


def run_worker_with_nanny(argv: list[str]) -> None:
    """``jupyter-futures worker``: one worker process kept alive by a nanny in this process."""
    from ..protocol import auth
    from ..worker.nanny import Nanny
    from ..protocol.logs import configure as configure_logging
    from ..protocol.security import security_from_args
    from ..worker.process import parse_args

    args = parse_args(argv)
    configure_logging(args.log_level)
    security = security_from_args(args, "worker")
    if args.scheduler.startswith("tls://") and security is None:
        sys.exit("jupyter-futures worker: a tls:// scheduler needs this worker's certificate: "
                 "--tls-cert FILE --tls-key FILE --tls-ca FILE")

    try:
        token = auth.find_token()
    except auth.AuthenticationError:
        path = auth.default_token_file()
        sys.exit(f"jupyter-futures worker: no cluster token. The scheduler wrote it to {path} on its machine: "
                 f"set ${auth.TOKEN_ENV} to its contents, or copy that file to {path} here (mode 0600)")

    async def run():
        nanny = Nanny(args.scheduler, token, args.nthreads, args.memory_limit, args.name, args.host, args.resources,
                      security=security, local_directory=args.local_directory,
                      memory_thresholds=args.memory_thresholds)
        await nanny.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: loop.create_task(nanny.close()))
        await nanny.stopped.wait()
        return nanny.failed

    if asyncio.run(run()):
        sys.exit(1)


def main(argv: list[str] | None = None) -> None:
    """Dispatch to a subcommand."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return
    command, rest = argv[0], argv[1:]
    if command == "scheduler":
        from ..scheduler.process import main as scheduler_main

        scheduler_main(rest)
    elif command == "worker":
        run_worker_with_nanny(rest)
    elif command == "lab":
        from ..notebook.lab import main as lab_main

        lab_main(rest)
    elif command == "demo":
        from .demo import main as demo_main

        demo_main(rest)
    else:
        print(f"jupyter-futures: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
