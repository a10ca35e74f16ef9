"""The scheduler process: sockets and timers around ``SchedulerState``."""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from functools import partial
from typing import Any, Callable

from ..protocol.story import InvalidTransition
from ..protocol import messages, serialize
from ..protocol.address import format_address
from ..protocol.comm import Comm
from ..protocol.connect import Listener
from ..protocol.events import check_topics
from ..protocol.remote_call import call_with
from .coordination import Coordination
from .events import EventLog, ForwardedLoggers, Metadata
from .feed import Feed
from .liveness import CLIENT_TTL_ENV, WORKER_TTL_ENV, Liveness, ttl_from_environment
from .operations import ClusterOperations
from .plugins import SchedulerPlugins
from . import views
from .queries import dashboard_query
from .state import SchedulerState

logger = logging.getLogger("jupyter_futures.scheduler")

MANAGER_TIMEOUT = 120.0  # seconds a scale/adapt may take (starting workers)
MANAGER_INFO_TIMEOUT = 2.0
STORY_TIMEOUT = 5.0  # seconds each worker has to send its part of a story
DEATH_REASON_WAIT = 0.5  # seconds a dropped worker with a nanny is kept for the nanny to say why it died


class Scheduler:
    """Accepts workers and clients, feeds their events to the state machine, sends what comes out."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, token: str = "", dashboard_port: int | None = None,
                 sock=None, security=None, worker_ttl: float | None = None, client_ttl: float | None = None):
        self.state = SchedulerState()
        self.plugin_host = SchedulerPlugins(self)  # plugins.py; dask's names for its two dicts:
        self.plugins, self.worker_plugins = self.plugin_host.plugins, self.plugin_host.worker_plugins
        self.token = token
        self.tls = security is not None and security.cert_for("scheduler")[0] is not None
        if security is not None and security.require_encryption and not self.tls:
            raise ValueError("this Security requires encryption: give the scheduler a certificate "
                             "(tls_scheduler_cert/tls_scheduler_key, or --tls-cert/--tls-key)")
        self.listener = Listener(host, port, token, self._on_comm, name="scheduler", sock=sock,
                                 ssl_context=security.server_context("scheduler") if self.tls else None)
        self.host = host
        self.dashboard_port = dashboard_port
        self.dashboard = None
        self.worker_comms: dict[str, Comm] = {}
        self.client_comms: dict[str, Comm] = {}
        self.client_info: dict[str, dict] = {}  # client id -> what it said of itself (kernel, notebook, monitor)
        self.feed = Feed(self.state, self.client_info)
        self.manager_comm: Comm | None = None  # the process owning the nannies, if any (cluster/control.py)
        self.id = f"scheduler-{uuid.uuid4().hex[:8]}"
        self.started = time.time()
        self._stopped = asyncio.Event()
        self._flush_scheduled = False
        self._worker_waiters: list[tuple[Callable[[], bool], asyncio.Future]] = []
        self._watched: set[str] = set()  # workers whose nanny says why they end (messages.worker_died)
        self._death_reasons: dict[str, str] = {}  # worker address -> why it died, from its nanny
        self._dying: dict[str, asyncio.TimerHandle] = {}  # dropped workers waiting for their nanny's word
        # Workers report once a second, clients send heartbeats: silence past these (seconds) is death.
        self.worker_liveness = Liveness(worker_ttl or ttl_from_environment(WORKER_TTL_ENV))
        self.client_liveness = Liveness(client_ttl or ttl_from_environment(CLIENT_TTL_ENV))
        self._removal_reasons: dict[str, str] = {}  # worker address -> why the scheduler dropped it
        self.coordination = Coordination(self._keep_keys, self._drop_keys, lambda c: c in self.client_comms)
        self.operations = ClusterOperations(self)  # uploads, replicate/rebalance/retire, restart_workers, logs
        self.events = EventLog()  # dask's log_event / get_events / subscribe_topic
        self.metadata = Metadata()  # dask's set_metadata / get_metadata
        self.forwarded = ForwardedLoggers()  # Client.forward_logging: told to every worker that joins

    @property
    def address(self) -> str:
        """``tcp://host:port`` (``tls://`` with TLS) where the scheduler listens."""
        host = self.host if self.host not in ("", "0.0.0.0", "::") else _local_ip()
        return format_address(host, self.listener.port, "tls" if self.tls else "tcp")

    async def start(self) -> Scheduler:
        """Start listening (and serving the dashboard, if a port was given)."""
        await self.listener.start()
        if self.dashboard_port is not None:
            from ..dashboard.http import start_dashboard

            self.dashboard = start_dashboard(self, self.host, self.dashboard_port)
        logger.info("scheduler at %s", self.address)
        self._check_liveness()
        return self

    async def finished(self) -> None:
        """Wait until ``close()``."""
        await self._stopped.wait()

    async def close(self) -> None:
        """Tell everyone, stop listening, close every connection."""
        self.listener.stop()
        await self.plugin_host.close()
        for comm in list(self.worker_comms.values()):
            try:
                comm.queue(messages.close())
            except Exception:
                pass
        await asyncio.sleep(0)
        for comm in list(self.worker_comms.values()) + list(self.client_comms.values()):
            comm.close()
        if self.dashboard is not None:
            self.dashboard.stop()
        self._stopped.set()

    # -- liveness ---------------------------------------------------------------
    def _check_liveness(self) -> None:
        """Close the connections of workers and clients silent past their time-to-live: their work is
        placed again or released as if the connection had dropped."""
        if self._stopped.is_set():
            return
        now = time.monotonic()
        for comm, silent in self.worker_liveness.silent(now):
            address = comm.info["address"]
            reason = (f"sent nothing for {silent:.0f} s, past the workers' time-to-live of "
                      f"{self.worker_liveness.ttl:g} s ({WORKER_TTL_ENV}): frozen, or cut off from the scheduler")
            logger.warning("worker %s is taken for dead: it %s", address, reason)
            self._removal_reasons[address] = reason
            comm.close()
        for comm, silent in self.client_liveness.silent(now):
            logger.warning("client %s is taken for dead: it sent nothing for %.0f s, past the clients' "
                           "time-to-live of %g s (%s); its work is released", comm.info["id"], silent,
                           self.client_liveness.ttl, CLIENT_TTL_ENV)
            comm.close()
        interval = min(self.worker_liveness.check_interval, self.client_liveness.check_interval)
        asyncio.get_running_loop().call_later(interval, self._check_liveness)

    # -- connections ----------------------------------------------------------
    def _on_comm(self, comm: Comm) -> None:
        comm.start(self._on_first_batch)

    def _on_first_batch(self, comm: Comm, msgs: list) -> None:
        """The first message on a connection says who is there; the handlers of the rest follow from it."""
        first, rest = msgs[0], msgs[1:]
        registered = (isinstance(first, tuple) and first and isinstance(first[0], str)
                      and messages.dispatch(self._registration_handlers(comm), first))
        if not registered:
            logger.warning("closing connection from %s: it did not register (first message %r)",
                           comm.peer, str(first)[:80])
            comm.close()
            return
        if rest:
            comm.handler(comm, rest)

    def _registration_handlers(self, comm: Comm) -> dict[str, Callable]:
        """The first message of a connection: who is there."""
        return {
            messages.REGISTER_WORKER: partial(self._register_worker, comm),
            messages.REGISTER_CLIENT: partial(self._register_client, comm),
            messages.REGISTER_NANNY: partial(self._register_nanny, comm),
        }

    def _register_worker(self, comm: Comm, address: str, nthreads: int, memory_limit: int, name: str,
                         pid: int, resources: dict | None) -> None:
        old = self.worker_comms.pop(address, None)
        if old is not None:
            self.state.remove_worker(address)
            old.close()
        comm.info = {"kind": "worker", "address": address}
        self.worker_comms[address] = comm
        comm.serve_rpc(self._rpc_handlers())
        comm.handler = partial(self._on_worker_batch, self._worker_handlers(address))
        comm.on_close.append(lambda c: self._worker_lost(address, c))
        self.worker_liveness.watch(comm, time.monotonic())
        for msg in self.forwarded.messages():  # before any task of it: queued before its compute messages
            comm.queue(msg)
        self.operations.worker_joined(comm)  # uploaded files, before its compute messages
        self.state.add_worker(address, nthreads, memory_limit, name, pid, resources)
        self.plugin_host.worker_added(address, comm)
        comm.queue(messages.registered(self.id))
        logger.info("worker %s joined (%d threads)", address, nthreads)
        self._flush()
        self._wake_worker_waiters()

    def _wake_worker_waiters(self) -> None:
        """Workers joined or left: resolve the waits whose condition now holds."""
        for item in [w for w in self._worker_waiters if w[0]()]:
            self._worker_waiters.remove(item)
            if not item[1].done():
                item[1].set_result(len(self.worker_comms))

    async def _until_workers(self, condition: Callable[[], bool]) -> int:
        """Wait until ``condition()`` holds of the workers; returns how many there are then."""
        if condition():
            return len(self.worker_comms)
        fut = asyncio.get_running_loop().create_future()
        self._worker_waiters.append((condition, fut))
        try:
            return await fut
        finally:
            self._worker_waiters = [w for w in self._worker_waiters if w[1] is not fut]

    async def _rpc_wait_for_workers(self, comm: Comm, n: int) -> int:
        return await self._until_workers(lambda: len(self.worker_comms) >= n)

    def _rpc_shutdown(self, comm: Comm) -> None:
        """Client.shutdown(): close after this reply leaves."""
        logger.info("shutting down at the request of a client")
        asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self.close()))

    async def _rpc_restart(self, comm: Comm, timeout: float, wait_for_workers: bool) -> int:
        """Cancel every task (each client hears it), restart every worker process, and wait for as
        many new workers as there were (workers without a nanny do not come back)."""
        old = set(self.worker_comms)
        self.plugin_host.restarting()
        self.state.cancel(list(self.state.tasks), results_too=True)
        self._flush()
        logger.info("restarting %d workers", len(old))
        for address in old:
            worker = self.worker_comms[address]
            worker.queue(messages.restart())
            worker.flush()
        if not wait_for_workers:
            return len(self.worker_comms)
        try:
            return await asyncio.wait_for(self._until_workers(
                lambda: not old.intersection(self.worker_comms) and len(self.worker_comms) >= len(old)), timeout)
        except asyncio.TimeoutError:
            back = len(set(self.worker_comms) - old)
            raise TimeoutError(f"{back} of {len(old)} workers came back within {timeout} s of the restart "
                               f"(a worker started without a nanny is not restarted)") from None

    async def _ask_manager(self, op: str, *args: Any) -> Any:
        """Forward a scale/adapt request to the process that owns the workers' nannies."""
        manager = self.manager_comm
        if manager is None or manager.closed:
            raise RuntimeError("this cluster's workers were started by hand (jupyter-futures worker), so it "
                               "cannot be scaled from here: start or stop workers where they run")
        try:
            return await asyncio.wait_for(manager.request(op, *args), MANAGER_TIMEOUT)
        except asyncio.TimeoutError:
            raise TimeoutError(f"the process that manages this cluster's workers did not answer {op!r} within "
                               f"{MANAGER_TIMEOUT:g} s: is it stopped (Ctrl-Z) or busy?") from None

    async def _rpc_cluster_info(self, comm: Comm) -> dict:
        """The live part of a ``Cluster`` (views.cluster_view), and how it is managed (adaptive bounds)."""
        info = {**views.cluster_view(self.state), "adapt": None, "scalable": False}
        if self.manager_comm is not None and not self.manager_comm.closed:
            info["scalable"] = True
            try:
                managed = await asyncio.wait_for(self.manager_comm.request("cluster_info"), MANAGER_INFO_TIMEOUT)
                info["adapt"] = managed["adapt"]
            except asyncio.TimeoutError:  # a stopped or busy manager: the rest of the answer still holds
                pass
        return info

    def _register_client(self, comm: Comm, client_id: str, info: dict | None = None) -> None:
        """A client connected; ``info`` may say {"kernel_id", "notebook"} of a notebook's client, or
        {"monitor": True} of a connection that only watches (the Jupyter extension). Our clients always
        send ``info``; the 2-field form of other clients (docs/jupyter-api.md) is still accepted."""
        comm.info = {"kind": "client", "id": client_id}
        self.client_comms[client_id] = comm
        info = info if isinstance(info, dict) else {}
        self.client_info[client_id] = {"kernel_id": info.get("kernel_id"), "notebook": info.get("notebook"),
                                       "monitor": bool(info.get("monitor"))}
        if info.get("heartbeat"):
            self.client_liveness.watch(comm, time.monotonic())
        comm.serve_rpc(self._rpc_handlers())
        comm.handler = partial(self._on_client_batch, self._client_handlers(comm, client_id))
        comm.on_close.append(lambda c: self._client_lost(client_id, c))
        self.state.add_client(client_id)
        self.plugin_host.client_added(client_id)
        comm.queue(messages.registered(self.id))

    def _worker_lost(self, address: str, comm: Comm) -> None:
        self.worker_liveness.forget(comm)
        if self.worker_comms.get(address) is comm:
            del self.worker_comms[address]
            self._wake_worker_waiters()
            reason = self._removal_reasons.pop(address, None) or self._death_reasons.pop(address, None)
            if reason is None and address in self._watched:
                # Its nanny saw the process end when this connection dropped: its word on why (for the
                # log and a KilledWorker) is a moment away; wait for it, briefly.
                self._dying[address] = asyncio.get_running_loop().call_later(
                    DEATH_REASON_WAIT, self._remove_worker, address, None)
                return
            self._remove_worker(address, reason)

    def _remove_worker(self, address: str, reason: str | None) -> None:
        timer = self._dying.pop(address, None)
        if timer is not None:
            timer.cancel()
        self._watched.discard(address)
        if reason:
            logger.info("worker %s left: it %s", address, reason)
        else:
            logger.info("worker %s left", address)
        self.state.remove_worker(address, reason)
        self.plugin_host.worker_removed(address)
        self._flush()
        self._wake_worker_waiters()

    # -- nannies ----------------------------------------------------------------
    def _register_nanny(self, comm: Comm) -> None:
        """A nanny will say which worker is its process and why each one ends."""
        comm.info = {"kind": "nanny"}
        comm.handler = partial(self._on_nanny_batch, self._nanny_handlers())

    def _nanny_handlers(self) -> dict[str, Callable]:
        """What a nanny may send: op -> handler of the message's fields (protocol/messages.py)."""
        return {messages.WORKER_WATCHED: self._worker_watched, messages.WORKER_DIED: self._worker_died}

    def _on_nanny_batch(self, handlers: dict[str, Callable], comm: Comm, msgs: list) -> None:
        for msg in msgs:
            if not messages.dispatch(handlers, msg):
                self._unknown_message(comm, msg)

    def _worker_watched(self, address: str) -> None:
        """Worker ``address`` has a nanny, which will say why it ends."""
        if address in self.worker_comms:
            self._watched.add(address)

    def _worker_died(self, address: str, reason: str) -> None:
        """The nanny of worker ``address`` saw its process end, for ``reason``."""
        if address in self._dying:
            self._remove_worker(address, reason)
        elif address in self.worker_comms:  # its connection has not dropped here yet: it is dead all the same
            self._death_reasons[address] = reason
            self.worker_comms[address].close()  # -> _worker_lost, which finds the reason
        else:
            self._watched.discard(address)
            logger.info("worker %s %s", address, reason)

    def _client_lost(self, client_id: str, comm: Comm) -> None:
        self.client_liveness.forget(comm)
        self.feed.remove(comm)
        if self.client_comms.get(client_id) is comm:
            del self.client_comms[client_id]
            self.client_info.pop(client_id, None)
            self.feed.client_gone(client_id)
            self.state.remove_client(client_id)
            self.plugin_host.client_removed(client_id)
            self.coordination.client_gone(client_id)
            self.events.subscriber_gone(client_id)
            self._flush()

    # -- events -------------------------------------------------------------
    def _worker_handlers(self, address: str) -> dict[str, Callable]:
        """What worker ``address`` may send: op -> handler of the message's fields (protocol/messages.py)."""
        state = self.state
        return {
            messages.FINISHED: partial(state.task_finished, address),
            messages.STARTED: partial(state.task_started, address),
            messages.ERRED: partial(state.task_erred, address),
            messages.MISSING_DATA: partial(state.missing_data, address),
            messages.STEAL_RESPONSE: partial(state.steal_response, address),
            messages.WORKER_OUTPUT: partial(self._worker_output, address),
            messages.SECEDED: partial(state.task_seceded, address),
            messages.TELL_CLIENTS: state.tell_clients,
            messages.METRICS: partial(self._worker_metrics, address),
            messages.RESCHEDULE: partial(state.task_rescheduled, address),
            messages.LOG_EVENT: partial(self._worker_event, address),
        }

    def _on_worker_batch(self, handlers: dict[str, Callable], comm: Comm, msgs: list) -> None:
        self.worker_liveness.heard(comm, time.monotonic())
        self._handle_batch(handlers, comm, msgs)

    def _handle_batch(self, handlers: dict[str, Callable], comm: Comm, msgs: list) -> None:
        """Each message to its handler (or the RPC layer), then one flush of what the state machine queued."""
        for msg in msgs:
            try:
                handler = handlers.get(msg[0])
                if handler is not None:
                    handler(*msg[1:])
                elif not comm.handle_rpc_message(msg):
                    self._unknown_message(comm, msg)
            except InvalidTransition:  # a bug of ours: the test suite (JUPYTER_FUTURES_STRICT=1) must see it
                raise
            except Exception:  # one bad message is logged and dropped; the rest of the batch still counts
                logger.exception("could not handle message %.80r from %s %s", msg, comm.info.get("kind"),
                                 comm.info.get("address") or comm.info.get("id"))
        self._flush()

    def _worker_output(self, address: str, key: str, stream: str, text: str) -> None:
        """What a task printed, relayed by a worker that cannot reach the task's clients: to them and the feed."""
        self.state.task_output(address, key, stream, text)
        self.feed.task_output(address, key, stream, text)

    def _worker_metrics(self, address: str, report: dict) -> None:
        """A worker's once-a-second report: its metrics, plus log records and transfers for the feed."""
        logs = report.pop("logs", None)
        transfers = report.pop("transfers", None)
        ws = self.state.workers.get(address)
        if ws is not None:
            ws.metrics = report
        self.feed.worker_metrics(address, logs, transfers)

    def _client_handlers(self, comm: Comm, client: str) -> dict[str, Callable]:
        """What client ``client`` may send on ``comm``: op -> handler of the message's fields."""
        state, co, feed = self.state, self.coordination, self.feed
        return {
            messages.HEARTBEAT: _nothing,  # being heard is all it is for
            messages.UPDATE_GRAPH: partial(state.update_graph, client),
            messages.RELEASE_KEYS: partial(state.release_keys, client),
            messages.WANT_KEYS: partial(state.want_keys, client),
            messages.FIRE_AND_FORGET: state.fire_and_forget,
            messages.COORD_REF: partial(co.ref, client),
            messages.QUEUE_PUT: co.queue_put_nowait,
            messages.ANNOTATE_KEYS: partial(feed.annotate, client),
            messages.FEED_SUBSCRIBE: partial(self._feed_subscribe, comm),
            messages.FEED_UNSUBSCRIBE: partial(feed.unsubscribe, comm),
            messages.REGISTER_MANAGER: partial(self._register_manager, comm),
            messages.SUBSCRIBE_TOPIC: partial(self.events.subscribe, client),
            messages.UNSUBSCRIBE_TOPIC: partial(self.events.unsubscribe, client),
        }

    def _on_client_batch(self, handlers: dict[str, Callable], comm: Comm, msgs: list) -> None:
        self.client_liveness.heard(comm, time.monotonic())
        self._handle_batch(handlers, comm, msgs)

    def _feed_subscribe(self, comm: Comm, topics: list) -> None:
        self.feed.subscribe(comm, lambda topic, data: comm.queue(messages.feed(topic, data)), topics)

    def _register_manager(self, comm: Comm) -> None:
        """This connection answers scale/adapt/cluster_info (cluster/control.py)."""
        self.manager_comm = comm

    def _unknown_message(self, comm: Comm, msg: tuple) -> None:
        logger.warning("unknown message %r from %s ignored", msg[0], comm.peer)

    def _flush(self) -> None:
        self.plugin_host.deliver_moves()
        for recipient, msgs in self.state.take_outgoing().items():
            comm = self.worker_comms.get(recipient) or self.client_comms.get(recipient)
            if comm is not None and not comm.closed:
                comm.write_batch(msgs)

    # -- requests -----------------------------------------------------------
    def _rpc_handlers(self) -> dict:
        return {
            "who_has": lambda comm, keys: self.state.who_has(keys),
            "nbytes": lambda comm, keys, summary: self.state.nbytes(keys, summary),
            "has_what": lambda comm: self.state.has_what(),
            "processing": lambda comm: self.state.processing(),
            "nthreads": lambda comm: {a: w.nthreads for a, w in self.state.workers.items()},
            "identity": lambda comm: self.identity(),
            "update_data": self._rpc_update_data,
            "run_on_scheduler": self._rpc_run_on_scheduler,
            "broadcast": self._rpc_broadcast,
            "cancel": lambda comm, keys, force=False: self._then_flush(
                self.state.cancel(keys, client=comm.info.get("id"), force=force)),
            "retry": lambda comm, keys: self._then_flush(self.state.retry(keys)),
            "data_missing": lambda comm, address, keys: self._then_flush(self.state.data_missing(address, keys)),
            "ping": lambda comm: "pong",
            "wait_for_workers": self._rpc_wait_for_workers,
            "restart": self._rpc_restart,
            "shutdown": self._rpc_shutdown,
            "scale": lambda comm, n: self._ask_manager("scale", n),
            "adapt": lambda comm, minimum, maximum: self._ask_manager("adapt", minimum, maximum),
            "cluster_info": self._rpc_cluster_info,
            "task_stream": lambda comm, start=0.0: [r for r in self.state.task_stream if r[2] >= start],
            "story": self._rpc_story,
            "dashboard_query": lambda comm, what, args=None: dashboard_query(self, what, args),
            **self.plugin_host.rpc_handlers(),
            "replay_spec": self._rpc_replay_spec,
            **self._coordination_rpcs(),
            **self.operations.rpc_handlers(),
            **self._event_rpcs(),
        }

    def _rpc_replay_spec(self, comm: Comm, keys: list, errored: bool) -> Any:
        from .replay import replay_spec  # recreate_error_locally: rare, its module compiled on first use

        return replay_spec(self.state, keys, errored)

    def _keep_keys(self, holder: str, keys: list[str]) -> None:
        """A queue, variable or client holds futures for these keys: keep them."""
        self.state.hold_keys(holder, keys)
        self._flush_soon()

    def _drop_keys(self, holder: str, keys: list[str]) -> None:
        self.state.release_keys(holder, keys)
        if holder not in self.client_comms and not self.state.clients.get(holder):
            self.state.clients.pop(holder, None)
        self._flush_soon()

    def _flush_soon(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_later)

    def _flush_later(self) -> None:
        self._flush_scheduled = False
        self._flush()

    # -- events, metadata, forwarded logging (scheduler/events.py) -------------------
    def _event_rpcs(self) -> dict:
        events, metadata, forwarded = self.events, self.metadata, self.forwarded
        return {
            "log_event": lambda comm, topic, msg: self._publish_event(check_topics(topic, "log_event"), msg),
            "events": lambda comm, topic=None: events.events(topic),
            "set_metadata": lambda comm, keys, value: metadata.set(keys, value),
            "get_metadata": lambda comm, keys: metadata.get(keys),
            "find_metadata": lambda comm, keys: metadata.lookup(keys),
            "forward_logging": lambda comm, logger_name, level, topic: self._tell_workers(
                forwarded.add(logger_name, level, topic)),
            "unforward_logging": lambda comm, logger_name: self._tell_workers(forwarded.remove(logger_name)),
        }

    def _publish_event(self, topics: list[str], msg: Any) -> None:
        """Record an event and send it to the clients subscribed to its topics."""
        for client, topic, event in self.events.publish(topics, msg, time.time()):
            comm = self.client_comms.get(client)
            if comm is not None and not comm.closed:
                comm.queue(messages.event(topic, event))

    def _worker_event(self, address: str, topic: list, msg: Any) -> None:
        """``Worker.log_event``: a dict message says which worker logged it (as dask's, unless the worker
        logs under its own address)."""
        if isinstance(msg, dict) and address not in topic:
            msg["worker"] = address
        self._publish_event(topic, msg)

    def _tell_workers(self, msg: tuple) -> dict:
        """Send ``msg`` to every worker: {address: {"status": "OK"}}, the shape of dask's plugin replies."""
        told = {}
        for address, comm in list(self.worker_comms.items()):
            if not comm.closed:
                comm.queue(msg)
                told[address] = {"status": "OK"}
        return told

    def _coordination_rpcs(self) -> dict:
        co = self.coordination

        def client_of(comm: Comm) -> str:
            return comm.info["id"]
        return {
            "queue_put": lambda comm, *a: co.queue_put(client_of(comm), *a),
            "queue_get": lambda comm, *a: co.queue_get(client_of(comm), *a),
            "queue_size": lambda comm, name: co.queue_size(name),
            "settle_bound": lambda comm, *a: co.settle_bound(*a),
            "lock_acquire": lambda comm, *a: co.lock_acquire(client_of(comm), *a),
            "lock_release": lambda comm, *a: co.lock_release(client_of(comm), *a),
            "lock_locked": lambda comm, name: co.lock_locked(name),
            "multi_lock_acquire": lambda comm, *a: co.multi_lock_acquire(client_of(comm), *a),
            "multi_lock_release": lambda comm, *a: co.multi_lock_release(client_of(comm), *a),
            "event_set": lambda comm, name: co.event_set(name),
            "event_clear": lambda comm, name: co.event_clear(name),
            "event_is_set": lambda comm, name: co.event_is_set(name),
            "event_wait": lambda comm, *a: co.event_wait(client_of(comm), *a),
            "variable_set": lambda comm, *a: co.variable_set(*a),
            "variable_get": lambda comm, *a: co.variable_get(client_of(comm), *a),
            "variable_delete": lambda comm, name: co.variable_delete(name),
            "semaphore_acquire": lambda comm, *a: co.semaphore_acquire(client_of(comm), *a),
            "semaphore_release": lambda comm, *a: co.semaphore_release(client_of(comm), *a),
            "semaphore_value": lambda comm, name: co.semaphore_value(name),
            "semaphore_close": lambda comm, name: co.semaphore_close(name),
            "dataset_publish": lambda comm, *a: co.dataset_publish(*a),
            "dataset_get": lambda comm, name: co.dataset_get(client_of(comm), name),
            "dataset_names": lambda comm: co.dataset_names(),
            "dataset_unpublish": lambda comm, name: co.dataset_unpublish(name),
        }

    def _then_flush(self, value: Any) -> Any:
        self._flush()
        return value

    def identity(self) -> dict:
        """The scheduler and its workers, as ``Client.scheduler_info()`` reports them."""
        return {
            "type": "Scheduler",
            "id": self.id,
            "address": self.address,
            "started": self.started,
            "workers": {
                a: {"id": w.name, "name": w.name, "nthreads": w.nthreads, "memory_limit": w.memory_limit,
                    "pid": w.pid, "host": a.split("://")[-1].rsplit(":", 1)[0], "metrics": dict(w.metrics),
                    "nbytes": w.nbytes, "processing": len(w.processing), "in_memory": len(w.has_what),
                    "resources": dict(w.resources)}
                for a, w in self.state.workers.items()
            },
            "tasks": self.state.counts(),
            "clients": len(self.client_comms),
            "dashboard": self.dashboard.url if self.dashboard is not None else "",
        }

    async def _rpc_update_data(self, comm: Comm, address: str, entries: dict, renames: dict | None = None) -> bool:
        """A client scattered data to worker ``address``: {key: (nbytes, type name)}. Values it put under
        provisional keys get their keys (``renames``) first, asked on this scheduler's own connection to
        the worker: so after any ``free`` of the same keys sent there before (a key released and
        scattered again is never freed under its new value)."""
        if renames:
            worker = self.worker_comms.get(address)
            if worker is None:
                raise KeyError(f"no worker {address}: it left the cluster; scatter the data again")
            await worker.request("rename_data", renames)
        self.state.update_data(comm.info["id"], address, entries)
        self._flush()
        return True

    async def _rpc_run_on_scheduler(self, comm: Comm, fn_ser, args_ser, kwargs_ser) -> Any:
        fn, args, kwargs = serialize.loads(fn_ser), serialize.loads(args_ser), serialize.loads(kwargs_ser)
        return serialize.dumps(await call_with(fn, args, kwargs, self, ("dask_scheduler", "scheduler")))

    async def _rpc_story(self, comm: Comm, keys: list[str]) -> list[tuple]:
        """``Client.story(*keys)``: what the scheduler and every worker recorded of these keys, oldest
        first, as (key, stimulus, start, finish, when, where) -- ``where`` is "scheduler" or a worker's
        address; a worker that does not answer within ``STORY_TIMEOUT`` is left out."""
        keys = [keys] if isinstance(keys, str) else list(keys)
        records = [(*r, "scheduler") for r in self.state.story.of(keys)]
        workers = list(self.worker_comms.items())
        replies = await asyncio.gather(
            *(asyncio.wait_for(w.request("story", keys), STORY_TIMEOUT) for _, w in workers),
            return_exceptions=True)
        for (address, _), reply in zip(workers, replies):
            if isinstance(reply, BaseException):
                logger.info("worker %s sent no story for %d keys: %r", address, len(keys), reply)
            else:
                records.extend((*r, address) for r in reply)
        records.sort(key=lambda r: r[4])
        return records

    async def _rpc_broadcast(self, comm: Comm, op: str, args: tuple, workers: list | None = None) -> dict:
        targets = self.state.worker_addresses(workers) if workers else list(self.worker_comms)
        replies = await asyncio.gather(*(self.worker_comms[w].request(op, *args) for w in targets),
                                       return_exceptions=True)
        return dict(zip(targets, replies))


def _local_ip() -> str:
    import socket

    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


def _nothing() -> None:
    pass
