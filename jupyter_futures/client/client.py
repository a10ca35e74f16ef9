"""``Client``: submit work to a scheduler, hold futures, gather and scatter data."""
from __future__ import annotations

import asyncio
import atexit
import collections
import concurrent.futures
import itertools
import logging
import os
import sys
import threading
import time
import uuid
import weakref
from collections import defaultdict
from typing import Any, Callable, Iterable

from ..protocol import auth, serialize
from ..protocol.comm import Comm, CommClosedError, connect, probe
from ..protocol.context import adopting, blocking_wait, current_task
from ..protocol.eventloop import PATIENCE, background_loop, sync, wait_in_task
from .data import DataMovement
from .datasets import PublishedDatasets
from .functions import serialize_function
from .future import DONE_STATES, Future, FutureState
from .inspection import ClusterInspection
from .kernels import WorkerKernels
from .keys import canonical_form, funcname, key_for, random_key
from .payload import check_key, serialize_args, task_options
from .structure import find_futures

logger = logging.getLogger("jupyter_futures.client")

_STATE_OPS = frozenset({"task-finished", "task-erred", "task-cancelled", "task-lost"})
RELEASE_INTERVAL = 0.02  # seconds a dropped future's release may wait for a message to ride with

_current: list[Client] = []
_clients: "weakref.WeakSet[Client]" = weakref.WeakSet()


def default_client(c: Client | None = None) -> Client:
    """The client to use when none is given: the most recently created open one."""
    if c is not None:
        return c
    for client in reversed(_current):
        if client.status in ("running", "connecting"):
            return client
    raise ValueError("no jupyter_futures Client is running: create one first with `client = Client()`")


def _selected_cluster_address() -> str | None:
    """In a kernel of a Jupyter server with the extension: the cluster selected in the sidebar, if any."""
    from ..protocol import registry

    record = registry.selected_for_new_clients()
    return record["address"] if record else None


class ClientClosedError(RuntimeError):
    """The client was closed."""


class Client(DataMovement, ClusterInspection, PublishedDatasets, WorkerKernels):
    """Connects to a jupyter_futures scheduler, or starts a ``LocalCluster`` when given no address.

    ``Client()``, ``Client(n_workers=4, threads_per_worker=2)``, ``Client("tcp://host:8786")``,
    ``Client(cluster)``; ``Client(asynchronous=True)`` in async code (``await`` its methods).
    """

    _ids = itertools.count()

    def __init__(self, address: Any = None, *, asynchronous: bool = False, timeout: float = 10.0,
                 token: str | None = None, set_as_default: bool = True, name: str | None = None,
                 direct_to_workers: bool = True, **cluster_kwargs: Any):
        self.id = name or f"client-{uuid.uuid4().hex[:12]}"
        self.asynchronous = asynchronous
        self.timeout = timeout
        self.status = "newly-created"
        self.cluster = None
        self._own_cluster = False
        self._token = token
        self._address_arg = address
        self._cluster_kwargs = cluster_kwargs
        self.scheduler_comm: Comm | None = None
        self._states: dict[str, FutureState] = {}
        self._refcount: dict[str, int] = defaultdict(int)
        self._ref_lock = threading.RLock()
        self._listeners: list[Callable] = []
        self._submit_listeners: list[Callable] = []
        self._output_listeners: list[Callable] = []
        self._open_lines: set[tuple[str, str]] = set()  # (key, stream) whose last line has no newline yet
        self._outbox: list[tuple] = []
        self._dropped: collections.deque = collections.deque()  # keys of garbage-collected futures
        self._deferred: collections.deque = collections.deque()  # messages from __del__ methods
        self._outbox_scheduled = False
        self._flushing = False
        self._loop_ident: int | None = None
        self._cond = threading.Condition()
        self.n_submitted = 0  # tasks submitted so far (a worker checks it to know a task submitted some)
        self._worker_comms: dict[str, Comm] = {}
        self._worker_locks: dict[str, asyncio.Lock] = {}
        self._callback_executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._scheduler_info: dict = {}
        if address is not None and not isinstance(address, str) and not hasattr(address, "scheduler_address"):
            raise TypeError(f"Client(address) takes a 'tcp://host:port' string or a cluster, "
                            f"not {type(address).__name__}")
        if asynchronous:
            self.loop = asyncio.get_event_loop()
        else:
            self.loop = background_loop()
        if set_as_default:
            _current.append(self)
        _clients.add(self)
        if not asynchronous:
            self.status = "connecting"
            sync(self.loop, self._start)
            self._attach_notebook()

    # -- lifecycle ------------------------------------------------------------
    def __await__(self):
        async def _():
            if self.status == "newly-created":
                self.status = "connecting"
                await self._start()
                self._attach_notebook()
            return self
        return _().__await__()

    async def _start(self) -> None:
        address = self._address_arg
        try:
            if address is None and not self._cluster_kwargs:
                address = _selected_cluster_address()
            if address is None:
                from ..cluster.local import LocalCluster

                self.cluster = LocalCluster(asynchronous=True, **self._cluster_kwargs)
                await self.cluster
                self._own_cluster = True
                address, token = self.cluster.scheduler_address, self.cluster.token
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
            self._token = token
            self.scheduler_comm = await connect(address, token, timeout=self.timeout)
        except BaseException:
            self.status = "closed"
            if self._own_cluster and self.cluster is not None:
                await self.cluster._close()
            raise
        self.scheduler_address = address
        comm = self.scheduler_comm
        self._loop_ident = threading.get_ident()
        comm.on_close.append(self._scheduler_lost)
        comm.start(self._on_scheduler_batch)
        info = _kernel_info()
        comm.send(("register-client", self.id, info) if info else ("register-client", self.id))
        self._scheduler_info = await comm.request("identity")
        await self._connect_workers(self._scheduler_info["workers"])
        self.status = "running"
        self.loop.call_later(RELEASE_INTERVAL, self._periodic_flush)

    def _attach_notebook(self) -> None:
        """In a Jupyter kernel: task output goes to the submitting cell, Ctrl-C cancels the cell's futures."""
        if "ipykernel" in sys.modules:
            from ..notebook.kernel import attach

            attach(self)

    def _scheduler_lost(self, comm: Comm) -> None:
        if self.status in ("closing", "closed"):
            return
        logger.warning("lost the connection to the scheduler at %s", self.scheduler_address)
        self.status = "closed"
        self._fail_pending("the scheduler connection was lost")

    def _fail_pending(self, reason: str) -> None:
        failed = []
        for st in list(self._states.values()):
            if not st.done():
                st.exception = CommClosedError(f"{st.key}: {reason}")
                st.set_status("error")
                failed.append(st)
        with self._cond:
            self._cond.notify_all()
        self._notify_listeners(failed)

    def _notify_listeners(self, states: list[FutureState]) -> None:
        if states and self._listeners:
            for callback in list(self._listeners):
                try:
                    callback(states)
                except Exception:
                    logger.exception("error in state listener %r", callback)

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
        self._fail_pending("the client was closed")

    def close(self, timeout: float | None = None):
        """Disconnect; also stop the cluster if this client started it."""
        if self in _current:
            _current.remove(self)
        if self._callback_executor is not None:
            self._callback_executor.shutdown(wait=False)
        if self.asynchronous:
            return self._close()
        if self.loop.is_running():
            sync(self.loop, self._close, timeout=timeout)

    def restart(self, timeout: float = 60.0, wait_for_workers: bool = True):
        """Restart every worker process, as dask does: their data, actors and running tasks go, and
        every future of every client is cancelled. Waits (up to ``timeout`` s) until as many workers
        are back; a worker started without a nanny does not come back. Returns the client."""
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
        from .tasks import get_client

        return (get_client, ())

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

    def sync(self, func: Callable, *args: Any, **kwargs: Any) -> Any:
        """Run coroutine function ``func`` on the client's loop: a coroutine when asynchronous, else its result."""
        self._check_open()
        if self.asynchronous:
            return func(*args, **kwargs)
        return sync(self.loop, func, *args, **kwargs)

    def _request(self, op: str, *args: Any, post: Callable | None = None) -> Any:
        """Ask the scheduler ``op(*args)``: its answer (``post(answer)`` when given), or a coroutine of it
        when asynchronous. What was queued before goes first. A blocking call sends and waits from the
        calling thread, with no hop through the loop (in a task, a long wait frees its thread)."""
        self._check_open()
        if self.asynchronous:
            return self._request_async(op, args, post)
        if threading.get_ident() == self._loop_ident:
            raise RuntimeError(f"a blocking Client call ({op}) cannot wait on the client's own event loop "
                               f"thread (a subscribe() callback runs there): make it from another thread")
        self._flush_outbox()
        value = wait_in_task(self.scheduler_comm.request_from_thread(op, *args))
        return value if post is None else post(value)

    async def _request_async(self, op: str, args: tuple, post: Callable | None) -> Any:
        self._flush_outbox()
        value = await self.scheduler_comm.request(op, *args)
        return value if post is None else post(value)

    # -- references -----------------------------------------------------------
    def _state_for(self, key: str) -> FutureState:
        st = self._states.get(key)
        if st is None:
            st = self._states[key] = FutureState(key)
        return st

    def _inc_ref(self, key: str) -> None:
        with self._ref_lock:
            self._refcount[key] += 1

    def _dec_ref(self, key: str) -> None:
        # Called from Future.__del__, which garbage collection may run inside any lock of any thread:
        # take no lock, do no I/O; the count is settled at the next flush.
        self._dropped.append(key)

    def _settle_drops(self) -> None:
        """Apply dropped references (``_ref_lock`` held); keys no future holds any more get released."""
        dropped = self._dropped
        released = []
        while dropped:
            key = dropped.popleft()
            n = self._refcount.get(key, 0) - 1
            if n > 0:
                self._refcount[key] = n
            else:
                self._refcount.pop(key, None)
                released.append(key)
        if released:
            self._outbox.append(("release-keys", released))

    def _send(self, msg: tuple) -> None:
        """Send a message to the scheduler from any thread, in order with every other one.

        A user thread writes to the socket itself (no hop through the event loop: that hop
        costs more than the rest of a submit); the loop thread batches per loop turn.
        """
        with self._ref_lock:
            self._outbox.append(msg)
            if self._flushing or self._outbox_scheduled:
                return  # the flush under way, or the one scheduled, takes it
            if threading.get_ident() != self._loop_ident:
                self._flush_outbox_locked()
                return
            self._outbox_scheduled = True
        self.loop.call_soon(self._flush_outbox)

    def send_later(self, msg: tuple) -> None:
        """Queue a message to go with the next one, or with the periodic flush: no lock, no I/O.

        For ``__del__`` methods: garbage collection may run them in the middle of a send."""
        self._deferred.append(msg)

    def _periodic_flush(self) -> None:
        """Send releases queued by user threads that no other message carried."""
        if self.status in ("closing", "closed"):
            return
        if self._outbox or self._dropped or self._deferred:
            self._flush_outbox()
        self.loop.call_later(RELEASE_INTERVAL, self._periodic_flush)

    def _flush_outbox(self) -> None:
        """Send what is queued for the scheduler now (from any thread)."""
        with self._ref_lock:
            self._outbox_scheduled = False
            self._flush_outbox_locked()

    def _flush_outbox_locked(self) -> None:
        comm = self.scheduler_comm
        if comm is None or comm.closed:
            self._outbox = []
            return
        self._flushing = True
        try:
            self._settle_drops()
            while self._deferred:
                self._outbox.append(self._deferred.popleft())
            while self._outbox:
                msgs, self._outbox = self._outbox, []
                try:
                    comm.send_now(_merge_releases(msgs, self))
                except CommClosedError:
                    return
        finally:
            self._flushing = False

    # -- messages from the scheduler ------------------------------------------
    def subscribe(self, callback: Callable[[list[FutureState]], None]) -> Callable[[], None]:
        """Call ``callback(states)`` on the client's loop thread with the states that changed in each
        batch of task events (running, finished, error, cancelled, lost). Returns an unsubscribe function."""
        self._listeners.append(callback)
        return lambda: self._listeners.remove(callback) if callback in self._listeners else None

    def subscribe_output(self, callback: Callable[[str, str, str, str], None]) -> Callable[[], None]:
        """Call ``callback(key, worker, stream, text)`` for what tasks print (stream: 'stdout' or 'stderr').
        While any callback is subscribed, output is not printed here. Returns an unsubscribe function."""
        self._output_listeners.append(callback)
        return lambda: self._output_listeners.remove(callback) if callback in self._output_listeners else None

    def _task_output(self, key: str, worker: str, stream: str, text: str) -> None:
        if self._output_listeners:
            for callback in list(self._output_listeners):
                try:
                    callback(key, worker, stream, text)
                except Exception:
                    logger.exception("error in output callback %r", callback)
            return
        out = sys.stderr if stream == "stderr" else sys.stdout
        prefix = f"[{key} @ {worker}] "
        at_line_start = (key, stream) not in self._open_lines
        pieces = []
        for line in text.splitlines(keepends=True):
            pieces.append(prefix + line if at_line_start else line)
            at_line_start = line.endswith("\n")
        if at_line_start:
            self._open_lines.discard((key, stream))
        else:
            self._open_lines.add((key, stream))  # a print in pieces: the rest continues this line
        out.write("".join(pieces))
        out.flush()

    def _on_scheduler_batch(self, comm: Comm, msgs: list) -> None:
        states = self._states
        changed = False
        touched: list[FutureState] = []
        for msg in msgs:
            op = msg[0]
            st = states.get(msg[1]) if len(msg) > 1 and isinstance(msg[1], str) else None
            if op == "task-finished":
                if st is not None:
                    _, _, st.type_name, st.nbytes, st.who_has, st.small, start, stop = msg
                    st.set_ran(start, stop)
                    st.set_status("finished")
                    changed = True
                    for address in msg[4]:
                        if address not in self._worker_locks:  # a worker we have not met: say hello
                            self._worker_locks[address] = asyncio.Lock()
                            self.loop.create_task(self._connect_workers([address]))
            elif op == "task-running":
                if st is not None and not st.done():
                    st.worker = msg[2]
                    st.status = "running"
                    st.started = time.time()
                    touched.append(st)
            elif op == "task-erred":
                if st is not None:
                    _, _, st.exception, st.tb_records, worker, start, stop = msg
                    if worker:
                        st.worker = worker
                    st.set_ran(start, stop)
                    st._exc_obj = None
                    st.set_status("error")
                    changed = True
            elif op == "task-cancelled":
                restarted = len(msg) > 2  # a restart: finished results are gone too
                if st is not None and (restarted or not st.done()):
                    if restarted:
                        st.value = st.small = None
                        st.has_value = False
                    st.set_status("cancelled")
                    changed = True
            elif op == "task-lost":
                if st is not None:
                    st.set_status("lost")
                    changed = True
            elif op == "task-output":
                self._task_output(*msg[1:])
            elif op != "registered":
                comm.handle_rpc_message(msg)
            if st is not None and op in _STATE_OPS and (not touched or touched[-1] is not st):
                touched.append(st)
        if changed:
            with self._cond:
                self._cond.notify_all()
        self._notify_listeners(touched)

    # -- submitting -----------------------------------------------------------
    def _task_record(self, func: Callable, func_token: str, func_ser, name: str, args: tuple, kwargs: dict,
                     key: str | None, pure: bool, options: dict | None) -> tuple:
        deps: list[str] = []
        if pure and len(kwargs) > 1:
            kwargs = dict(sorted(kwargs.items()))  # equal calls, equal keys, whatever the keyword order
        ser = serialize_args(func, args, kwargs, deps)
        if key is None:
            key = key_for(name, func_token, canonical_form(args, kwargs, ser)) if pure else random_key(name)
        return (key, func_token, func_ser, ser, tuple(dict.fromkeys(deps)), options)

    def submit(self, func: Callable, *args: Any, key: str | None = None, workers: Any = None,
               resources: dict | None = None, retries: int | None = None, priority: int = 0,
               allow_other_workers: bool = False, pure: bool | None = None, actor: bool = False,
               actors: bool = False, timeout: float | None = None, **kwargs: Any) -> Future:
        """Run ``func(*args, **kwargs)`` on a worker; returns its ``Future`` at once."""
        _check_callable("submit", func, "x")
        self._check_open()
        func_token, func_ser = serialize_function(func)
        actor = actor or actors
        options = task_options(workers, resources, retries, priority, allow_other_workers, actor, timeout)
        pure = (not actor) if pure is None else pure  # every actor is its own object
        if key is not None:
            check_key(key)
        record = self._task_record(func, func_token, func_ser, funcname(func), args, kwargs, key, pure, options)
        key = record[0]
        fut = Future(key, self)
        fut._state.asked_again()
        if self._submit_listeners:  # before sending: a fast task's output may come back at once
            self._notify_submitted([key])
        self.n_submitted += 1
        self._send(("update-graph", [record]))
        return fut

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
        func_token, func_ser = serialize_function(func)
        actor = actor or actors
        options = task_options(workers, resources, retries, priority, allow_other_workers, actor, timeout)
        pure = (not actor) if pure is None else pure
        records = []
        for i, item in enumerate(items):
            records.append(self._task_record(func, func_token, func_ser, name, item, kwargs,
                                             keys[i] if keys else None, pure, options))
        futures = [Future(r[0], self) for r in records]
        for f in futures:
            if f._state.status in DONE_STATES:
                f._state.asked_again()
        if self._submit_listeners:
            self._notify_submitted([f.key for f in futures])
        size = batch_size or len(records) or 1
        for start in range(0, len(records), size):
            self._send(("update-graph", records[start:start + size]))
        self.n_submitted += len(records)
        return futures

    def sync_with_scheduler(self) -> Any:
        """Return once the scheduler has handled everything this client sent before (one round trip)."""
        return self._request("ping", post=_nothing)

    def adopt_future(self, key: str) -> Future:
        """A Future for a key made elsewhere (unpickled): tell the scheduler this client holds it too."""
        known = key in self._states
        fut = Future(key, self)
        if not known:
            self._send(("want-keys", [key]))
        return fut

    # -- results ----------------------------------------------------------------
    def _wait_done(self, states: list[FutureState], timeout: float | None) -> None:
        if all(st.done() for st in states):
            return
        deadline = None if timeout is None else time.monotonic() + timeout
        if current_task() is not None:
            with self._cond:
                if self._cond.wait_for(lambda: all(st.done() for st in states), PATIENCE):
                    return
            # A task waiting on other tasks frees its thread for them (and takes it back with the
            # condition released: the loop needs the condition to mark results).
            with blocking_wait(), self._cond:
                self._wait_states(states, deadline, timeout)
        else:
            with self._cond:
                self._wait_states(states, deadline, timeout)

    def _wait_states(self, states: list[FutureState], deadline: float | None, timeout: float | None) -> None:
        """Wait on the condition (held) until every state is done."""
        for st in states:
            while not st.done():
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"{st.key} did not finish within {timeout} s")
                self._cond.wait(remaining)

    async def _wait_done_async(self, states: list[FutureState], timeout: float | None = None) -> None:
        pending = [st for st in states if not st.done()]
        if not pending:
            return
        waits = []
        for st in pending:
            if st.async_event is None:
                st.async_event = asyncio.Event()
                if st.done():
                    st.async_event.set()
            waits.append(st.async_event.wait())
        try:
            await asyncio.wait_for(asyncio.gather(*waits), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"futures did not finish within {timeout} s") from None

    def _result(self, future: Future, timeout: float | None):
        st = future._state
        if self.asynchronous:
            return self._await_result(future, timeout)
        if st.status != "finished":
            self._wait_done([st], timeout)
            if st.status != "finished":
                raise st.error()
        if st.has_value:
            return st.value
        if st.small is not None:
            return self._value_from_small(st)
        return sync(self.loop, self._fetch_one, st)

    def loads(self, ser: serialize.Serialized) -> Any:
        """Unpickle a value this client received: futures in it become this client's."""
        with adopting(self):
            return serialize.loads(ser)

    def _value_from_small(self, st: FutureState) -> Any:
        value = self.loads(st.small)
        if st.type_name != "Actor":  # a proxy holds a future for its own key: caching it would never let go
            st.value = value
            st.has_value = True
        return value

    async def _await_result(self, future: Future, timeout: float | None = None) -> Any:
        st = future._state
        await self._wait_done_async([st], timeout)
        if st.status != "finished":
            raise st.error()
        return await self._fetch_one(st)

    async def _fetch_one(self, st: FutureState) -> Any:
        values = await self._fetch_values([st])
        return values[st.key]

    def _exception(self, future: Future, timeout: float | None):
        return self._once_done(future._state, timeout, _exception_of)

    def _traceback(self, future: Future, timeout: float | None):
        return self._once_done(future._state, timeout, FutureState.traceback)

    def _once_done(self, st: FutureState, timeout: float | None, then: Callable[[FutureState], Any]) -> Any:
        """``then(st)`` once ``st`` is done (a coroutine of it when asynchronous)."""
        if self.asynchronous:
            async def wait_then():
                await self._wait_done_async([st], timeout)
                return then(st)
            return wait_then()
        self._wait_done([st], timeout)
        return then(st)

    def _add_done_callback(self, future: Future, fn: Callable) -> None:
        if self._callback_executor is None:
            self._callback_executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="jf-callback")
        executor = self._callback_executor

        def run(_st=None):
            try:
                executor.submit(_run_callback, fn, future)
            except RuntimeError:
                pass

        def register():
            if future._state.done():
                run()
            else:
                future._state.callbacks.append(run)
        self.loop.call_soon_threadsafe(register)

    # -- control ----------------------------------------------------------------
    def cancel(self, futures: Any, asynchronous: bool | None = None, force: bool = False) -> Any:
        """Cancel these futures' tasks, and every task that depends on them. A task another client also
        holds is only released by this one, unless ``force=True`` (as in dask)."""
        found = find_futures(futures)
        keys = [f.key for f in found]

        async def _cancel():
            if not keys:
                return
            await self.scheduler_comm.request("cancel", keys, bool(force))
            changed = []
            for f in found:
                # Old futures keep their (cancelled) state; a new submit of the key starts afresh.
                self._states.pop(f.key, None)
                if f._state.status != "cancelled":
                    f._state.set_status("cancelled")
                    changed.append(f._state)
            with self._cond:
                self._cond.notify_all()
            self._notify_listeners(changed)
        return self.sync(_cancel)

    def _fire_and_forget(self, keys: list[str]) -> None:
        self._send(("fire-and-forget", keys))

    @property
    def dashboard_link(self) -> str:
        """URL of the dashboard, when the cluster serves one."""
        return getattr(self.cluster, "dashboard_link", "") or ""

    def _repr_mimebundle_(self, include=None, exclude=None):
        """Jupyter display: a live widget in a kernel, else static HTML and text (see jupyter_futures.notebook)."""
        from ..notebook.reprs import client_bundle

        return client_bundle(self)


def _kernel_info() -> dict:
    """In a Jupyter kernel: {"kernel_id", "notebook"} for the scheduler (its live feed shows which
    notebook holds what); empty elsewhere."""
    if "ipykernel" not in sys.modules:
        return {}
    try:
        from ipykernel.connect import get_connection_file

        name = os.path.basename(get_connection_file())  # kernel-<id>.json
    except Exception:  # ipykernel imported, but no kernel runs in this process
        return {}
    kernel_id = name[len("kernel-"):-len(".json")] if name.startswith("kernel-") and name.endswith(".json") else None
    return {"kernel_id": kernel_id, "notebook": os.environ.get("JPY_SESSION_NAME")}


def _check_callable(method: str, func: Any, args: str) -> None:
    if not callable(func):
        raise TypeError(f"{method}() needs a callable as its first argument, got {type(func).__name__} "
                        f"{func!r:.60}: pass the function itself, e.g. client.{method}(f, {args}), not f({args})")


def _merge_releases(msgs: list[tuple], client: Client) -> list[tuple]:
    """Fold runs of release-keys messages into one each; drop keys held again since."""
    out: list[tuple] = []
    for msg in msgs:
        if msg[0] == "release-keys":
            keys = [k for k in msg[1] if k not in client._refcount]
            for k in keys:
                client._states.pop(k, None)
            if not keys:
                continue
            if out and out[-1][0] == "release-keys":
                out[-1][1].extend(keys)
                continue
            msg = ("release-keys", keys)
        out.append(msg)
    return out


def _exception_of(st: FutureState) -> BaseException | None:
    return None if st.status == "finished" else st.error()


def _nothing(_: Any) -> None:
    return None


def _run_callback(fn: Callable, future: Future) -> None:
    try:
        fn(future)
    except Exception:
        logger.exception("error in done callback %r of %s", fn, future.key)


@atexit.register
def _close_clients_at_exit() -> None:
    for client in list(_clients):
        if not client.asynchronous and client.status == "running":
            try:
                client.close(timeout=5)
            except Exception:
                pass
