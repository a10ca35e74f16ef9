"""The worker process: its connection to the scheduler, its peers, and its executor.

Rule 1: the event loop owns the state machine (``self.state``), the connections' reading side and
the timers. Every method here runs on the loop unless its docstring names another thread.

Rule 2: executor threads run ``_run_task`` (and in it ``_execute``, the user's code). They never
touch the state machine: a thread ``claim``s and ``finish``es its task in ``self.claims``, sends
the task's result itself (``ResultReports.add``), and returns a report, ``("done", task, ok, start,
stop)`` or ``("skipped", task)``, which the loop applies to the state machine a batch at a time
(``_on_reports`` -> ``WorkerState.executed``).

Rule 3: a thread reaches the loop only through ``loop.call_soon_threadsafe`` or through objects made
to be shared, each with its own lock: ``Claims``, ``ReadyQueue``, ``ResultReports``, ``TaskOutput``,
``DataStore``, and ``Comm.write_now`` (never ``Comm.queue``, which is the loop's).

Rule 4: task output leaves from whichever thread flushes it (``_send_output``); it finds the task in
the executor's ``executing``, not in the state machine.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict, deque
from functools import partial
from typing import Any, Callable

import psutil

from ..protocol.story import InvalidTransition
from ..protocol import buffers, messages, serialize
from ..protocol.address import address_scheme, format_address
from ..protocol.comm import Comm, CommClosedError
from ..protocol.connect import Listener, cached_connection, connect, probe
from ..protocol.security import Security
from ..protocol.context import (
    ClientNeeded,
    TaskContext,
    process_worker,
    set_current_task,
    set_process_worker,
)
from ..protocol.errors import Reschedule
from ..protocol.eventloop import running_loop
from ..protocol.logs import LogBuffer
from ..protocol.events import check_plain, check_topics
from ..protocol.remote_call import call_with
from ..protocol.tracebacks import dump_traceback
from .actors import ActorRunner
from .claims import Claims
from .executor import Executor
from .forwarding import LogForwarding
from .interrupt import Interrupter, TaskCancelled, TaskTimedOut
from .kernel_host import KernelHost
from .logs import OutputCopies
from .output import TaskOutput
from .plugins import WorkerPlugins
from .output import install as install_output
from .profile import Profiler
from .state import WorkerState, WorkerTask, finished_message
from .memory import DEFAULT_THRESHOLDS, reply_bytes, trim_memory
from .memory import memory_thresholds as thresholds_of
from .store import DataStore
from .replicas import fetch_replicas
from .uploads import receive_upload, save_upload

logger = logging.getLogger("jupyter_futures.worker")

METRICS_INTERVAL = 1.0
SCHEDULER_PROBE_TIMEOUT = 2.0  # seconds to tell a scheduler that dropped this worker from one that is gone
MEMORY_CHECK_INTERVAL = 0.2  # seconds between RSS checks of a worker with a memory limit
THRESHOLDS = DEFAULT_THRESHOLDS  # shares of the memory limit: spill, pause, terminate (worker/memory.py)
PAUSE_FRACTION = THRESHOLDS["pause"]  # past this share of the memory limit the executor starts no new task
MAX_TRANSFERS = 1000  # transfer records carried by one metrics message
RUNNING_TICK = 0.01  # a task still running after this long is reported as "running"
FUNCTION_CACHE_SIZE = 1000


class Worker:
    """Runs tasks the scheduler assigns, serves its data to peers and clients."""

    def __init__(self, scheduler_address: str, token: str, nthreads: int = 1, memory_limit: int = 0,
                 name: str | None = None, host: str | None = None, resources: dict | None = None,
                 memory_thresholds: dict | None = None, spill_dir: str | None = None,
                 local_directory: str | None = None, security=None):
        self.scheduler_address = scheduler_address
        self.security = security  # protocol.security.Security; a tls:// scheduler means TLS for peers too
        self.token = token
        self.nthreads = nthreads
        self.memory_limit = memory_limit
        self.name = name
        self.host = host
        self.resources = resources or {}
        self.thresholds = thresholds_of(memory_thresholds)
        self.reply_bytes = reply_bytes(memory_limit)  # the most one reply to get_data holds
        self.data = DataStore(memory_limit, spill_dir=spill_dir, spill_fraction=self.thresholds["spill"],
                              local_dir=local_directory)
        self.registered = asyncio.Event()  # set when the scheduler accepted this worker
        self.on_registered: Callable[[], None] | None = None  # called then, before any task of it starts
        if memory_limit:  # idle receive buffers count in the RSS the nanny watches
            buffers.pool.limit = min(buffers.pool.limit, memory_limit // 10)
        self.state: WorkerState | None = None
        self.claims = Claims(self.data)  # where executor threads and the loop settle who has a task
        self.scheduler: Comm | None = None
        self.listener: Listener | None = None
        self.executor: Executor | None = None
        self.peers: dict[str, Comm] = {}
        self.clients: dict[str, Comm] = {}  # client id -> its connection to this worker
        self._client = None
        self._client_lock = threading.Lock()
        self.restart_requested = False
        self._seceded_keys: set[str] = set()
        self.interrupter = Interrupter()
        self.kernel = KernelHost(self)  # a Jupyter kernel in this process, opened on request
        self._relayed_output: set[str] = set()  # tasks whose output went through the scheduler
        self._timeouts: dict[str, asyncio.TimerHandle] = {}
        self._peer_locks: dict[str, asyncio.Lock] = {}
        self.functions: OrderedDict[str, Any] = OrderedDict()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._process = psutil.Process()
        self.address = ""
        self._running_tick: asyncio.TimerHandle | None = None
        self.profiler: Profiler | None = None
        self.log_buffer = LogBuffer()
        self.output_copies = OutputCopies()
        self._transfers: deque = deque(maxlen=MAX_TRANSFERS)  # (keys, peer, start, stop, nbytes) since last metrics
        self.paused = False
        self.plugin_host = WorkerPlugins(self, _error_record)  # plugins.py; ``plugins`` is dask's dict of them
        self.plugins = self.plugin_host.plugins
        self.forwarding = LogForwarding(self.log_event)  # Client.forward_logging's handlers

    async def start(self) -> Worker:
        """Connect to the scheduler, listen for peers, register."""
        self.loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        set_process_worker(self)
        scheme = address_scheme(self.scheduler_address)
        context = (self.security or Security()).server_context("worker") if scheme == "tls" else None
        self.scheduler = await connect(self.scheduler_address, self.token, security=self.security, role="worker")
        host = self.host or self.scheduler.sock.getsockname()[0]
        self.listener = Listener(host, 0, self.token, self._on_peer, name=f"worker {self.name or ''}".strip(),
                                 ssl_context=context)
        await self.listener.start()
        self.address = format_address(host, self.listener.port, scheme)
        self.name = self.name or self.address
        self.log_buffer.worker = self.output_copies.worker = self.address
        logging.getLogger().addHandler(self.log_buffer)
        self.state = WorkerState(self.address, self.data, self.claims)
        self._handlers = self._scheduler_handlers()
        self.executor = Executor(self.nthreads, self._run_task, self._on_reports, self.loop,
                                 resources=self.resources)
        self.actors = ActorRunner(self.loop, _error_record, self.has_client, self.ensure_client)
        self.reports = ResultReports(self)
        self.output = TaskOutput(self._send_output, lambda fn: self.loop.call_soon_threadsafe(fn))
        self._uninstall_output = install_output(self.output)
        self.interrupter.install_sleep()
        # Samples the stacks of running tasks: the frames below _execute are the task's.
        self.profiler = Profiler(self.executor.executing, Worker._execute.__code__).start()
        self.scheduler.serve_rpc(self._rpc_handlers())
        self.scheduler.on_close.append(self._scheduler_lost)
        self.scheduler.start(self._on_scheduler_batch)
        self.scheduler.queue(messages.register_worker(self.address, self.nthreads, self.memory_limit, self.name,
                                                      os.getpid(), self.resources))
        self.loop.call_later(METRICS_INTERVAL, self._send_metrics)
        if self.memory_limit:
            self.loop.call_later(MEMORY_CHECK_INTERVAL, self._check_memory)
        logger.info("worker %s connected to %s", self.address, self.scheduler_address)
        return self

    async def finished(self) -> None:
        """Wait until the worker stops."""
        await self._stopped.wait()

    async def close(self) -> None:
        """Stop serving and disconnect."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if process_worker() is self:
            set_process_worker(None)
        await self.kernel.close()  # first: its cells may use the worker
        await self.plugin_host.close()
        if self.listener:
            self.listener.stop()
        if self.executor:
            self.executor.close()
            self.actors.close()
            self._uninstall_output()
            self.interrupter.uninstall_sleep()
        if self.profiler:
            self.profiler.close()
        logging.getLogger().removeHandler(self.log_buffer)
        self.forwarding.close()
        if self._client is not None:
            await self.loop.run_in_executor(None, self._client.close)
        for comm in list(self.peers.values()):
            comm.close()
        if self.scheduler:
            self.scheduler.close()
        self.data.close()

    def _scheduler_lost(self, comm: Comm) -> None:
        if not self._stopped.is_set():
            self.loop.create_task(self._after_scheduler_lost())

    async def _after_scheduler_lost(self) -> None:
        """The connection to the scheduler closed. A scheduler that still listens dropped this worker
        (it fell silent past the workers' time-to-live, e.g. frozen): the nanny starts a fresh one. A
        scheduler that is gone: this worker stops for good."""
        try:
            await probe(self.scheduler_address, SCHEDULER_PROBE_TIMEOUT)
        except OSError:
            logger.warning("lost the scheduler at %s; worker %s stops", self.scheduler_address, self.address)
        else:
            logger.warning("the scheduler at %s dropped worker %s (silent too long?); it restarts",
                           self.scheduler_address, self.address)
            self.restart_requested = True
        await self.close()

    # -- from the scheduler ---------------------------------------------------
    def _scheduler_handlers(self) -> dict:
        """What the scheduler may send: op -> handler of the message's fields (protocol/messages.py).
        A handler may return instructions of the state machine, which ``_do`` carries out."""
        state = self.state
        return {
            messages.COMPUTE: state.compute,
            messages.FREE: self._free,
            messages.STEAL: state.steal,
            messages.CLOSE: self._close_soon,
            messages.RESTART: self._restart,
            messages.REGISTERED: self._registered,
            messages.WORKER_PLUGINS: self.plugin_host.add_all,
            messages.FORWARD_LOGGING: self.forwarding.start,
            messages.UNFORWARD_LOGGING: self.forwarding.stop,
            messages.UPLOAD_FILE: partial(receive_upload, self),
        }

    def _registered(self, scheduler_id: str) -> None:
        self.registered.set()
        if self.on_registered is not None:
            self.on_registered()

    def _on_scheduler_batch(self, comm: Comm, msgs: list) -> None:
        handlers = self._handlers
        for msg in msgs:
            try:
                handler = handlers[msg[0]]
            except KeyError:
                if not comm.handle_rpc_message(msg):
                    logger.warning("unknown message %r from the scheduler", msg[0])
                continue
            instructions = handler(*msg[1:])
            if instructions:
                self._do(instructions)
        comm.flush()

    def log_event(self, topic: str | list[str], msg: Any) -> None:
        """Log ``msg`` (plain, msgpack-like data) under ``topic`` (a str or a list of str) in the scheduler's
        events, as dask's ``Worker.log_event``: a task calls ``get_worker().log_event(topic, msg)``. Any
        thread; the message leaves from the loop."""
        topics = check_topics(topic, "log_event")
        check_plain(msg, "log_event")
        msg = messages.log_event(topics, msg)
        if running_loop() is self.loop:
            self._send_event(msg)
        else:
            try:
                self.loop.call_soon_threadsafe(self._send_event, msg)
            except RuntimeError:  # the loop is closed: this worker has stopped, nobody hears events
                pass

    def _send_event(self, msg: tuple) -> None:
        if self.scheduler is not None and not self.scheduler.closed:
            self.scheduler.queue(msg)

    def _close_soon(self) -> None:
        self.loop.create_task(self.close())

    def _restart(self) -> None:
        """Client.restart(): this process ends, its nanny starts a new one."""
        self.restart_requested = True
        self.loop.create_task(self.close())

    def _free(self, keys: list[str]) -> None:
        """The scheduler released these keys here (one message may carry thousands)."""
        gone = set(keys)
        running = [t for t in list(self.executor.executing.values()) if t.key in gone]
        self._do(self.state.free(keys))
        for task in running:  # cancelled while it runs: stop it where it is
            self.interrupter.interrupt(task, TaskCancelled)
        if self.actors.actors:
            for key in gone:
                self.actors.drop(key)

    def _do(self, instructions: list) -> None:
        self.plugin_host.deliver_moves()  # the moves that made these instructions
        for ins in instructions:
            kind = ins[0]
            if kind == "execute":
                task = ins[1]
                self.executor.ready.push(task.priority, task, task.options.get("resources"))
                if self._running_tick is None:
                    self._running_tick = self.loop.call_later(RUNNING_TICK, self._watch_running)
            elif kind == "send":
                if not self.scheduler.closed:
                    self.scheduler.queue(ins[1])
            elif kind == "fetch":
                self.loop.create_task(self._fetch(ins[1], ins[2]))

    # -- executing ------------------------------------------------------------
    def _function(self, token: str, blob: Any):
        fn = self.functions.get(token)
        if fn is None:
            fn = serialize.loads(blob)
            self.functions[token] = fn
            if len(self.functions) > FUNCTION_CACHE_SIZE:
                self.functions.popitem(last=False)
        return fn

    def _run_task(self, task: WorkerTask) -> tuple:
        """In an executor thread: run one task, send its result; returns a report for the loop."""
        start = time.time()
        if not self.claims.claim(task):
            return ("skipped", task)
        if task.options.get("timeout"):
            self.loop.call_soon_threadsafe(self._arm_timeout, task)
        ctx = TaskContext(task.key, self)
        set_current_task(ctx)
        submitted = self._client.n_submitted if self._client is not None else 0
        try:
            ok, value, ser, nbytes, start, stop = self._execute(task, start)
        finally:
            set_current_task(None)
            self._seceded_keys.discard(task.key)
        if self._client is not None and self._client.n_submitted != submitted:
            # The result may hold futures of tasks this task submitted; whoever gets it will ask the
            # scheduler for those keys, maybe on a connection it reads first: it must know them by then.
            self._client.sync_with_scheduler()
        stored = self.claims.finish(task, ok, value, nbytes)
        self.output.flush(task.key)  # what it printed arrives before its result
        if not stored:  # cancelled while it ran
            return ("done", task, ok, start, stop)
        clients = []
        if ok:
            # The clients waiting for this key hear it from here too: one hop instead of two; unless
            # its output went through the scheduler, where the result must follow it.
            if task.key in self._relayed_output:
                self._relayed_output.discard(task.key)
            else:
                clients = [c for c in task.clients if c in self.clients and not self.clients[c].closed]
            msg = finished_message(task.key, value, nbytes, start, stop, ser, clients)
        elif ok is None:  # it raised Reschedule
            msg = messages.reschedule(task.key)
        else:
            exception, traceback = value
            msg = messages.erred(task.key, exception, traceback, start, stop)
        # A lone task's result leaves now, from this thread; while more tasks wait, results are
        # batched and the loop sends them (one frame per peer instead of one per task).
        self.reports.add(msg, clients, now=not len(self.executor.ready))
        return ("done", task, ok, start, stop)

    def _secede(self, ctx: TaskContext) -> None:
        ctx.seceded = True
        self.executor.secede()
        if ctx.key not in self._seceded_keys:  # the scheduler needs telling once per task
            self._seceded_keys.add(ctx.key)
            try:
                self.scheduler.write_now([messages.seceded(ctx.key)])
            except CommClosedError:
                pass

    def _rejoin(self, ctx: TaskContext, wait: bool = True) -> None:
        ctx.seceded = False
        self.executor.rejoin(wait)

    def get_client(self):
        """This worker process's client (one, made on first use), for tasks that submit tasks."""
        if self.has_client():
            return self._client
        if running_loop() is not None:
            # A client is made by waiting on its connections: not on an event loop (on this worker's, it
            # would wait for this very loop, which its client connects to).
            raise ClientNeeded("the worker's client cannot be made on an event loop (e.g. in a function "
                               "given to client.run); call get_client() in a task first")
        with self._client_lock:
            if self._stopped is not None and self._stopped.is_set():
                raise RuntimeError(f"worker {self.address} is closing: it makes no new client")
            if self._client is None or self._client.status != "running":
                from ..client.client import Client

                self._client = Client(self.scheduler_address, token=self.token, set_as_default=False,
                                      security=self.security,
                                      name=f"worker-client-{uuid.uuid4().hex[:8]}")
            return self._client

    def _execute(self, task: WorkerTask, start: float) -> tuple:
        """(ok, value or error record, serialized value, nbytes, start, stop) of running ``task``; ok is
        None when it raised ``Reschedule``."""
        try:
            fn = self._function(task.func_token, task.func)
            args, kwargs = serialize.loads(task.args, persistent_load=self.data.get)
            with self.interrupter.running(task):
                value = fn(*args, **kwargs)
            if task.options.get("actor"):
                # The instance stays here; the task's value is a proxy that calls it (the proxy type is
                # imported only by actor tasks).
                from ..client.actor import Actor

                self.actors.create(task.key, value)
                # Its methods may run on the loop, where the worker's client cannot be made: make it now.
                self.get_client()
                value = Actor(type(value), self.address, task.key)
        except Reschedule:
            return (None, None, None, 0, start, time.time())
        except TaskTimedOut as exc:
            limit = task.options.get("timeout")
            err = TimeoutError(f"task {task.key!r} ran longer than its timeout of {limit} s and was interrupted")
            err.__traceback__ = exc.__traceback__
            return (False, _error_record(err, skip=1), None, 0, start, time.time())
        except BaseException as exc:  # noqa: BLE001 - a task's failure is reported, never fatal
            return (False, _error_record(exc, skip=1), None, 0, start, time.time())
        stop = time.time()
        try:
            ser = serialize.dumps(value)
        except Exception as exc:
            err = TypeError(
                f"the result of task {task.key!r} (a {type(value).__name__}) cannot be pickled to send it back: "
                f"{exc}. Return a picklable value, e.g. convert it to plain Python or NumPy objects.")
            return (False, _error_record(err, skip=0), None, 0, start, stop)
        return (True, value, ser, ser.nbytes, start, stop)

    def _on_reports(self, reports: list) -> None:
        self.reports.flush()  # results batched by the threads: this is the loop wake-up they wait for
        state = self.state
        for report in reports:
            if report[0] == "done":
                _, task, ok, start, stop = report
                if ok is None:
                    state.rescheduled(task, start, stop)
                else:
                    state.executed(task, ok, start, stop)
                self._relayed_output.discard(task.key)
                timer = self._timeouts.pop(task.key, None)
                if timer is not None:
                    timer.cancel()
        self.plugin_host.deliver_moves()

    def _send_output(self, batch: list[tuple[str, str, str]]) -> None:
        """Any thread: task output to the clients that wait for the task, directly, else through the
        scheduler."""
        for key, stream, text in batch:
            task = self._running_task(key)
            comms = [self.clients.get(c) for c in task.clients] if task is not None and task.clients else [None]
            if all(comm is not None and not comm.closed for comm in comms):
                for comm in comms:
                    try:
                        comm.write_now([messages.task_output(key, self.address, stream, text)])
                    except CommClosedError:
                        pass
                self.output_copies.add(key, stream, text)  # the scheduler's feed never saw it: a copy
            elif not self.scheduler.closed:
                self._relayed_output.add(key)
                self.scheduler.write_now([messages.worker_output(key, stream, text)])

    def _running_task(self, key: str) -> WorkerTask | None:
        """Any thread: the task a thread runs under ``key`` (the executor's ``executing``; a task only
        prints while it runs)."""
        for task in list(self.executor.executing.values()):
            if task.key == key:
                return task
        return None

    def _arm_timeout(self, task: WorkerTask) -> None:
        """Interrupt ``task`` if it still runs after its ``timeout``."""
        def expire() -> None:
            self._timeouts.pop(task.key, None)
            if self.claims.running(task):
                self.interrupter.interrupt(task, TaskTimedOut)
        if self.claims.running(task):
            self._timeouts[task.key] = self.loop.call_later(task.options["timeout"], expire)

    def _watch_running(self) -> None:
        """Report tasks that have been running for a tick; short tasks never cost a "started" message."""
        self._running_tick = None
        if self.executor.executing:
            self.profiler.wake()  # tasks run for a tick now: sample them (a lone short task wakes nothing)
        for task in list(self.executor.executing.values()):
            self._do(self.state.started(task))
        if self.executor.executing or len(self.executor.ready):
            self._running_tick = self.loop.call_later(RUNNING_TICK, self._watch_running)

    # -- data between workers -------------------------------------------------
    async def _peer(self, address: str) -> Comm:
        return await cached_connection(self.peers, self._peer_locks, address, self._connect_peer)

    async def _connect_peer(self, address: str) -> Comm:
        comm = await connect(address, self.token, timeout=5, security=self.security, role="worker")
        comm.start(lambda c, msgs: [c.handle_rpc_message(m) for m in msgs])
        return comm

    async def _fetch(self, peer: str, keys: list[str]) -> None:
        start = time.time()
        try:
            comm = await self._peer(peer)
            reply, deferred = await comm.request("get_data", keys)
            self._transfers.append((list(reply), peer, start, time.time(), sum(ser.nbytes for ser in reply.values())))
        except Exception as exc:
            logger.info("could not fetch %s from %s: %s", keys, peer, exc)
            self._do(self.state.fetch_failed(peer, keys))
            return
        values, undecodable = {}, {}
        for key, ser in reply.items():
            try:
                values[key] = (await self.deserialize(ser), ser.nbytes)
            except Exception as exc:  # noqa: BLE001 - the tasks that need it fail, not the worker
                err = RuntimeError(f"could not unpickle input {key!r} fetched from {peer}: "
                                   f"{type(exc).__name__}: {exc}")
                undecodable[key] = _error_record(err, skip=0)
        self._do(self.state.fetched(peer, keys, values, undecodable, deferred))

    async def deserialize(self, ser: serialize.Serialized) -> Any:
        """On the loop: unpickle ``ser``; if it holds futures, first make the worker's client (off the loop)."""
        try:
            return serialize.loads(ser)
        except ClientNeeded:
            await self.ensure_client()
            return serialize.loads(ser)

    def has_client(self) -> bool:
        """True once this worker's client runs."""
        return self._client is not None and self._client.status == "running"

    async def ensure_client(self) -> None:
        """On the loop: make this worker's client, in a thread, unless it runs already."""
        if not self.has_client():
            await self.loop.run_in_executor(None, self.get_client)

    def _on_peer(self, comm: Comm) -> None:
        comm.serve_rpc(self._rpc_handlers())
        comm.start(partial(self._on_peer_batch, self._peer_handlers(comm)))

    def _peer_handlers(self, comm: Comm) -> dict:
        """What a client may send on a connection to this worker, besides requests."""
        return {messages.REGISTER_CLIENT: partial(self._client_connected, comm)}

    def _on_peer_batch(self, handlers: dict, comm: Comm, msgs: list) -> None:
        """A batch from a peer worker or a client: requests, actor calls, a client's registration."""
        for msg in msgs:
            try:
                if msg[0] == "rpc" and msg[2] == "actor_call":
                    self.actors.call(comm, msg[1], *msg[3])
                elif not comm.handle_rpc_message(msg):
                    messages.dispatch(handlers, msg)
            except InvalidTransition:  # a bug of ours: the test suite (JUPYTER_FUTURES_STRICT=1) must see it
                raise
            except Exception:  # one bad message is logged and dropped; the rest of the batch still counts
                logger.exception("could not handle message %.80r from %s", msg, comm.peer)

    def _client_connected(self, comm: Comm, client_id: str, info: dict | None = None) -> None:
        """This client wants to hear directly when its tasks finish here."""
        self.clients[client_id] = comm
        comm.on_close.append(lambda c: self.clients.pop(client_id, None) if self.clients.get(client_id) is c
                             else None)

    # -- requests -------------------------------------------------------------
    def _rpc_handlers(self) -> dict:
        return {
            "get_data": self._rpc_get_data,
            "put_data": self._rpc_put_data,
            "rename_data": self._rpc_rename_data,
            "run": self._rpc_run,
            "keys": lambda comm: self.data.keys(),
            "ping": lambda comm: "pong",
            **self.kernel.rpc_handlers(),
            **self.plugin_host.rpc_handlers(),
            "profile": lambda comm, start=None, stop=None, key=None, keys=None: self.profiler.handle(
                start, stop, key, keys),
            "stacks": lambda comm: self.profiler.stacks(),
            "logs": lambda comm, since=None: self.log_buffer.since(since),
            "story": lambda comm, keys: self.state.story.of(keys),
            "upload_file": lambda comm, filename, data, load: save_upload(self, filename, data, load),
            "fetch_replicas": lambda comm, who_has: fetch_replicas(self, who_has),
        }

    def _rpc_get_data(self, comm: Comm, keys: list[str]) -> tuple[dict, list[str]]:
        """({key: pickled value} of ``keys`` held here, the keys left for another request): a reply
        holds ``reply_bytes`` at most (and one value at least), since it is built in memory."""
        out: dict = {}
        size = 0
        for i, key in enumerate(keys):
            if key not in self.data:
                continue
            if out and size + self.data.sizes.get(key, 0) > self.reply_bytes:
                return out, keys[i:]
            out[key] = self.data.serialized(key)  # a spilled value is sent from disk, not loaded back
            size += out[key].nbytes
        return out, []

    async def _rpc_put_data(self, comm: Comm, items: dict) -> dict:
        sizes = {}
        for key, ser in items.items():
            value = await self.deserialize(ser)
            nbytes = ser.nbytes
            self.data.put(key, value, nbytes)
            sizes[key] = (nbytes, type(value).__name__)
        return sizes

    def _rpc_rename_data(self, comm: Comm, renames: dict) -> None:
        for old, new in renames.items():
            if old in self.data and old != new:
                value, nbytes = self.data.get(old), self.data.sizes[old]
                self.data.pop(old)
                self.data.put(new, value, nbytes)

    async def _rpc_run(self, comm: Comm, fn_ser, args_ser, kwargs_ser) -> Any:
        fn = await self.deserialize(fn_ser)
        args = await self.deserialize(args_ser)
        kwargs = await self.deserialize(kwargs_ser)
        try:
            return ("ok", serialize.dumps(await call_with(fn, args, kwargs, self, ("dask_worker", "worker"))))
        except Exception as exc:
            return ("error", _error_record(exc, skip=0))

    def _send_metrics(self, again: bool = True) -> None:
        """Once a second: memory, CPU, tasks; and, for the scheduler's feed, the log records, output
        copies and transfers since the last one."""
        if self._stopped.is_set() or self.scheduler.closed:
            return
        try:
            mem = self._process.memory_info().rss
            cpu = self._process.cpu_percent()
        except psutil.Error:
            mem, cpu = 0, 0.0
        managed = self.data.fast_bytes
        transfers, self._transfers = list(self._transfers), deque(maxlen=MAX_TRANSFERS)
        self.scheduler.queue(messages.metrics({
            "memory": mem, "cpu": cpu, "managed_bytes": self.data.nbytes, "managed": managed,
            "spilled": self.data.spilled_bytes, "spilled_keys": len(self.data.spilled),
            "unmanaged": max(mem - managed, 0), "memory_limit": self.memory_limit, "thresholds": self.thresholds,
            "paused": self.paused, "executing": len(self.executor.executing), "ready": len(self.executor.ready),
            "time": time.time(), "logs": self.log_buffer.take_new() + self.output_copies.take_new(),
            "transfers": transfers,
        }))
        if again:
            self.loop.call_later(METRICS_INTERVAL, self._send_metrics)

    def _check_memory(self) -> None:
        """Past the ``pause`` share of the memory limit (process RSS): spill held values until back under
        the ``spill`` share; if still past ``pause``, pause the executor (running tasks go on; data is
        still served and fetched) and resume once below."""
        if self._stopped.is_set():
            return
        rss = self._rss()
        pause, spill = self.thresholds["pause"], self.thresholds["spill"]
        if pause and rss > pause * self.memory_limit and spill:
            rss = self._spill_to(spill * self.memory_limit, rss)
        over = bool(pause) and rss > pause * self.memory_limit
        if over != self.paused:
            self.paused = over
            if over:
                self.executor.ready.pause()
                logger.warning("worker %s paused: it uses %d MB, over %d%% of its memory limit of %d MB; "
                               "running tasks go on, no new one starts until memory is freed", self.address,
                               rss // 2**20, int(pause * 100), self.memory_limit // 2**20)
            else:
                self.executor.ready.resume()
                logger.info("worker %s resumed: it uses %d MB, under %d%% of its memory limit", self.address,
                            rss // 2**20, int((pause or 1) * 100))
            self._send_metrics(again=False)  # the feed shows it now, not within a second
        self.loop.call_later(MEMORY_CHECK_INTERVAL, self._check_memory)

    def _rss(self) -> int:
        try:
            return self._process.memory_info().rss
        except psutil.Error:
            return 0

    def _spill_to(self, goal: float, rss: int) -> int:
        """Spill held values, least recently used first, until RSS is under ``goal``; returns RSS."""
        freed = 0
        while rss > goal:
            nbytes = self.data.spill_oldest()
            if not nbytes:
                break
            freed += nbytes
            trim_memory()
            rss = self._rss()
        if freed:
            logger.info("worker %s spilled %d MB to disk: its process used more than %d%% of its memory limit",
                        self.address, freed // 2**20, int(self.thresholds["pause"] * 100))
        return rss


class ResultReports:
    """Finished/erred messages of tasks, for the scheduler and the clients that wait for them.

    Queued ones leave with the next ``flush``: the loop calls it when it takes the executor's
    reports, which every ``add`` is followed by, so batching costs no wake-up of its own.
    """

    def __init__(self, worker: Worker):
        self.worker = worker
        self._lock = threading.Lock()
        self._to_scheduler: list[tuple] = []
        self._to_clients: dict[str, list[tuple]] = {}

    def add(self, msg: tuple, clients: list[str], now: bool) -> None:
        """Queue a task's report (and a finished note for ``clients``); send at once when ``now``."""
        with self._lock:
            self._to_scheduler.append(msg)
            if clients:
                _, key, nbytes, type_name, small, start, stop, _told = msg  # a finished message
                note = messages.task_finished(key, type_name, nbytes, [self.worker.address], small, start, stop)
                for client in clients:
                    self._to_clients.setdefault(client, []).append(note)
            if now:
                self._send_locked()

    def flush(self) -> None:
        """Send what is queued."""
        if self._to_scheduler:  # read without the lock: an add it misses is followed by another flush
            with self._lock:
                self._send_locked()

    def _send_locked(self) -> None:
        worker = self.worker
        reports, self._to_scheduler = self._to_scheduler, []
        notes, self._to_clients = self._to_clients, {}
        if not reports or worker.scheduler.closed:
            return
        try:
            worker.scheduler.write_now(reports)  # the scheduler first: who_has is right when clients ask
        except CommClosedError:
            return
        for client, batch in notes.items():
            comm = worker.clients.get(client)
            try:
                comm.write_now(batch)
            except (CommClosedError, AttributeError):  # the scheduler tells it instead
                try:
                    worker.scheduler.write_now([messages.tell_clients(key, [client]) for _, key, *_rest in batch])
                except CommClosedError:
                    pass


def _error_record(exc: BaseException, skip: int) -> tuple:
    """(pickled exception, traceback frames) for an exception raised by user code."""
    try:
        ser = serialize.dumps(exc)
        serialize.loads(ser)
    except Exception:
        ser = serialize.dumps(Exception(f"{type(exc).__name__}: {exc}"))
    return ser, dump_traceback(exc.__traceback__, skip=skip)
