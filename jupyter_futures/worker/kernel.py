"""A Jupyter kernel (ipykernel's ``IPythonKernel``) on a thread of its own, inside a running process.

``IPKernelApp`` assumes it owns the process: the main thread, SIGINT, ``sys.stdout``, atexit,
``sys.modules["__main__"]``, and it signals the whole process group to interrupt. A worker
owns all of these, so ``WorkerKernel`` assembles the kernel from ipykernel's parts instead:

- one daemon thread with its own asyncio/tornado loop runs the kernel's cells; ipykernel's
  own threads (control, shell channel, IOPub, heartbeat) serve the sockets, as in any kernel;
- ``sys.stdout``/``sys.stderr`` become ``ThreadRoutedStream``s: the kernel's threads write to
  the kernel's streams (its clients see the text), every other thread to the streams they
  replaced (a worker's per-task router), and logging handlers keep their streams;
- interrupts raise KeyboardInterrupt in the kernel thread with ``PyThreadState_SetAsyncExc``
  through the worker's ``Interrupter`` (so ``time.sleep`` in a cell ends at once), only while
  a cell's code runs; a cell awaiting at top level is cancelled instead;
- a client's ``shutdown_request`` stops this kernel, never the process; debugging is off.

Written against ipykernel 7.x (it uses ``ShellChannelThread`` and ``ControlThread``).
"""
from __future__ import annotations

import asyncio
import atexit
import builtins
import contextlib
import io
import logging
import os
import secrets
import sys
import threading
from typing import Any, Callable

import zmq
from IPython.core.interactiveshell import InteractiveShell
from ipykernel.control import ControlThread
from ipykernel.heartbeat import Heartbeat
from ipykernel.iostream import IOPubThread, OutStream
from ipykernel.ipkernel import IPythonKernel
from ipykernel.kernelbase import Kernel
from ipykernel.shellchannel import ShellChannelThread
from ipykernel.subshell import SubshellThread
from ipykernel.zmqshell import ZMQInteractiveShell
from jupyter_client.connect import write_connection_file
from jupyter_client.session import Session
from tornado.ioloop import IOLoop
from traitlets import Type
from traitlets.config import Config
from zmq.eventloop.zmqstream import ZMQStream

from .interrupt import Interrupter

logger = logging.getLogger("jupyter_futures.worker.kernel")
# ipykernel logs every failing cell and queue abort at INFO: not news for the worker's log feed.
ipykernel_log = logging.getLogger("jupyter_futures.worker.kernel.ipykernel")
ipykernel_log.setLevel(logging.WARNING)
IPYTHON_BUILTINS = ("__IPYTHON__", "display")  # IPython adds these to builtins for good; removed at stop

START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


class WorkerKernel:
    """An ipykernel serving ``user_ns`` from a daemon thread of this process; clients find it through the
    connection file written at ``path``.

    ``start()`` returns once the file is written; ``interrupt()`` stops the running cell; ``stop()``
    closes everything and removes the file (also done if a client shuts the kernel down, or a cell calls
    ``exit``). One kernel per process at a time (ipykernel's kernel and shell are process singletons).
    """

    def __init__(self, path: str, user_ns: dict, interrupter: Interrupter | None = None, ip: str = "127.0.0.1",
                 banner: str = "", file_info: dict | None = None):
        self.path = os.path.abspath(path)
        self.user_ns = user_ns
        self.interrupter = interrupter or Interrupter()
        self.ip = ip
        self.banner = banner
        self.file_info = file_info or {}
        self.thread: threading.Thread | None = None
        self.kernel: _WorkerIPythonKernel | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopping = False
        self._cell = _Cell()  # what the interrupter knows the kernel thread's running cell by
        self._async_cell: asyncio.Task | None = None
        self._parts: dict[str, Any] = {}
        self._streams: list[ThreadRoutedStream] = []
        self._new_builtins: list[str] = []

    @property
    def alive(self) -> bool:
        """True while the kernel serves clients."""
        return self.thread is not None and self.thread.is_alive() and not self._stopping

    def start(self, timeout: float = START_TIMEOUT) -> str:
        """Start the kernel thread; return the connection file's path once clients can connect."""
        if Kernel.initialized() or InteractiveShell.initialized():
            raise RuntimeError("this process already runs an IPython kernel or shell: it cannot host another")
        self.thread = threading.Thread(target=self._run, name="jf-kernel", daemon=True)
        self.thread.start()
        if not self._ready.wait(timeout):
            self.request_stop()
            raise TimeoutError(f"the kernel did not start within {timeout} s")
        if self._error is not None:
            raise self._error
        return self.path

    # -- the kernel thread ------------------------------------------------------
    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._build())
        except BaseException as exc:  # noqa: BLE001 - handed to start()
            self._error = exc
        self._ready.set()
        try:
            if self._error is None:
                loop.run_forever()
        finally:
            self._stopping = True
            self._teardown()

    async def _build(self) -> None:
        """Sockets, ipykernel's threads, the streams, the kernel, the connection file (in this order)."""
        parts = self._parts
        parts["io_loop"] = IOLoop.current()
        context = parts["context"] = zmq.Context()
        session = Session(key=secrets.token_hex(32).encode("ascii"), signature_scheme="hmac-sha256")
        ports = {}
        for name, kind in (("shell", zmq.ROUTER), ("stdin", zmq.ROUTER), ("control", zmq.ROUTER), ("iopub", zmq.XPUB)):
            sock = parts[name] = context.socket(kind)
            sock.linger = 1000
            if kind == zmq.ROUTER:
                sock.router_handover = 1  # as ipykernel does: a reconnecting client takes its identity back
            ports[f"{name}_port"] = sock.bind_to_random_port(f"tcp://{self.ip}")
        heartbeat = parts["heartbeat"] = Heartbeat(zmq.Context(), ("tcp", self.ip, 0))
        heartbeat.start()
        ports["hb_port"] = heartbeat.port
        iopub = parts["iopub_thread"] = IOPubThread(parts["iopub"], pipe=False, session=session)
        iopub.start()
        atexit.unregister(iopub.stop)  # teardown stops it; atexit would keep every closed kernel alive
        control = parts["control_thread"] = ControlThread(daemon=True)
        channel = parts["shell_channel_thread"] = ShellChannelThread(context, daemon=True)  # its parent: this thread
        shell_stream = channel.shell_stream = ZMQStream(parts["shell"], channel.io_loop)
        control_stream = ZMQStream(parts["control"], control.io_loop)
        control.start()
        channel.start()
        self._install_streams(session, iopub)
        self._new_builtins = [name for name in IPYTHON_BUILTINS if name not in builtins.__dict__]
        config = Config()
        config.HistoryManager.hist_file = ":memory:"  # nothing written to ~/.ipython
        kernel = self.kernel = _WorkerIPythonKernel.instance(
            config=config, session=session, shell_stream=shell_stream, control_stream=control_stream,
            debugpy_stream=None, control_thread=control, shell_channel_thread=channel, iopub_thread=iopub,
            iopub_socket=iopub.background_socket, stdin_socket=parts["stdin"], log=ipykernel_log, user_ns=self.user_ns)
        kernel.worker_kernel = self
        kernel.record_ports(ports)
        if self.banner:
            kernel.shell.banner2 = self.banner
        kernel.start()
        os.makedirs(os.path.dirname(self.path), mode=0o700, exist_ok=True)
        write_connection_file(self.path, ip=self.ip, key=session.key, transport="tcp",
                              signature_scheme=session.signature_scheme, kernel_name="python3",
                              **ports, **self.file_info)  # written with mode 0600
        atexit.register(self._remove_file)  # a worker that exits without closing leaves no file behind

    def _install_streams(self, session: Session, iopub: IOPubThread) -> None:
        for name in ("stdout", "stderr"):
            own = OutStream(session, iopub, name, watchfd=False)  # watchfd would capture the whole process's fd
            routed = ThreadRoutedStream(own, getattr(sys, name), self._is_kernel_thread)
            self._streams.append(routed)
            setattr(sys, name, routed)

    def _is_kernel_thread(self) -> bool:
        thread = threading.current_thread()
        return thread is self.thread or isinstance(thread, SubshellThread)

    def _teardown(self) -> None:
        """On the kernel thread, once its loop stopped: undo ``_build`` (each step even if others fail)."""
        parts, kernel = self._parts, self.kernel
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("streams", self._uninstall_streams),
            ("tasks", self._cancel_tasks),
        ]
        if kernel is not None and kernel.shell is not None:
            shell = kernel.shell
            steps.append(("shell", lambda: (atexit.unregister(shell.atexit_operations), shell.atexit_operations())))
        for name in ("control_thread", "shell_channel_thread"):
            thread = parts.get(name)
            if thread is not None and thread.is_alive():
                steps.append((name, lambda t=thread: (t.stop(), t.join(STOP_TIMEOUT))))
        if "iopub_thread" in parts:
            steps.append(("iopub", lambda: _stop_iopub(parts["iopub_thread"])))
        if "heartbeat" in parts:
            steps.append(("heartbeat socket", lambda: parts["heartbeat"].context.term()))
        if "context" in parts:
            steps.append(("sockets", lambda: parts["context"].destroy(linger=200)))
        steps += [("singletons", lambda: (_WorkerIPythonKernel.clear_instance(), _WorkerShell.clear_instance())),
                  ("builtins", lambda: [builtins.__dict__.pop(name, None) for name in self._new_builtins]),
                  ("file", self._remove_file)]
        if "io_loop" in parts:
            steps.append(("loop", lambda: parts["io_loop"].close(all_fds=False)))  # closes the asyncio loop too
        elif self._loop is not None:
            steps.append(("loop", self._loop.close))
        for name, step in steps:
            try:
                step()
            except Exception:  # noqa: BLE001 - the rest must still be undone
                logger.warning("worker kernel: could not stop its %s", name, exc_info=True)
        atexit.unregister(self._remove_file)

    def _uninstall_streams(self) -> None:
        for routed in self._streams:
            name = routed.kernel_stream.name
            if getattr(sys, name) is routed:
                setattr(sys, name, routed.other)
            else:
                routed.kernel_only = False  # wrapped since: pass everything through from now on
            with contextlib.suppress(Exception):
                routed.kernel_stream.flush()
            routed.kernel_stream.close()

    def _cancel_tasks(self) -> None:
        loop = self._loop
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=2))

    def _remove_file(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    # -- cells ------------------------------------------------------------------
    @contextlib.contextmanager
    def running_cell(self, task: asyncio.Task | None = None):
        """Around a cell's code in the kernel thread: ``interrupt()`` may stop it (``task``: an awaiting cell)."""
        if task is not None:
            self._async_cell = task
            try:
                yield
            finally:
                self._async_cell = None
        else:
            with self.interrupter.running(self._cell):
                yield

    def interrupt(self) -> bool:
        """Raise KeyboardInterrupt in the running cell (cancel it if it awaits); False if none runs."""
        if self.interrupter.interrupt(self._cell, KeyboardInterrupt):
            return True
        task, loop = self._async_cell, self._loop
        if task is not None and loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(task.cancel)
                return True
        return False

    # -- stopping -----------------------------------------------------------------
    def request_stop(self) -> None:
        """Ask the kernel thread to stop (without waiting): the running cell is interrupted first."""
        self._stopping = True
        self.interrupt()
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # already closed
                loop.call_soon_threadsafe(loop.stop)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the kernel, close its sockets and remove its connection file (not from the kernel's threads)."""
        self.request_stop()
        thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                logger.warning("worker kernel: its thread is still busy in a cell after %s s; it stays behind "
                               "(as a daemon thread) but takes no more clients", timeout)
        self._remove_file()


def _stop_iopub(iopub: IOPubThread) -> None:
    """Stop ipykernel's IOPub thread, its periodic task first (stopped, ipykernel drops it still pending)."""
    task = getattr(iopub, "_event_pipe_gc_task", None)
    if task is not None and iopub.thread.is_alive():
        async def cancel() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        asyncio.run_coroutine_threadsafe(cancel(), iopub.io_loop.asyncio_loop).result(STOP_TIMEOUT)
    iopub.stop()
    iopub.close()


class _Cell:
    """Stands for the kernel's running cell in the worker's ``Interrupter`` (which knows tasks)."""


class ThreadRoutedStream(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` while a kernel runs: text written by the kernel's threads goes to
    ``kernel_stream`` (the kernel's clients), text from any other thread to ``other`` (the stream this one
    replaced; in a worker, the router that sends task output to the clients waiting for the task)."""

    def __init__(self, kernel_stream: Any, other: Any, is_kernel_thread: Callable[[], bool]):
        self.kernel_stream = kernel_stream
        self.other = other
        self.is_kernel_thread = is_kernel_thread
        self.kernel_only = True

    def _target(self) -> Any:
        if self.kernel_only and self.is_kernel_thread():
            return self.kernel_stream
        return self.other

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    # ipykernel tells its streams which request their text answers (ZMQInteractiveShell.set_parent and co.)
    def set_parent(self, parent: Any) -> None:
        self.kernel_stream.set_parent(parent)

    def set_thread_parent(self, parent: Any) -> Any:
        return self.kernel_stream.set_thread_parent(parent)

    def reset_thread_parent(self, token: Any) -> None:
        self.kernel_stream.reset_thread_parent(token)

    def isatty(self) -> bool:
        return self._target().isatty()

    @property
    def encoding(self) -> str:
        return getattr(self._target(), "encoding", "utf-8")

    @property
    def name(self) -> str:
        return self.kernel_stream.name

    def fileno(self) -> int:
        return self.other.fileno()


class _WorkerShell(ZMQInteractiveShell):
    """IPython's kernel shell, minus what assumes it owns the process."""

    def init_sys_modules(self) -> None:
        # Leave sys.modules["__main__"] alone: it is the worker's. The cells' module is still named
        # "__main__", so functions defined in the kernel pickle by value when submitted as tasks.
        pass

    def init_environment(self) -> None:
        # ipykernel sets TERM, FORCE_COLOR, PAGER, ... in os.environ: the tasks' environment, here.
        pass

    async def run_code(self, code_obj: Any, result: Any = None, *, async_: bool = False) -> bool:
        """Run a cell's code where the worker kernel can interrupt it."""
        host = self.kernel.worker_kernel
        if async_:
            with host.running_cell(asyncio.current_task()):
                return await super().run_code(code_obj, result, async_=True)
        try:
            with host.running_cell():
                return await super().run_code(code_obj, result, async_=False)
        except KeyboardInterrupt as exc:
            # The interrupt came just as the code ended, in IPython's own handling of it: the cell's error still.
            if result is not None:
                result.error_in_exec = exc
            self.showtraceback()
            return True


class _WorkerIPythonKernel(IPythonKernel):
    """``IPythonKernel`` that never signals or stops its process: interrupts and shutdowns go to its
    ``WorkerKernel`` (set as ``worker_kernel`` right after construction)."""

    shell_class = Type(_WorkerShell)
    worker_kernel: WorkerKernel

    def start(self) -> None:
        """Register the stream handlers (IPythonKernel.start without the debugger)."""
        if self.shell is not None:
            self.shell.exit_now = False
        Kernel.start(self)

    @property
    def kernel_info(self) -> dict:
        info = dict(super().kernel_info)
        info["supported_features"] = [f for f in info.get("supported_features", []) if f != "debugger"]
        return info

    def pre_handler_hook(self) -> None:
        pass  # ipykernel sets a SIGINT handler here: only the main thread may, and SIGINT is the worker's

    def post_handler_hook(self) -> None:
        pass

    @contextlib.contextmanager
    def _cancel_on_sigint(self, future: Any):
        yield  # the worker kernel cancels an awaiting cell itself (WorkerKernel.interrupt)

    async def interrupt_request(self, stream: Any, ident: Any, parent: Any) -> None:
        """Interrupt the running cell (ipykernel would send SIGINT to the whole process group)."""
        self.worker_kernel.interrupt()
        self.session.send(stream, "interrupt_reply", {"status": "ok"}, parent, ident=ident)

    async def shutdown_request(self, stream: Any, ident: Any, parent: Any) -> None:
        """Stop this kernel; the worker goes on (ipykernel would also terminate the process's children)."""
        content = {"status": "ok", "restart": bool(parent["content"].get("restart"))}
        self.session.send(stream, "shutdown_reply", content, parent, ident=ident)
        self.session.send(self.iopub_socket, "shutdown_reply", content, parent, ident=self._topic("shutdown"))
        self.worker_kernel.request_stop()

    async def do_debug_request(self, msg: dict) -> dict:
        """Debugging is off: debugpy would trace the whole worker process."""
        return {"type": "response", "request_seq": msg.get("seq"), "success": False,
                "command": msg.get("command"), "message": "debugging is not available in worker kernels"}
