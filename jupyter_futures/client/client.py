"""``Client``: submit work to a scheduler, hold futures, gather and scatter data."""
from __future__ import annotations

import asyncio
import atexit
import collections
import concurrent.futures
import itertools
import logging
import sys
import threading
import time
import uuid
import weakref
from collections import defaultdict
from typing import Any, Callable, Iterable

from ..protocol import auth, serialize
from ..protocol.comm import Comm, CommClosedError, connect, probe
from ..protocol.context import blocking_wait, current_task
from ..protocol.eventloop import PATIENCE, background_loop, sync
from .future import Future, FutureState
from .keys import canonical_form, data_key, funcname, key_for, serialize_function
from .structure import map_structure, find_futures

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


class ClientClosedError(RuntimeError):
    """The client was closed."""


class Client:
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
        self._worker_comms: dict[str, Comm] = {}
        self._worker_locks: dict[str, asyncio.Lock] = {}
        self._callback_executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._scheduler_info: dict = {}
        self._start_error: BaseException | None = None
        if address is not None and not isinstance(address, str) and not hasattr(address, "scheduler_address"):
            raise TypeError(f"Client(address) takes a 'tcp://host:port' string or a cluster, not {type(address).__name__}")
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
        comm.send(("register-client", self.id))
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
                    _, _, st.type_name, st.nbytes, st.who_has, st.small = msg
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
                    st.exception, st.tb_records = msg[2], msg[3]
                    if len(msg) > 4 and msg[4]:
                        st.worker = msg[4]
                    st._exc_obj = None
                    st.set_status("error")
                    changed = True
            elif op == "task-cancelled":
                if st is not None and not st.done():
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
        if len(kwargs) > 1:
            kwargs = dict(sorted(kwargs.items()))  # equal calls, equal keys, whatever the keyword order
        ser = _serialize_args(func, args, kwargs, deps)
        if key is None:
            key = key_for(name, func_token, canonical_form(args, kwargs, ser), pure)
        return (key, func_token, func_ser, ser, tuple(dict.fromkeys(deps)), options)

    def submit(self, func: Callable, *args: Any, key: str | None = None, workers: Any = None,
               resources: dict | None = None, retries: int | None = None, priority: int = 0,
               allow_other_workers: bool = False, pure: bool | None = None, actor: bool = False,
               actors: bool = False, timeout: float | None = None, **kwargs: Any) -> Future:
        """Run ``func(*args, **kwargs)`` on a worker; returns its ``Future`` at once."""
        if not callable(func):
            raise TypeError(f"submit() needs a callable as its first argument, got {type(func).__name__} "
                            f"{func!r:.60}: pass the function itself, e.g. client.submit(f, x), not f(x)")
        self._check_open()
        func_token, func_ser = serialize_function(func)
        actor = actor or actors
        options = _options(workers, resources, retries, priority, allow_other_workers, actor, timeout)
        pure = (not actor) if pure is None else pure  # every actor is its own object
        record = self._task_record(func, func_token, func_ser, funcname(func), args, kwargs, key, pure, options)
        key = record[0]
        fut = Future(key, self)
        if self._submit_listeners:  # before sending: a fast task's output may come back at once
            self._notify_submitted([key])
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
        if not callable(func):
            raise TypeError(f"map() needs a callable as its first argument, got {type(func).__name__}")
        if not iterables:
            raise TypeError("map() needs at least one iterable of arguments, e.g. client.map(f, range(10))")
        if isinstance(iterables[0], (dict,)) or any(isinstance(it, (str, bytes)) for it in iterables):
            raise TypeError("map() takes lists, tuples, ranges or iterators of arguments, not a dict or a string")
        self._check_open()
        items = list(zip(*iterables))
        if isinstance(key, (list, tuple)):
            if len(key) != len(items):
                raise ValueError(f"map() got {len(key)} keys for {len(items)} tasks")
            keys = list(key)
        else:
            keys = None
        name = key if isinstance(key, str) else funcname(func)
        func_token, func_ser = serialize_function(func)
        actor = actor or actors
        options = _options(workers, resources, retries, priority, allow_other_workers, actor, timeout)
        pure = (not actor) if pure is None else pure
        records = []
        for i, item in enumerate(items):
            records.append(self._task_record(func, func_token, func_ser, name, item, kwargs,
                                             keys[i] if keys else None, pure, options))
        futures = [Future(r[0], self) for r in records]
        if self._submit_listeners:
            self._notify_submitted([f.key for f in futures])
        size = batch_size or len(records) or 1
        for start in range(0, len(records), size):
            self._send(("update-graph", records[start:start + size]))
        return futures

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
        deadline = None if timeout is None else _now() + timeout
        with self._cond:
            if current_task() is not None and not self._cond.wait_for(
                    lambda: all(st.done() for st in states), PATIENCE):
                with blocking_wait():  # a task waiting on other tasks frees its thread for them
                    self._wait_states(states, deadline, timeout)
            else:
                self._wait_states(states, deadline, timeout)

    def _wait_states(self, states: list[FutureState], deadline: float | None, timeout: float | None) -> None:
        """Wait on the condition (held) until every state is done."""
        for st in states:
            while not st.done():
                remaining = None if deadline is None else deadline - _now()
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
        if st.status == "finished" and st.has_value:
            return st.value
        if st.status == "finished" and st.small is not None:
            return self._value_from_small(st)
        if not st.done():
            self._wait_done([st], timeout)
        if st.status == "finished":
            if st.small is not None:
                return self._value_from_small(st)
            return sync(self.loop, self._fetch_one, st)
        raise st.error()

    def _value_from_small(self, st: FutureState) -> Any:
        value = serialize.loads(st.small)
        if st.type_name != "Actor":  # a proxy holds a future for its own key: caching it would never let go
            st.value = value
            st.has_value = True
        return value

    async def _await_result(self, future: Future, timeout: float | None = None) -> Any:
        st = future._state
        await self._wait_done_async([st], timeout)
        if st.status == "finished":
            if st.small is not None:
                return self._value_from_small(st)
            return await self._fetch_one(st)
        raise st.error()

    async def _fetch_one(self, st: FutureState) -> Any:
        values = await self._fetch_values([st])
        return values[st.key]

    def _exception(self, future: Future, timeout: float | None):
        async def _exc():
            await self._wait_done_async([future._state], timeout)
            return future._state.error() if future._state.status != "finished" else None
        if self.asynchronous:
            return _exc()
        self._wait_done([future._state], timeout)
        return None if future._state.status == "finished" else future._state.error()

    def _traceback(self, future: Future, timeout: float | None):
        async def _tb():
            await self._wait_done_async([future._state], timeout)
            return future._state.traceback()
        if self.asynchronous:
            return _tb()
        self._wait_done([future._state], timeout)
        return future._state.traceback()

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

    async def _worker(self, address: str) -> Comm:
        comm = self._worker_comms.get(address)
        if comm is not None and not comm.closed:
            return comm
        lock = self._worker_locks.setdefault(address, asyncio.Lock())
        async with lock:
            comm = self._worker_comms.get(address)
            if comm is None or comm.closed:
                comm = await connect(address, self._token, timeout=self.timeout)
                comm.start(self._on_scheduler_batch)  # workers also send task-finished notes
                comm.send(("register-client", self.id))
                self._worker_comms[address] = comm
        return comm

    async def _connect_workers(self, addresses) -> None:
        """Connect to these workers so they can tell us directly when our tasks finish."""
        results = await asyncio.gather(*(self._worker(a) for a in addresses), return_exceptions=True)
        for address, result in zip(addresses, results):
            if isinstance(result, BaseException):
                logger.info("could not connect to worker %s: %s", address, result)

    async def _fetch_values(self, states: list[FutureState]) -> dict[str, Any]:
        """Values of finished keys: small ones from memory, others straight from the workers holding them."""
        out: dict[str, Any] = {}
        remote: list[FutureState] = []
        for st in states:
            if st.has_value:
                out[st.key] = st.value
            elif st.small is not None:
                out[st.key] = self._value_from_small(st)
            else:
                remote.append(st)
        attempts = 0
        while remote:
            attempts += 1
            by_worker: dict[str, list[FutureState]] = defaultdict(list)
            for st in remote:
                if not st.who_has:
                    st.who_has = (await self.scheduler_comm.request("who_has", [st.key]))[st.key]
                by_worker[st.who_has[0] if st.who_has else ""].append(st)
            replies = await asyncio.gather(*(self._get_from(w, sts) for w, sts in by_worker.items()),
                                           return_exceptions=True)
            missing = []
            for (worker, sts), reply in zip(by_worker.items(), replies):
                if isinstance(reply, BaseException):
                    reply = {}
                for st in sts:
                    if st.key in reply:
                        out[st.key] = serialize.loads(reply[st.key])
                    else:
                        st.who_has = [w for w in st.who_has if w != worker]
                        missing.append(st)
            remote = missing
            if remote and attempts >= 20:
                raise RuntimeError(f"could not fetch {[st.key for st in remote][:5]} from any worker")
            if remote:
                # The holders are gone: wait for the scheduler to recompute (or to declare the data lost).
                for st in remote:
                    if not st.who_has:
                        st.reset()
                await self._wait_done_async(remote, timeout=None)
                for st in remote:
                    if st.status != "finished":
                        raise st.error()
                    if st.small is not None:
                        out[st.key] = self._value_from_small(st)
                remote = [st for st in remote if st.key not in out]
        return out

    async def _get_from(self, worker: str, states: list[FutureState]) -> dict:
        if not worker:
            return {}
        comm = await self._worker(worker)
        return await comm.request("get_data", [st.key for st in states])

    def gather(self, futures: Any, errors: str = "raise", direct: bool | None = None,
               asynchronous: bool | None = None) -> Any:
        """Values of futures in any nested list/tuple/dict/set structure, in the same structure."""
        if errors not in ("raise", "skip"):
            raise ValueError(f"gather(errors={errors!r}): use 'raise' or 'skip'")
        if isinstance(futures, Future):
            futures = [futures]
            single = True
        else:
            single = False
        if hasattr(futures, "__next__"):
            return (self.gather(f, errors=errors) for f in futures)
        self._check_open()

        async def _gather():
            found = find_futures(futures)
            states = {f.key: f._state for f in found}
            await self._wait_done_async(list(states.values()))
            bad = [st for st in states.values() if st.status != "finished"]
            if bad and errors == "raise":
                raise bad[0].error()
            values = await self._fetch_values([st for st in states.values() if st.status == "finished"])
            if errors == "skip":
                skip = {st.key for st in bad}
                result = map_structure(futures, lambda f: values.get(f.key), skip_keys=skip)
            else:
                result = map_structure(futures, lambda f: values[f.key])
            return result[0] if single else result

        if self.asynchronous:
            return _gather()
        if not all(f._state.done() for f in find_futures(futures)):
            self._wait_done([f._state for f in find_futures(futures)], None)
        return sync(self.loop, _gather)

    def scatter(self, data: Any, workers: Any = None, broadcast: bool = False, direct: bool | None = None,
                hash: bool = True, timeout: float | None = None, asynchronous: bool | None = None) -> Any:
        """Send data to workers; returns futures in the same shape (one object, a list or a dict)."""
        self._check_open()
        if isinstance(data, dict):
            names = [str(k) for k in data]
            values = list(data.values())
        else:
            names = None
            values = list(data) if isinstance(data, (list, tuple, set, frozenset)) else [data]
        if isinstance(workers, str):
            workers = [workers]
        sers = [_serialize_value(v) for v in values]

        async def _run():
            targets = await self._scatter_targets(workers)
            keys = names or [data_key(v, False) for v in values]
            hashing = None
            if names is None and hash:
                # Hash on other threads while the data is already on its way under provisional keys.
                hashing = asyncio.get_running_loop().run_in_executor(
                    None, lambda: [data_key(v, True, ser) for v, ser in zip(values, sers)])
            placement: dict[str, dict] = defaultdict(dict)
            for i, (k, ser) in enumerate(zip(keys, sers)):
                for w in (targets if broadcast else [targets[i % len(targets)]]):
                    placement[w][k] = ser
            comms = {w: await self._worker(w) for w in placement}
            sent = await asyncio.gather(*(comms[w].request("put_data", items) for w, items in placement.items()))
            if hashing is not None:
                final = await hashing
                renames = dict(zip(keys, final))
                await asyncio.gather(*(comms[w].request("rename_data", renames) for w in placement))
                sent = [{renames[k]: v for k, v in sizes.items()} for sizes in sent]
                keys = final
            for w, sizes in zip(placement, sent):
                await self.scheduler_comm.request("update_data", w, sizes)
            futures = [Future(k, self) for k in keys]
            for f in futures:
                f._state.set_status("finished")
            return _shape(data, futures)

        if self.asynchronous:
            return _run()
        return sync(self.loop, _run, timeout=timeout)

    async def _scatter_targets(self, workers: list | None) -> list[str]:
        """Workers to scatter to, least loaded first."""
        info = await self.scheduler_comm.request("identity")
        self._scheduler_info = info
        targets = list(info["workers"])
        if workers:
            wanted = set(workers)
            targets = [a for a, w in info["workers"].items() if a in wanted or w["name"] in wanted]
            if not targets:
                raise ValueError(f"scatter(workers={workers!r}): no such workers; have {list(info['workers'])}")
        if not targets:
            raise RuntimeError("scatter(): the cluster has no workers; wait for workers or scale the cluster up")
        return sorted(targets, key=lambda a: info["workers"][a]["nbytes"])

    # -- control ----------------------------------------------------------------
    def cancel(self, futures: Any, asynchronous: bool | None = None, force: bool = False) -> Any:
        """Cancel these futures' tasks, and every task that depends on them, for all clients."""
        found = find_futures(futures)
        keys = [f.key for f in found]

        async def _cancel():
            if not keys:
                return
            await self.scheduler_comm.request("cancel", keys)
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

    def who_has(self, futures: Any = None) -> dict:
        """{key: [worker addresses]} for these futures (or all keys)."""
        found = None if futures is None else find_futures(futures)

        async def _who_has():
            out = await self.scheduler_comm.request("who_has", None if found is None else [f.key for f in found])
            for f in found or ():
                # A worker may have told us of a result before it told the scheduler.
                if not out.get(f.key) and f._state.status == "finished" and f._state.who_has:
                    out[f.key] = list(f._state.who_has)
            return out
        return self.sync(_who_has)

    def has_what(self, workers: Any = None) -> dict:
        """{worker address: [keys it holds]}."""
        async def _has_what():
            out = await self.scheduler_comm.request("has_what")
            return {w: k for w, k in out.items() if not workers or w in workers}
        return self.sync(_has_what)

    def nthreads(self, workers: Any = None) -> dict:
        """{worker address: number of threads}."""
        async def _nthreads():
            out = await self.scheduler_comm.request("nthreads")
            return {w: n for w, n in out.items() if not workers or w in workers}
        return self.sync(_nthreads)

    ncores = nthreads

    def scheduler_info(self) -> dict:
        """The scheduler's address, id, and a description of each worker."""
        async def _info():
            self._scheduler_info = await self.scheduler_comm.request("identity")
            return self._scheduler_info
        return self.sync(_info)

    def run_on_scheduler(self, function: Callable, *args: Any, **kwargs: Any) -> Any:
        """Run ``function`` in the scheduler process (it may take a ``dask_scheduler`` argument)."""
        async def _run():
            out = await self.scheduler_comm.request(
                "run_on_scheduler", serialize.dumps(function), serialize.dumps(args), serialize.dumps(kwargs))
            return serialize.loads(out)
        return self.sync(_run)

    def run(self, function: Callable, *args: Any, workers: list | None = None, wait: bool = True,
            on_error: str = "raise", **kwargs: Any) -> Any:
        """Run ``function`` on every worker (or ``workers``); returns {worker address: result}."""
        if on_error not in ("raise", "return", "ignore"):
            raise ValueError("on_error must be 'raise', 'return' or 'ignore'")

        async def _run():
            replies = await self.scheduler_comm.request(
                "broadcast", "run", (serialize.dumps(function), serialize.dumps(args), serialize.dumps(kwargs)),
                workers)
            out = {}
            for worker, reply in replies.items():
                if isinstance(reply, BaseException):
                    value = reply
                elif reply[0] == "ok":
                    out[worker] = serialize.loads(reply[1])
                    continue
                else:
                    st = FutureState(f"run-{worker}")
                    st.exception, st.tb_records = reply[1]
                    st.status = "error"
                    value = st.error()
                if on_error == "raise":
                    raise value
                if on_error == "return":
                    out[worker] = value
            return out
        return self.sync(_run)

    def get_task_stream(self, start: float | None = None, stop: float | None = None) -> list[dict]:
        """Records of finished tasks (started after ``start``, ended before ``stop``, epoch seconds):
        key, worker, start and stop times, outcome."""
        async def _stream():
            rows = await self.scheduler_comm.request("task_stream", start or 0.0)
            if stop is not None:
                rows = [r for r in rows if r[3] <= stop]
            return [{"key": k, "worker": w, "start": s, "stop": e, "status": status} for k, w, s, e, status in rows]
        return self.sync(_stream)

    def profile(self, start: Any = None, stop: Any = None, key: str | None = None, workers: Any = None,
                filename: str | None = None, merge_workers: bool = True) -> Any:
        """The call tree sampled from the workers' task threads (every ~10 ms while tasks run), merged.

        ``start``/``stop``: epoch seconds (or datetimes) of the window; ``key``: a key or key prefix
        (``"inc"``); ``workers``: addresses to ask (default all); ``filename``: also write an HTML
        flame graph there. The tree is in dask's format (``count``, ``children``, ``description``).
        """
        from .profiling import fetch_profile

        return self.sync(fetch_profile, self, start, stop, key, workers, filename, merge_workers)

    def wait_for_workers(self, n_workers: int = 1, timeout: float | None = None) -> Any:
        """Block until at least ``n_workers`` workers are connected."""
        async def _wait():
            try:
                await asyncio.wait_for(self.scheduler_comm.request("wait_for_workers", n_workers), timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(f"fewer than {n_workers} workers after {timeout} s") from None
        return self.sync(_wait)

    @property
    def dashboard_link(self) -> str:
        """URL of the dashboard, when the cluster serves one."""
        return getattr(self.cluster, "dashboard_link", "") or ""

    def _repr_mimebundle_(self, include=None, exclude=None):
        """Jupyter display: a live widget in a kernel, else static HTML and text (see jupyter_futures.notebook)."""
        from ..notebook.reprs import client_bundle

        return client_bundle(self)


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


def _run_callback(fn: Callable, future: Future) -> None:
    try:
        fn(future)
    except Exception:
        logger.exception("error in done callback %r of %s", fn, future.key)


def _now() -> float:
    import time

    return time.monotonic()


def _options(workers, resources, retries, priority, allow_other_workers, actor=False, timeout=None) -> dict | None:
    if not (workers or resources or retries or priority or allow_other_workers or actor or timeout):
        return None
    if isinstance(workers, str):
        workers = [workers]
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"timeout={timeout!r}: give the task's time limit in seconds, a positive number")
    return {"workers": list(workers) if workers else None, "resources": resources, "retries": retries or 0,
            "priority": priority, "allow_other_workers": allow_other_workers, "actor": actor,
            "timeout": timeout}


_PLAIN = frozenset({int, float, str, bytes, bool, type(None), complex})


def _serialize_args(func: Callable, args: tuple, kwargs: dict, deps: list[str]) -> serialize.Serialized:
    """Pickle (args, kwargs); futures anywhere inside become references the worker resolves."""
    if not kwargs and all(type(a) in _PLAIN for a in args):
        return serialize.dumps((args, {}))
    if all(type(a) in _PLAIN or type(a) is Future for a in itertools.chain(args, kwargs.values())):
        return serialize.dumps_with_refs((args, kwargs), Future, deps)

    def persistent_id(obj: Any):
        if isinstance(obj, Future):
            deps.append(obj.key)
            return obj.key
        return None

    try:
        return serialize.dumps((args, kwargs), persistent_id=persistent_id)
    except Exception as exc:
        culprit = _find_unpicklable(args, kwargs)
        raise serialize.SerializationError(
            f"cannot pickle {culprit} of {funcname(func)}(): {exc}. Tasks run in other processes, so their "
            f"arguments must be picklable: pass plain data, or create the object inside the task.") from exc


def _find_unpicklable(args: tuple, kwargs: dict) -> str:
    import cloudpickle

    for i, a in enumerate(args):
        try:
            cloudpickle.dumps(a)
        except Exception:
            return f"argument {i} (a {type(a).__name__})"
    for k, v in kwargs.items():
        try:
            cloudpickle.dumps(v)
        except Exception:
            return f"keyword argument {k!r} (a {type(v).__name__})"
    return "an argument"


def _serialize_value(value: Any) -> serialize.Serialized:
    try:
        return serialize.dumps(value)
    except Exception as exc:
        raise serialize.SerializationError(
            f"cannot pickle the {type(value).__name__} to scatter it: {exc}") from exc


def _shape(data: Any, futures: list[Future]) -> Any:
    if isinstance(data, dict):
        return dict(zip(data.keys(), futures))
    if isinstance(data, (list, tuple, set, frozenset)):
        return type(data)(futures) if not isinstance(data, (set, frozenset)) else list(futures)
    return futures[0]


@atexit.register
def _close_clients_at_exit() -> None:
    for client in list(_clients):
        if not client.asynchronous and client.status == "running":
            try:
                client.close(timeout=5)
            except Exception:
                pass
