"""``Client``: submit work to a scheduler, hold futures, gather and scatter data.

Threads: which one may do what.

Rule 1: any thread but the client's loop thread may call every blocking method. What it sends
(``submit``, ``map``, releases, coordination) goes through the ``Outbox``, which the calling thread
writes to the scheduler's socket itself, one sender at a time, in order. A request to the scheduler
(``who_has``, ``run``, datasets, ...) leaves from the calling thread, which waits for the reply there.
Blocking methods refuse to run on the loop thread: they would wait for the loop that answers them.

Rule 2: the loop thread (a background thread of the process for a blocking client; the caller's own
loop for ``Client(asynchronous=True)``) runs what arrives, in order: ``_on_batch`` hands task events to
the ``FutureTable`` (the only thread that changes how a future ends), task output to ``TaskOutput``,
replies to the requests waiting for them. ``subscribe`` and ``subscribe_output`` callbacks run there,
so they must not block. It also connects to workers and fetches large values for user threads
(``sync``), and sends what it queues once per loop turn.

Rule 3: ``Future.__del__`` runs wherever garbage collection runs, inside any lock of any thread: it only
queues the key (``FutureTable.drop``); the next flush of the outbox, at the latest
``RELEASE_INTERVAL`` later, sends the release. Other ``__del__`` methods use ``outbox.send_later``.

Rule 4: ``on_submit`` callbacks run in the submitting thread; done callbacks (``add_done_callback``)
in the client's one callback thread.
"""
from __future__ import annotations

import asyncio
import atexit
import contextlib
import inspect
import logging
import threading
import uuid
from typing import Any, Callable, Iterable

from ..protocol import auth, messages, schedulerfile
from ..protocol.comm import Comm, CommClosedError
from ..protocol.connect import connect, probe
from ..protocol.durations import parse_duration
from ..protocol.eventloop import background_loop, run_on, sync, wait_in_task
from . import current, hooks
from .cfexecutor import ExecutorAccess
from .collections import DaskCollections, stop_using_for_dask, use_for_dask
from .data import DataMovement
from .datasets import PublishedDatasets
from .events import ClientEvents, TopicHandlers
from .functions import serialize_function
from .future import DONE_STATES, Future
from .identity import kernel_info
from .inspection import ClusterInspection
from .kernels import WorkerKernels
from .keys import canonical_form, funcname, key_for, random_key
from .options import check_direct, per_call_mode
from .outbox import RELEASE_INTERVAL, Outbox
from .plugins import PluginRegistration
from .output import TaskOutput
from .payload import check_key, serialize_args, task_options
from .replay import TaskReplay
from .results import FutureResults
from .structure import find_futures
from .table import FutureTable
from .versions import VersionInfo
from .workers_ops import WorkerOperations

logger = logging.getLogger("jupyter_futures.client")

HEARTBEAT_INTERVAL = 2.0  # seconds: the scheduler takes a client silent past its client TTL for dead


def _selected_cluster_address() -> str | None:
    """In a kernel of a Jupyter server with the extension: the cluster selected in the sidebar, if any."""
    from ..protocol import registry

    record = registry.selected_for_new_clients()
    return record["address"] if record else None


class _CallMode(threading.local):
    """One call's ``asynchronous=`` in this thread (options.per_call_mode); None: the client's own mode."""

    value: bool | None = None  # a class default: reading it raises nothing (a fast path of every call)


class ClientClosedError(RuntimeError):
    """The client was closed."""


class Client(FutureResults, DataMovement, ClusterInspection, PublishedDatasets, WorkerKernels, DaskCollections,
             ExecutorAccess, VersionInfo, ClientEvents, WorkerOperations, PluginRegistration, TaskReplay):
    """Connects to a jupyter_futures scheduler, or starts a ``LocalCluster`` when given no address.

    ``Client()``, ``Client(n_workers=4, threads_per_worker=2)``, ``Client("tcp://host:8786")``,
    ``Client(cluster)``, ``Client(scheduler_file="sched.json")``; ``Client(asynchronous=True)`` in async code
    (``await`` its methods).
    ``timeout`` (of connecting) is seconds or a duration such as ``"30s"``. ``loop`` is accepted for dask
    code and not used: a blocking client runs on a background event loop of its own, an asynchronous one
    on the running loop.

    ``client.futures`` is what the client knows of its futures, a dict-like of key -> state as dask's
    (``FutureTable``); ``client.outbox`` what it sends the scheduler (``Outbox``).
    """

    def __init__(self, address: Any = None, loop: Any = None, *, asynchronous: bool = False,
                 timeout: float | str = 10.0, token: str | None = None, set_as_default: bool = True,
                 name: str | None = None, direct_to_workers: bool = True, security: Any = None,
                 scheduler_file: str | None = None, **cluster_kwargs: Any):
        self.id = name or f"client-{uuid.uuid4().hex[:12]}"
        # TLS (protocol/security.py): for a tls:// address, or passed on to the LocalCluster started here.
        self.security = security
        self._asynchronous = asynchronous
        self._mode = _CallMode()
        self._overridden = 0  # calls under way with their own asynchronous= (any thread)
        self._overrides_lock = threading.Lock()
        self.timeout = parse_duration(timeout)
        self.status = "newly-created"
        self.cluster = None
        self._own_cluster = False
        self._token = token
        if scheduler_file is not None:
            if address is not None:
                raise TypeError("give the scheduler's address or scheduler_file=, not both")
            address = schedulerfile.read_address(scheduler_file, self.timeout)
        self._address_arg = address
        self._cluster_kwargs = cluster_kwargs
        self.scheduler_comm: Comm | None = None
        self.n_submitted = 0  # tasks submitted so far (a worker checks it to know a task submitted some)
        self._submit_listeners: list[Callable] = []
        self._worker_comms: dict[str, Comm] = {}
        self._worker_locks: dict[str, asyncio.Lock] = {}
        self._callback_executor = None
        self._scheduler_info: dict = {}
        if address is not None and not isinstance(address, str) and not hasattr(address, "scheduler_address"):
            raise TypeError(f"Client(address) takes a 'tcp://host:port' string or a cluster, "
                            f"not {type(address).__name__}")
        check_direct("Client", direct_to_workers, "direct_to_workers")
        if asynchronous:
            self.loop = asyncio.get_event_loop()
        else:
            self.loop = background_loop()
        self.futures = FutureTable(on_new_worker=self._meet_worker)
        self.outbox = Outbox(self.loop, self.futures)
        self.output = TaskOutput()
        self.handlers = message_handlers(self.output)
        self.topic_handlers = TopicHandlers()  # subscribe_topic (client/events.py)
        self.handlers[messages.EVENT] = self.topic_handlers.deliver
        current.register(self, as_default=set_as_default)
        if not asynchronous:
            self.status = "connecting"
            sync(self.loop, self._start)
            hooks.client_started(self)

    # -- lifecycle ------------------------------------------------------------
    def __await__(self):
        async def _():
            if self.status == "newly-created":
                self.status = "connecting"
                await self._start()
                hooks.client_started(self)
            return self
        return _().__await__()

    async def _start(self) -> None:
        address = self._address_arg
        try:
            if address is None and not self._cluster_kwargs:
                address = _selected_cluster_address()
            if address is None:
                from ..cluster.local import LocalCluster

                self.cluster = LocalCluster(asynchronous=True, security=self.security, **self._cluster_kwargs)
                await self.cluster
                self._own_cluster = True
                address, token = self.cluster.scheduler_address, self.cluster.token
                self.security = self.cluster.security
            elif isinstance(address, str):
                if self._cluster_kwargs:
                    raise TypeError(f"Client({address!r}) connects to an existing scheduler; cluster options "
                                    f"{sorted(self._cluster_kwargs)} only apply when starting one (Client())")
                try:
                    token = auth.find_token(self._token, address)
                except auth.AuthenticationError as exc:
                    await probe(address, self.timeout)  # "nothing listens" is the more useful error
                    raise auth.AuthenticationError(f"cannot connect to {address}: {exc}") from None
            else:
                self.cluster = address
                address, token = address.scheduler_address, address.token
                self.security = self.security or getattr(self.cluster, "security", None)
            self._token = token
            self.scheduler_comm = await connect(address, token, timeout=self.timeout, security=self.security)
        except BaseException:
            self.status = "closed"
            if self._own_cluster and self.cluster is not None:
                await self.cluster._close()
            raise
        self.scheduler_address = address
        comm = self.scheduler_comm
        self.outbox.open(comm)
        comm.on_close.append(self._scheduler_lost)
        comm.start(self._on_batch)
        info = {**(kernel_info() or {}), "heartbeat": HEARTBEAT_INTERVAL}
        comm.queue(messages.register_client(self.id, info))
        self._next_heartbeat = self.loop.time() + HEARTBEAT_INTERVAL
        self._scheduler_info = await comm.request("identity")
        await self._connect_workers(self._scheduler_info["workers"])
        self.status = "running"
        self.loop.call_later(RELEASE_INTERVAL, self._periodic_flush)
        if self in current.defaults:
            use_for_dask(self)

    def _scheduler_lost(self, comm: Comm) -> None:
        if self.status in ("closing", "closed"):
            return
        logger.warning("lost the connection to the scheduler at %s", self.scheduler_address)
        self.status = "closed"
        self.futures.fail(lambda key: CommClosedError(f"{key}: the scheduler connection was lost"))

    async def _close(self) -> None:
        if self.status in ("closing", "closed"):
            if self._own_cluster and self.cluster is not None:
                await self.cluster._close()
            return
        self.status = "closing"
        for comm in list(self._worker_comms.values()):
            comm.close()
        if self.scheduler_comm is not None:
            self.scheduler_comm.close()
        if self._own_cluster and self.cluster is not None:
            await self.cluster._close()
        self.status = "closed"
        self.futures.fail(lambda key: CommClosedError(f"{key}: the client was closed"))

    def close(self, timeout: float | str | None = None):
        """Disconnect; also stop the cluster if this client started it."""
        timeout = parse_duration(timeout)
        current.unregister_default(self)
        stop_using_for_dask()
        if self._callback_executor is not None:
            self._callback_executor.shutdown(wait=False)
        if self.asynchronous:
            return self._close()
        if self.loop.is_running():
            sync(self.loop, self._close, timeout=timeout)

    def restart(self, timeout: float | str = 60.0, wait_for_workers: bool = True):
        """Restart every worker process, as dask does: their data, actors and running tasks go, and
        every future of every client is cancelled. Waits (up to ``timeout``: seconds or e.g. "1 minute")
        until as many workers are back; a worker started without a nanny does not come back. Returns the
        client."""
        timeout = parse_duration(timeout)

        async def _restart():
            await self.scheduler_comm.request("restart", timeout, wait_for_workers)
            return self
        return self.sync(_restart)

    def shutdown(self):
        """Stop the scheduler and its workers (those of other clients too), then close this client."""
        async def _shutdown():
            if not (self._own_cluster and self.cluster is not None):  # else closing stops it
                await self.scheduler_comm.request("shutdown")
            if self.asynchronous:
                await self.close()
        done = self.sync(_shutdown)
        if self.asynchronous:
            return done
        self.close()

    def __reduce__(self):
        # A client captured by a task (a global of the notebook or script) becomes, on the worker,
        # that worker's own client: the guide's recursive tasks rely on it.
        return (current.task_client, ())

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    async def __aenter__(self) -> Client:
        return await self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    def __repr__(self) -> str:
        n = len(self._scheduler_info.get("workers", {}))
        threads = sum(w["nthreads"] for w in self._scheduler_info.get("workers", {}).values())
        addr = getattr(self, "scheduler_address", "?")
        return f"<Client: {addr!r} processes={n} threads={threads}, status={self.status}>"

    def _check_open(self) -> None:
        if self.status != "running":
            if self.status in ("closing", "closed"):
                raise ClientClosedError("this Client is closed: create a new one with `client = Client(...)`")
            raise RuntimeError(f"this Client is not connected yet (status {self.status!r}): "
                               f"`await` it first when asynchronous=True")

    @property
    def asynchronous(self) -> bool:
        """True when this client's methods return awaitables, as in dask: a ``Client(asynchronous=True)``,
        a call made on the client's own event loop thread (in a coroutine run by ``client.sync``, or a
        ``subscribe`` callback), or one call given ``asynchronous=True``."""
        if self._overridden:  # some thread's call was given asynchronous= (rare): is it this thread's?
            mode = self._mode.value
            if mode is not None:
                return mode
        return self._asynchronous or threading.get_ident() == self.outbox.loop_ident

    def on_loop_thread(self) -> bool:
        """True when called from the thread running the client's event loop."""
        return threading.get_ident() == self.outbox.loop_ident

    @contextlib.contextmanager
    def mode(self, asynchronous: bool):
        """Within it, this thread's calls return awaitables (True) or block (False)."""
        before = self._mode.value
        self._mode.value = asynchronous
        with self._overrides_lock:
            self._overridden += 1
        try:
            yield
        finally:
            with self._overrides_lock:
                self._overridden -= 1
            self._mode.value = before

    def awaitable_anywhere(self, result: Any) -> Any:
        """``result``, when an awaitable bound to the client's loop, as one that can be awaited on any loop."""
        return run_on(self.loop, result) if inspect.isawaitable(result) and not self.on_loop_thread() else result

    def sync(self, func: Callable, *args: Any, asynchronous: bool | None = None,
             callback_timeout: float | str | None = None, **kwargs: Any) -> Any:
        """Run ``func(*args, **kwargs)`` (a coroutine function) on the client's loop, as dask's
        ``Client.sync``: its result, or an awaitable of it when the client is asynchronous (or on its
        loop thread, or ``asynchronous=True``). ``callback_timeout``: seconds or a duration."""
        self._check_open()
        timeout = parse_duration(callback_timeout)
        if asynchronous is None:
            asynchronous = self.asynchronous
        if asynchronous:
            result = _as_awaitable(func, args, kwargs)
            if timeout is not None:
                result = asyncio.wait_for(result, timeout)
            return self.awaitable_anywhere(result)
        if self.on_loop_thread():
            raise RuntimeError("Client.sync(..., asynchronous=False) on the client's own event loop thread would "
                               "wait forever: await the call instead")
        return sync(self.loop, _as_awaitable, func, args, kwargs, timeout=timeout)

    # -- requests to the scheduler ------------------------------------------------
    def request(self, op: str, *args: Any, post: Callable | None = None) -> Any:
        """Ask the scheduler ``op(*args)``: its answer (``post(answer)`` when given), or a coroutine of it
        when asynchronous (on the client's loop thread too). What was queued before goes first. A blocking
        call sends and waits from the calling thread, with no hop through the loop (in a task, a long wait
        frees its thread)."""
        self._check_open()
        if self.asynchronous:
            return self._request_async(op, args, post)
        self.outbox.flush()
        value = wait_in_task(self.scheduler_comm.request_from_thread(op, *args))
        return value if post is None else post(value)

    async def _request_async(self, op: str, args: tuple, post: Callable | None) -> Any:
        self.outbox.flush()
        value = await self.scheduler_comm.request(op, *args)
        return value if post is None else post(value)

    def sync_with_scheduler(self) -> Any:
        """Return once the scheduler has handled everything this client sent before (one round trip)."""
        return self.request("ping", post=_nothing)

    def _periodic_flush(self) -> None:
        """Send releases queued by user threads that no other message carried, and a heartbeat every
        ``HEARTBEAT_INTERVAL``."""
        if self.status in ("closing", "closed"):
            return
        now = self.loop.time()
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + HEARTBEAT_INTERVAL
            self.outbox.send_later(messages.heartbeat())
        if self.outbox.pending():
            self.outbox.flush()
        self.loop.call_later(RELEASE_INTERVAL, self._periodic_flush)

    # -- what arrives (loop thread) ---------------------------------------------------
    def _on_batch(self, comm: Comm, msgs: list) -> None:
        """A batch of messages from the scheduler or from a worker: task events, task output, replies."""
        self.futures.apply(msgs, lambda msg: self._on_message(comm, msg))

    def _on_message(self, comm: Comm, msg: tuple) -> None:
        handler = self.handlers.get(msg[0])
        if handler is not None:
            handler(*msg[1:])
        else:
            comm.handle_rpc_message(msg)

    def subscribe(self, callback: Callable[[list], None]) -> Callable[[], None]:
        """Call ``callback(states)`` on the client's loop thread with the states that changed in each
        batch of task events (running, finished, error, cancelled, lost). Returns an unsubscribe function."""
        return self.futures.subscribe(callback)

    def subscribe_output(self, callback: Callable[[str, str, str, str], None]) -> Callable[[], None]:
        """Call ``callback(key, worker, stream, text)`` for what tasks print (stream: 'stdout' or 'stderr').
        While any callback is subscribed, output is not printed here. Returns an unsubscribe function."""
        return self.output.subscribe(callback)

    # -- submitting -----------------------------------------------------------
    def submit(self, func: Callable, *args: Any, key: str | None = None, workers: Any = None,
               resources: dict | None = None, retries: int | None = None, priority: int = 0,
               allow_other_workers: bool = False, pure: bool | None = None, actor: bool = False,
               actors: bool = False, timeout: float | None = None, **kwargs: Any) -> Future:
        """Run ``func(*args, **kwargs)`` on a worker; returns its ``Future`` at once."""
        _check_callable("submit", func, "x")
        self._check_open()
        func_token, func_ser, options, pure = self._task_kind(
            func, workers, resources, retries, priority, allow_other_workers, actor or actors, timeout, pure)
        if key is not None:
            check_key(key)
        record = self._task_record(func, func_token, func_ser, funcname(func), args, kwargs, key, pure, options)
        return self._send_tasks([record])[0]

    def map(self, func: Callable, *iterables: Iterable, key: str | list | None = None, workers: Any = None,
            retries: int | None = None, resources: dict | None = None, priority: int = 0,
            allow_other_workers: bool = False, pure: bool | None = None, batch_size: int | None = None,
            actor: bool = False, actors: bool = False, timeout: float | None = None,
            **kwargs: Any) -> list[Future]:
        """``submit(func, *items)`` for each item of the iterables (zipped); returns a list of futures."""
        _check_callable("map", func, "xs")
        if not iterables:
            raise TypeError("map() needs at least one iterable of arguments, e.g. client.map(f, range(10))")
        if isinstance(iterables[0], dict) or any(isinstance(it, (str, bytes)) for it in iterables):
            raise TypeError("map() takes lists, tuples, ranges or iterators of arguments, not a dict or a string")
        for it in iterables:
            if not hasattr(it, "__iter__"):
                raise TypeError(f"map() takes iterables of arguments, got {type(it).__name__} {it!r:.40}: "
                                f"use client.submit(f, x) for one call, or client.map(f, [x])")
        self._check_open()
        items = list(zip(*iterables))
        if isinstance(key, (list, tuple)):
            if len(key) != len(items):
                raise ValueError(f"map() got {len(key)} keys for {len(items)} tasks: give one key per task, "
                                 f"or one string to name them all")
            keys = list(key)
            for k in keys:
                check_key(k)
        else:
            keys = None
            if key is not None:
                check_key(key)
        name = key if isinstance(key, str) else funcname(func)
        func_token, func_ser, options, pure = self._task_kind(
            func, workers, resources, retries, priority, allow_other_workers, actor or actors, timeout, pure)
        records = [self._task_record(func, func_token, func_ser, name, item, kwargs, keys[i] if keys else None,
                                     pure, options)
                   for i, item in enumerate(items)]
        return self._send_tasks(records, batch_size)

    def _task_kind(self, func: Callable, workers: Any, resources: dict | None, retries: int | None, priority: int,
                   allow_other_workers: bool, actor: bool, timeout: float | None,
                   pure: bool | None) -> tuple[str, Any, dict | None, bool]:
        """What every task of a submit or map shares: (function token, pickled function, options, pure)."""
        func_token, func_ser = serialize_function(func)
        options = task_options(workers, resources, retries, priority, allow_other_workers, actor, timeout)
        pure = (not actor) if pure is None else pure  # every actor is its own object
        return func_token, func_ser, options, pure

    def _task_record(self, func: Callable, func_token: str, func_ser, name: str, args: tuple, kwargs: dict,
                     key: str | None, pure: bool, options: dict | None) -> tuple:
        deps: list[str] = []
        if pure and len(kwargs) > 1:
            kwargs = dict(sorted(kwargs.items()))  # equal calls, equal keys, whatever the keyword order
        ser = serialize_args(func, args, kwargs, deps)
        if key is None:
            key = key_for(name, func_token, canonical_form(args, kwargs, ser)) if pure else random_key(name)
        return (key, func_token, func_ser, ser, tuple(dict.fromkeys(deps)), options)

    def _send_tasks(self, records: list[tuple], batch_size: int | None = None) -> list[Future]:
        """A future for each task record (held before the record leaves), then the records to the scheduler
        (``batch_size`` per message)."""
        futures = [Future(r[0], self) for r in records]
        for f in futures:
            if f.state.status in DONE_STATES:
                f.state.asked_again()
        if self._submit_listeners:  # before sending: a fast task's output may come back at once
            self._notify_submitted([f.key for f in futures])
        n = len(records)
        self.n_submitted += n
        size = batch_size or n
        if size >= n:
            if n:
                self.outbox.send(messages.update_graph(records))
        else:
            for start in range(0, n, size):
                self.outbox.send(messages.update_graph(records[start:start + size]))
        return futures

    def on_submit(self, callback: Callable[[list[str]], None]) -> Callable[[], None]:
        """Call ``callback(keys)`` in the submitting thread whenever submit/map creates tasks
        (the notebook layer uses it to know which cell made which futures). Returns an unsubscribe function."""
        self._submit_listeners.append(callback)
        return lambda: self._submit_listeners.remove(callback) if callback in self._submit_listeners else None

    def _notify_submitted(self, keys: list[str]) -> None:
        for callback in list(self._submit_listeners):
            try:
                callback(keys)
            except Exception:
                logger.exception("error in submit listener %r", callback)

    def adopt_future(self, key: str) -> Future:
        """A Future for a key made elsewhere (unpickled): tell the scheduler this client holds it too."""
        known = key in self.futures
        fut = Future(key, self)
        if not known:
            self.outbox.send(messages.want_keys([key]))
        return fut

    # -- control ----------------------------------------------------------------
    @per_call_mode
    def cancel(self, futures: Any, force: bool = False) -> Any:
        """Cancel these futures' tasks, and every task that depends on them. A task another client also
        holds is only released by this one, unless ``force=True`` (as in dask)."""
        found = find_futures(futures)
        keys = [f.key for f in found]

        async def _cancel():
            if not keys:
                return
            await self.scheduler_comm.request("cancel", keys, bool(force))
            self.futures.cancel([f.state for f in found])
        return self.sync(_cancel)

    @per_call_mode
    def retry(self, futures: Any) -> Any:
        """Run these erred futures' tasks again, with the erred tasks they depend on (as dask's). A task
        whose input was forgotten meanwhile cannot be: ValueError names it (submit it again)."""
        found = [f for f in find_futures(futures) if f.status == "error"]

        async def _retry():
            if not found:
                return
            errors = {f.key: (f.state.exception, f.state.tb_records) for f in found}
            for f in found:  # pending before the request: a fast rerun may end before its reply comes
                f.state.reset()
            gone = await self.scheduler_comm.request("retry", [f.key for f in found])
            for f in found:
                if f.key in gone:
                    f.state.set_error(*errors[f.key])
                    f.state.set_status("error")
            if gone:
                raise ValueError(f"cannot retry {gone}: an input of theirs was released after they failed; "
                                 f"submit them again")
        return self.sync(_retry)

    def write_scheduler_file(self, path: str) -> None:
        """Write the scheduler's address to ``path`` as JSON, for ``Client(scheduler_file=path)`` and
        ``jupyter-futures worker --scheduler-file path`` elsewhere."""
        schedulerfile.write(path, self.scheduler_info())

    def story(self, *keys: Any) -> Any:
        """What happened to these keys (futures, or key strings), oldest first, as the scheduler and the
        workers recorded it: a list of ``(key, stimulus, from_state, to_state, time, where)`` records, where
        ``where`` is "scheduler" or a worker's address (as dask's ``story``, a list of tuples)."""
        wanted = []
        for k in keys:
            for item in (k if isinstance(k, (list, tuple, set, frozenset)) else [k]):
                wanted.append(item.key if isinstance(item, Future) else item)
        if not wanted or not all(isinstance(k, str) for k in wanted):
            raise TypeError(f"story() takes futures or keys (strings), e.g. client.story(future) or "
                            f"client.story('inc-3f2a9c'); got {keys!r:.80}")
        return self.request("story", wanted, post=_records)

    @property
    def dashboard_link(self) -> str:
        """URL of the dashboard, when the cluster serves one ('' when it does not)."""
        return getattr(self.cluster, "dashboard_link", "") or self._scheduler_info.get("dashboard") or ""

    def _repr_mimebundle_(self, include=None, exclude=None):
        """Jupyter display: a live widget in a kernel, else static HTML and text (the notebook layer's)."""
        return hooks.display("client", self)


def _check_callable(method: str, func: Any, args: str) -> None:
    if not callable(func):
        raise TypeError(f"{method}() needs a callable as its first argument, got {type(func).__name__} "
                        f"{func!r:.60}: pass the function itself, e.g. client.{method}(f, {args}), not f({args})")


def _records(rows: list) -> list[tuple]:
    return [tuple(row) for row in rows]


def _nothing(_: Any) -> None:
    return None


async def _as_awaitable(func: Callable, args: tuple, kwargs: dict) -> Any:
    """``func(*args, **kwargs)``, awaited if it returns an awaitable (dask's ``sync`` takes both)."""
    result = func(*args, **kwargs)
    return await result if inspect.isawaitable(result) else result


@atexit.register
def _close_clients_at_exit() -> None:
    for client in current.clients():
        if not client.asynchronous and client.status == "running":
            try:
                client.close(timeout=5)
            except Exception:
                pass


def message_handlers(output: TaskOutput) -> dict[str, Callable]:
    """What the scheduler and workers send a client besides task events (``FutureTable.apply``) and
    replies: op -> handler of the message's fields."""
    return {messages.TASK_OUTPUT: output.deliver, messages.REGISTERED: _registered}


def _registered(scheduler_id: str) -> None:
    """The scheduler accepted the registration (its id is asked for with ``identity``)."""
