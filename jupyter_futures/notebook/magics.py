"""``%load_ext jupyter_futures``: the ``%futures`` line magic and the ``%%remote`` cell magic.

    %futures start [-n WORKERS] [-t THREADS] [--memory-limit LIMIT]   a local cluster; binds `client`
    %futures connect [ADDRESS]      connect to a scheduler (no address: the one this Jupyter server manages)
    %futures status                 show the client (live)
    %futures scale N                run N workers (clusters started here)
    %futures restart                stop, then start (or connect) again with the same parameters
    %futures stop                   close the client and stop its cluster
    %futures dashboard              the dashboard's link

    %%remote [-w WORKER] [--name VAR]
    ...cell...                      run the cell as a task; its last expression is the result

A bad argument prints what is wrong and changes nothing.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import shlex
import sys
from typing import Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.display import display

from .kernel import ensure_attached, integration

USAGE = """usage:
  %futures start [-n WORKERS] [-t THREADS] [--memory-limit LIMIT]
  %futures connect [ADDRESS]
  %futures status
  %futures scale N
  %futures restart
  %futures stop
  %futures dashboard"""

_IGNORED_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "_ih", "_oh", "_dh", "_", "__", "___"})
_remote_counter = itertools.count(1)


class _BadArguments(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that reports instead of exiting the kernel."""

    def error(self, message: str):
        raise _BadArguments(f"{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None):
        raise _BadArguments(message or "")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _threads(text: str) -> int:
    value = _positive_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("a worker needs at least 1 thread")
    return value


def _memory(text: str) -> str:
    from ..worker.store import parse_memory

    if text.lower() in ("auto", "none", "0"):
        return text.lower()
    try:
        parse_memory(text)
    except Exception:
        raise argparse.ArgumentTypeError(f"expected a size such as 2GB, 512MiB or auto, got {text!r}") from None
    return text


def _parser(prog: str) -> _Parser:
    return _Parser(prog=prog, add_help=True)


def server_cluster_address() -> str | None:
    """The scheduler a kernel was pointed at by its environment (``$JUPYTER_FUTURES_SCHEDULER``), if any."""
    return os.environ.get("JUPYTER_FUTURES_SCHEDULER") or None


@magics_class
class FuturesMagics(Magics):
    """``%futures`` and ``%%remote``."""

    def __init__(self, shell: Any):
        super().__init__(shell)
        self.client = None  # the client these magics started or connected
        self.params: dict | None = None  # how: {"kind": "start", ...} or {"kind": "connect", "address": ...}

    # -- helpers -----------------------------------------------------------------------------------------
    def _say(self, message: str) -> None:
        print(message, file=sys.stderr)

    def _current(self) -> Any:
        if self.client is not None and self.client.status == "running":
            return self.client
        from ..client.client import default_client

        try:
            return default_client()
        except ValueError:
            return None

    def _bind(self, client: Any) -> None:
        self.client = client
        self.shell.user_ns["client"] = client
        ensure_attached(client)
        display(client)

    def _start(self, params: dict) -> Any:
        from ..client.client import Client

        if params["kind"] == "connect":
            return Client(params["address"])
        kwargs = {"dashboard_address": 0}
        if params.get("n_workers") is not None:
            kwargs["n_workers"] = params["n_workers"]
        if params.get("threads") is not None:
            kwargs["threads_per_worker"] = params["threads"]
        if params.get("memory_limit") is not None:
            limit = params["memory_limit"]
            kwargs["memory_limit"] = None if limit in ("none", "0") else limit
        return Client(**kwargs)

    # -- %futures ----------------------------------------------------------------------------------------
    @line_magic
    def futures(self, line: str) -> None:
        """%futures start|connect|status|scale|restart|stop|dashboard (``%futures`` alone shows the usage)."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            self._say(f"%futures: {exc}\n{USAGE}")
            return
        if not words or words[0] in ("-h", "--help", "help"):
            print(USAGE)
            return
        command, rest = words[0], words[1:]
        handler = getattr(self, f"_cmd_{command}", None)
        if handler is None:
            self._say(f"%futures: unknown command {command!r}\n{USAGE}")
            return
        try:
            handler(rest)
        except _BadArguments as exc:
            if str(exc).strip():
                self._say(str(exc).strip())

    def _cmd_start(self, argv: list[str]) -> None:
        p = _parser("%futures start")
        p.add_argument("-n", "--workers", type=_positive_int, default=None, help="worker processes")
        p.add_argument("-t", "--threads", type=_threads, default=None, help="threads per worker")
        p.add_argument("--memory-limit", type=_memory, default=None, help="per worker, e.g. 2GB (default: auto)")
        args = p.parse_args(argv)
        if self.client is not None and self.client.status == "running":
            self._say("%futures start: a cluster is already running (`client`); "
                      "use %futures restart, or %futures stop first")
            return
        params = {"kind": "start", "n_workers": args.workers, "threads": args.threads,
                  "memory_limit": args.memory_limit}
        try:
            client = self._start(params)
        except Exception as exc:  # noqa: BLE001
            self._say(f"%futures start: could not start a cluster: {exc}")
            return
        self.params = params
        self._bind(client)

    def _cmd_connect(self, argv: list[str]) -> None:
        p = _parser("%futures connect")
        p.add_argument("address", nargs="?", default=None, help="tcp://HOST:PORT")
        args = p.parse_args(argv)
        if self.client is not None and self.client.status == "running":
            self._say("%futures connect: already connected (`client`); use %futures stop first")
            return
        address = args.address
        if address is None:
            address = server_cluster_address()
            if address is None:
                self._say("%futures connect: no address given and $JUPYTER_FUTURES_SCHEDULER is not set; "
                          "give one: %futures connect tcp://HOST:PORT, or start a cluster here: %futures start")
                return
        if "://" not in address:
            address = f"tcp://{address}"
        try:
            client = self._start({"kind": "connect", "address": address})
        except Exception as exc:  # noqa: BLE001
            self._say(f"%futures connect: could not connect to {address}: {exc}")
            return
        self.params = {"kind": "connect", "address": address}
        self._bind(client)

    def _cmd_status(self, argv: list[str]) -> None:
        _parser("%futures status").parse_args(argv)
        client = self._current()
        if client is None:
            self._say("%futures status: no client; use %futures start or %futures connect ADDRESS")
            return
        display(client)

    def _cmd_scale(self, argv: list[str]) -> None:
        p = _parser("%futures scale")
        p.add_argument("n", type=_positive_int, help="number of workers")
        args = p.parse_args(argv)
        client = self._current()
        if client is None:
            self._say("%futures scale: no client; use %futures start first")
            return
        cluster = getattr(client, "cluster", None)
        if cluster is None or not hasattr(cluster, "scale"):
            self._say("%futures scale: this client is connected to a cluster it did not start; "
                      "scale that cluster where it runs")
            return
        try:
            out = cluster.scale(args.n)
            if asyncio.iscoroutine(out):  # the cluster a Client made runs on the client's loop
                asyncio.run_coroutine_threadsafe(out, client.loop).result(300)
        except Exception as exc:  # noqa: BLE001
            self._say(f"%futures scale: {exc}")
            return
        if self.params is not None and self.params.get("kind") == "start" and client is self.client:
            self.params["n_workers"] = args.n
        print(f"scaled to {args.n} worker{'s' if args.n != 1 else ''}")

    def _cmd_restart(self, argv: list[str]) -> None:
        _parser("%futures restart").parse_args(argv)
        if self.client is None or self.params is None:
            self._say("%futures restart: no cluster was started or connected with %futures; "
                      "use %futures start")
            return
        old = self.client
        try:
            old.close()
        except Exception as exc:  # noqa: BLE001
            self._say(f"%futures restart: closing the old client failed ({exc}); starting anyway")
        self.client = None
        try:
            client = self._start(self.params)
        except Exception as exc:  # noqa: BLE001
            self._say(f"%futures restart: could not start again: {exc}")
            return
        self._bind(client)

    def _cmd_stop(self, argv: list[str]) -> None:
        _parser("%futures stop").parse_args(argv)
        client = self._current()
        if client is None:
            self._say("%futures stop: no client is running")
            return
        client.close()
        if self.shell.user_ns.get("client") is client:
            del self.shell.user_ns["client"]
        if client is self.client:
            self.client = None
        print("stopped: the client is closed" + (" and its cluster stopped" if getattr(client, "_own_cluster", False)
                                                 else ""))

    def _cmd_dashboard(self, argv: list[str]) -> None:
        _parser("%futures dashboard").parse_args(argv)
        client = self._current()
        if client is None:
            self._say("%futures dashboard: no client; use %futures start first")
            return
        link = client.dashboard_link
        if not link:
            self._say("%futures dashboard: this cluster serves no dashboard "
                      "(%futures start serves one; for Client(), pass dashboard_address=0)")
            return
        display({"text/html": f'<a href="{link}" target="_blank" rel="noopener">Open the dashboard: {link}</a>',
                 "text/plain": f"dashboard: {link}"}, raw=True)

    # -- %%remote ----------------------------------------------------------------------------------------
    @cell_magic
    def remote(self, line: str, cell: str) -> None:
        """%%remote [-w WORKER] [--name VAR]: run the cell as a task on a worker.

        Names the cell reads from the notebook are sent along; the value of its last expression is the
        task's result; what it prints appears below the cell; the future is displayed and bound to VAR
        (default ``_remote``).
        """
        p = _parser("%%remote")
        p.add_argument("-w", "--worker", default=None, help="run on this worker (address or name)")
        p.add_argument("--name", default="_remote", help="variable for the future (default: _remote)")
        try:
            args = p.parse_args(shlex.split(line))
        except (_BadArguments, ValueError) as exc:
            if str(exc).strip():
                self._say(str(exc).strip())
            return
        if not args.name.isidentifier():
            self._say(f"%%remote: --name needs a Python variable name, got {args.name!r}")
            return
        from .remote import names_read, remote

        try:
            wanted = names_read(cell)
        except SyntaxError as exc:
            self._say(f"%%remote: the cell has a syntax error: {exc}")
            return
        client = self._current()
        if client is None:
            self._say("%%remote: no client; use %futures start (or create a Client) first")
            return
        workers = None
        if args.worker:
            info = client.scheduler_info().get("workers", {})
            match = [a for a, w in info.items()
                     if args.worker in (a, w.get("name"), a.split("://", 1)[-1])]
            if not match:
                known = ", ".join(sorted(a.split("://", 1)[-1] for a in info)) or "none"
                self._say(f"%%remote: no worker {args.worker!r}; workers: {known}")
                return
            workers = match
        ns = self.shell.user_ns
        namespace = {n: ns[n] for n in wanted
                     if n in ns and n not in _IGNORED_NAMES and not _is_history_name(n)}
        number = next(_remote_counter)
        filename = f"<%%remote cell {self.shell.execution_count}-{number}>"
        import linecache

        linecache.cache[filename] = (len(cell), None, cell.splitlines(keepends=True), filename)
        ensure_attached(client)
        try:
            future = client.submit(remote, cell, namespace, filename, workers=workers, pure=False)
        except Exception as exc:  # noqa: BLE001
            culprit = _unpicklable(namespace)
            if culprit:
                self._say(f"%%remote: cannot send {culprit} to the worker; create it inside the cell instead")
            else:
                self._say(f"%%remote: could not submit the cell: {exc}")
            return
        ns[args.name] = future
        display(future)


def _is_history_name(name: str) -> bool:
    # IPython's _i, _ii, _i3, _3 ... history variables
    return (name.startswith("_i") and (name[2:].isdigit() or name in ("_i", "_ii", "_iii"))) or \
        (name.startswith("_") and name[1:].isdigit())


def _unpicklable(namespace: dict) -> str | None:
    import cloudpickle

    for name, value in namespace.items():
        try:
            cloudpickle.dumps(value)
        except Exception:
            return f"`{name}` (a {type(value).__name__})"
    return None


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics, displays of containers of futures, and (in a kernel) cell tracking."""
    ipython.register_magics(FuturesMagics)
    it = integration(ipython)
    if it is not None:
        it.attach_all()


def unload_ipython_extension(ipython: Any) -> None:
    it = integration(ipython)
    if it is not None:
        it.close()
