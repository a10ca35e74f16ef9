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
from contextlib import contextmanager
from typing import Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.display import display

from .kernel import attach, integration
from .render import short_address

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


class _Refused(Exception):
    """A magic cannot do what was asked; the message says why and what to do instead."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports instead of exiting the kernel."""

    def error(self, message: str):
        raise _Refused(f"{self.prog}: {message}\n{self.format_usage().strip()}")

    def exit(self, status: int = 0, message: str | None = None):
        raise _Refused(message or "")  # after -h: the help is printed already


@contextmanager
def _reported():
    """Print a refusal on stderr instead of raising it (a magic never fails the cell for a bad argument)."""
    try:
        yield
    except _Refused as exc:
        if str(exc).strip():
            print(str(exc).strip(), file=sys.stderr)


def _split(prog: str, line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as exc:  # an unclosed quote
        raise _Refused(f"{prog}: {exc} in {line.strip()!r}; close the quote or escape it") from None


def _whole_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _threads(text: str) -> int:
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError("a worker needs at least 1 thread")
    return value


def _memory(text: str) -> str:
    from ..protocol.sizes import parse_memory

    if text.lower() in ("auto", "none", "0"):
        return text.lower()
    try:
        parse_memory(text)
    except Exception:
        raise argparse.ArgumentTypeError(f"expected a size such as 2GB, 512MiB or auto, got {text!r}") from None
    return text


def server_cluster_address() -> str | None:
    """The scheduler a kernel was pointed at: ``$JUPYTER_FUTURES_SCHEDULER``, else the cluster selected
    in the Jupyter sidebar (``protocol/registry.py``), if any."""
    from ..protocol import registry

    if os.environ.get("JUPYTER_FUTURES_SCHEDULER"):
        return os.environ["JUPYTER_FUTURES_SCHEDULER"]
    record = registry.selected_for_new_clients()
    return record["address"] if record else None


def _make_client(params: dict) -> Any:
    """A client as ``params`` say: {"kind": "connect", "address": ...} or {"kind": "start", ...}."""
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


@magics_class
class FuturesMagics(Magics):
    """``%futures`` and ``%%remote``."""

    def __init__(self, shell: Any):
        super().__init__(shell)
        self.client = None  # the client these magics started or connected
        self.params: dict | None = None  # how: {"kind": "start", ...} or {"kind": "connect", "address": ...}

    # -- helpers -----------------------------------------------------------------------------------------
    def _own_running(self) -> bool:
        return self.client is not None and self.client.status == "running"

    def _current(self) -> Any:
        if self._own_running():
            return self.client
        from ..client.current import default_client

        try:
            return default_client()
        except ValueError:
            return None

    def _need_client(self, prog: str, fix: str = "use %futures start, or %futures connect ADDRESS") -> Any:
        client = self._current()
        if client is None:
            raise _Refused(f"{prog}: no client is running; {fix}")
        return client

    def _launch(self, params: dict, failure: str) -> None:
        """Make the client ``params`` describe, remember how, bind it to ``client`` and show it."""
        try:
            client = _make_client(params)
        except Exception as exc:  # noqa: BLE001
            raise _Refused(f"{failure}: {exc}") from None
        self.params = params
        self.client = client
        self.shell.user_ns["client"] = client
        attach(client)
        display(client)

    # -- %futures ----------------------------------------------------------------------------------------
    @line_magic
    def futures(self, line: str) -> None:
        """%futures start|connect|status|scale|restart|stop|dashboard (``%futures`` alone shows the usage)."""
        with _reported():
            words = _split("%futures", line)
            if not words or words[0] in ("-h", "--help", "help"):
                print(USAGE)
                return
            handler = getattr(self, f"_cmd_{words[0]}", None)
            if handler is None:
                raise _Refused(f"%futures: unknown command {words[0]!r}\n{USAGE}")
            handler(words[1:])

    def _cmd_start(self, argv: list[str]) -> None:
        p = _Parser("%futures start")
        p.add_argument("-n", "--workers", type=_whole_number, default=None, help="worker processes")
        p.add_argument("-t", "--threads", type=_threads, default=None, help="threads per worker")
        p.add_argument("--memory-limit", type=_memory, default=None, help="per worker, e.g. 2GB (default: auto)")
        args = p.parse_args(argv)
        params = {"kind": "start", "n_workers": args.workers, "threads": args.threads,
                  "memory_limit": args.memory_limit}
        if self._own_running():
            self._again(params, "%futures start: a cluster with other settings is already running (`client`); "
                                "use %futures stop first, then start again")
            return
        self._launch(params, "%futures start: could not start a cluster")

    def _again(self, params: dict, refusal: str) -> None:
        """The cell that made the running client ran again (Run All twice): the same request keeps that
        client and shows it again; a different one is refused with ``refusal``."""
        if params != self.params:
            raise _Refused(refusal)
        self.shell.user_ns["client"] = self.client
        print("using the cluster this notebook already runs (`client`); %futures restart gives it fresh "
              "workers, %futures stop ends it")
        display(self.client)

    def _cmd_connect(self, argv: list[str]) -> None:
        p = _Parser("%futures connect")
        p.add_argument("address", nargs="?", default=None, help="tcp://HOST:PORT")
        address = p.parse_args(argv).address
        address = address or server_cluster_address()
        if address is None:
            raise _Refused("%futures connect: no address given, no cluster is selected in the jupyter_futures "
                           "sidebar and $JUPYTER_FUTURES_SCHEDULER is not set; give one: %futures connect "
                           "tcp://HOST:PORT, select a cluster in the sidebar, or start one here: %futures start")
        if "://" not in address:
            address = f"tcp://{address}"
        params = {"kind": "connect", "address": address}
        if self._own_running():
            self._again(params, "%futures connect: already connected to another cluster (`client`); "
                                "use %futures stop first")
            return
        self._launch(params, f"%futures connect: could not connect to {address}")

    def _cmd_status(self, argv: list[str]) -> None:
        _Parser("%futures status").parse_args(argv)
        display(self._need_client("%futures status"))

    def _cmd_scale(self, argv: list[str]) -> None:
        p = _Parser("%futures scale")
        p.add_argument("n", type=_whole_number, help="number of workers")
        n = p.parse_args(argv).n
        client = self._need_client("%futures scale", "use %futures start first")
        cluster = getattr(client, "cluster", None)
        if cluster is None or not hasattr(cluster, "scale"):
            raise _Refused("%futures scale: this client is connected to a cluster it did not start; "
                           "scale that cluster where it runs")
        try:
            out = cluster.scale(n)
            if asyncio.iscoroutine(out):  # the cluster a Client made runs on the client's loop
                asyncio.run_coroutine_threadsafe(out, client.loop).result(300)
        except Exception as exc:  # noqa: BLE001
            raise _Refused(f"%futures scale: {exc}") from None
        if self.params is not None and self.params["kind"] == "start" and client is self.client:
            self.params["n_workers"] = n  # a restart keeps the new size
        print(f"scaled to {n} worker{'s' if n != 1 else ''}")

    def _cmd_restart(self, argv: list[str]) -> None:
        _Parser("%futures restart").parse_args(argv)
        if self.client is None or self.params is None:
            raise _Refused("%futures restart: no cluster was started or connected with %futures; "
                           "use %futures start")
        try:
            self.client.close()
        except Exception as exc:  # noqa: BLE001
            print(f"%futures restart: closing the old client failed ({exc}); starting anyway", file=sys.stderr)
        self.client = None
        self._launch(self.params, "%futures restart: could not start again")

    def _cmd_stop(self, argv: list[str]) -> None:
        _Parser("%futures stop").parse_args(argv)
        client = self._need_client("%futures stop", "nothing to stop")
        client.close()
        if self.shell.user_ns.get("client") is client:
            del self.shell.user_ns["client"]
        if client is self.client:
            self.client = None
        print("stopped: the client is closed" + (" and its cluster stopped" if getattr(client, "_own_cluster", False)
                                                 else ""))

    def _cmd_dashboard(self, argv: list[str]) -> None:
        _Parser("%futures dashboard").parse_args(argv)
        link = self._need_client("%futures dashboard").dashboard_link
        if not link:
            raise _Refused("%futures dashboard: this cluster serves no dashboard "
                           "(%futures start serves one; for Client(), pass dashboard_address=0)")
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
        with _reported():
            self._remote(_split("%%remote", line), cell)

    def _remote(self, argv: list[str], cell: str) -> None:
        p = _Parser("%%remote")
        p.add_argument("-w", "--worker", default=None, help="run on this worker (address or name)")
        p.add_argument("--name", default="_remote", help="variable for the future (default: _remote)")
        args = p.parse_args(argv)
        if not args.name.isidentifier():
            raise _Refused(f"%%remote: --name needs a Python variable name, got {args.name!r}")
        from .remote import names_read, remember_source, remote

        try:
            wanted = names_read(cell)
        except SyntaxError as exc:
            raise _Refused(f"%%remote: the cell has a syntax error: {exc}") from None
        client = self._need_client("%%remote", "use %futures start (or create a Client) first")
        workers = [_worker_named(client, args.worker)] if args.worker else None
        ns = self.shell.user_ns
        namespace = {n: ns[n] for n in wanted
                     if n in ns and n not in _IGNORED_NAMES and not _is_history_name(n)}
        filename = f"<%%remote cell {self.shell.execution_count}-{next(_remote_counter)}>"
        remember_source(filename, cell)  # this kernel shows the cell's lines in the task's traceback
        attach(client)
        try:
            future = client.submit(remote, cell, namespace, filename, workers=workers, pure=False)
        except Exception as exc:  # noqa: BLE001
            culprit = _unpicklable(namespace)
            if culprit:
                raise _Refused(f"%%remote: cannot send {culprit} to the worker; "
                               "create it inside the cell instead") from None
            raise _Refused(f"%%remote: could not submit the cell: {exc}") from None
        ns[args.name] = future
        display(future)


def _worker_named(client: Any, wanted: str) -> str:
    """The address of the worker ``wanted`` names (its address, with or without tcp://, or its name)."""
    info = client.scheduler_info().get("workers", {})
    for address, w in info.items():
        if wanted in (address, w.get("name"), short_address(address)):
            return address
    known = ", ".join(sorted(short_address(a) for a in info)) or "none"
    raise _Refused(f"%%remote: no worker {wanted!r}; workers: {known} (give -w an address or a worker name)")


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
        it.open()  # again after %unload_ext
        it.attach_all()


def unload_ipython_extension(ipython: Any) -> None:
    """Give containers their own displays back and stop tracking cells (clients stay attached)."""
    it = integration(ipython, create=False)
    if it is not None:
        it.close()
