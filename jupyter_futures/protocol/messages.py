"""Every message the cluster's processes send each other: its name, its fields, who sends it to whom.

On the wire a message is a plain tuple ``(op, field, field, ...)``, as small and as fast to pickle
as a hand-built one (a constructor call adds well under a microsecond). This module is the one
place that says what each op carries:

* producers build messages with the constructors below (never a tuple literal with an op in it);
* consumers dispatch with a table ``{op: handler}`` whose handlers take the message's fields as
  parameters of the same names, called ``handler(*msg[1:])`` (``dispatch`` below);
* tests build and compare messages with the same constructors.

Every field is always present: a message has one length. Remote procedure calls (``rpc`` and
``rpc-reply``) carry their own op names and arguments; protocol/comm.py serves them.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

# -- a client, its scheduler ---------------------------------------------------------------------------
REGISTER_CLIENT = "register-client"
REGISTERED = "registered"
UPDATE_GRAPH = "update-graph"
RELEASE_KEYS = "release-keys"
WANT_KEYS = "want-keys"
FIRE_AND_FORGET = "fire-and-forget"
ANNOTATE_KEYS = "annotate-keys"
COORD_REF = "coord-ref"
QUEUE_PUT = "queue-put"
FEED_SUBSCRIBE = "feed-subscribe"
FEED_UNSUBSCRIBE = "feed-unsubscribe"
REGISTER_MANAGER = "register-manager"
HEARTBEAT = "heartbeat"
FEED = "feed"
SUBSCRIBE_TOPIC = "subscribe-topic"
UNSUBSCRIBE_TOPIC = "unsubscribe-topic"
EVENT = "event"
TASK_RUNNING = "task-running"
TASK_FINISHED = "task-finished"
TASK_ERRED = "task-erred"
TASK_CANCELLED = "task-cancelled"
TASK_LOST = "task-lost"
TASK_OUTPUT = "task-output"
# -- a worker, its scheduler ---------------------------------------------------------------------------
REGISTER_WORKER = "register-worker"
COMPUTE = "compute"
FREE = "free"
STEAL = "steal"
CLOSE = "close"
RESTART = "restart"
UPLOAD_FILE = "upload-file"
STARTED = "started"
FINISHED = "finished"
ERRED = "erred"
MISSING_DATA = "missing-data"
STEAL_RESPONSE = "steal-response"
WORKER_OUTPUT = "worker-output"
SECEDED = "seceded"
TELL_CLIENTS = "tell-clients"
METRICS = "metrics"
RESCHEDULE = "reschedule"
WORKER_PLUGINS = "worker-plugins"
LOG_EVENT = "log-event"
FORWARD_LOGGING = "forward-logging"
UNFORWARD_LOGGING = "unforward-logging"
# -- a nanny, its scheduler ----------------------------------------------------------------------------
REGISTER_NANNY = "register-nanny"
WORKER_WATCHED = "worker-watched"
WORKER_DIED = "worker-died"


# -- client -> scheduler ------------------------------------------------------------------------------
def register_client(client_id: str, info: dict | None) -> tuple:
    """client -> scheduler, first on a connection: who it is; ``info`` {"kernel_id", "notebook"} of a
    notebook's client, {"monitor": True} of a watcher, or None; with {"heartbeat": seconds} the client
    promises a ``heartbeat`` at least that often, and is taken for dead when it falls silent."""
    return (REGISTER_CLIENT, client_id, info)


def heartbeat() -> tuple:
    """client -> scheduler: still here (sent when nothing else was)."""
    return (HEARTBEAT,)


def update_graph(records: list) -> tuple:
    """client -> scheduler: new tasks, each ``(key, func_token, func, args, dependencies, options)``."""
    return (UPDATE_GRAPH, records)


def release_keys(keys: list) -> tuple:
    """client -> scheduler: this client holds no more futures of these keys."""
    return (RELEASE_KEYS, keys)


def want_keys(keys: list) -> tuple:
    """client -> scheduler: this client got futures of these keys from elsewhere (unpickled)."""
    return (WANT_KEYS, keys)


def fire_and_forget(keys: list) -> tuple:
    """client -> scheduler: compute these keys even when no client holds them."""
    return (FIRE_AND_FORGET, keys)


def annotate_keys(cells: dict) -> tuple:
    """client -> scheduler: {key: notebook cell id} of keys a notebook cell submitted (for the feed)."""
    return (ANNOTATE_KEYS, cells)


def coord_ref(kind: str, name: str, delta: int) -> tuple:
    """client -> scheduler: one more (+1) or one less (-1) handle on a coordination primitive."""
    return (COORD_REF, kind, name, delta)


def queue_put(name: str, blob: Any, keys: list) -> tuple:
    """client -> scheduler: append to an unbounded queue without waiting (``keys``: futures inside)."""
    return (QUEUE_PUT, name, blob, keys)


def feed_subscribe(topics: list) -> tuple:
    """client -> scheduler: send me these topics of the live feed."""
    return (FEED_SUBSCRIBE, topics)


def feed_unsubscribe(topics: list | None) -> tuple:
    """client -> scheduler: stop these topics (None: all)."""
    return (FEED_UNSUBSCRIBE, topics)


def register_manager() -> tuple:
    """cluster manager -> scheduler: this connection answers scale/adapt/cluster_info."""
    return (REGISTER_MANAGER,)


def subscribe_topic(topic: str) -> tuple:
    """client -> scheduler: send me every new event of ``topic`` (``event``)."""
    return (SUBSCRIBE_TOPIC, topic)


def unsubscribe_topic(topic: str) -> tuple:
    """client -> scheduler: stop sending me the events of ``topic``."""
    return (UNSUBSCRIBE_TOPIC, topic)


# -- scheduler -> client (task-finished and task-output also come from workers) ----------------------
def registered(scheduler_id: str) -> tuple:
    """scheduler -> client or worker: registration accepted."""
    return (REGISTERED, scheduler_id)


def task_running(key: str, worker: str) -> tuple:
    """scheduler -> client: ``key`` started on ``worker``."""
    return (TASK_RUNNING, key, worker)


def task_finished(key: str, type_name: str, nbytes: int, who_has: list, small: Any,
                  start: float | None, stop: float | None) -> tuple:
    """scheduler or worker -> client: ``key`` is in memory on ``who_has``; ``small`` is the pickled
    value when small enough to ride along; ``start``/``stop``: its run, by its worker's clock (None
    for data that was never computed)."""
    return (TASK_FINISHED, key, type_name, nbytes, who_has, small, start, stop)


def task_erred(key: str, exception: Any, traceback: Any, worker: str | None,
               start: float | None, stop: float | None) -> tuple:
    """scheduler -> client: ``key`` failed (on ``worker``, during ``start``..``stop``; None for a task
    that failed because an input did and never ran)."""
    return (TASK_ERRED, key, exception, traceback, worker, start, stop)


def task_cancelled(key: str, restarted: bool) -> tuple:
    """scheduler -> client: ``key`` was cancelled; ``restarted``: by a restart, which drops finished
    results too."""
    return (TASK_CANCELLED, key, restarted)


def task_lost(key: str) -> tuple:
    """scheduler -> client: ``key`` is gone for good (scattered data whose worker died)."""
    return (TASK_LOST, key)


def task_output(key: str, worker: str, stream: str, text: str) -> tuple:
    """scheduler or worker -> client: what ``key`` printed on ``stream`` ('stdout' or 'stderr')."""
    return (TASK_OUTPUT, key, worker, stream, text)


def feed(topic: str, data: Any) -> tuple:
    """scheduler -> subscriber: one update of a live-feed topic."""
    return (FEED, topic, data)


def event(topic: str, event: tuple) -> tuple:
    """scheduler -> client subscribed to ``topic``: a new ``event``, ``(time, msg)``."""
    return (EVENT, topic, event)


# -- worker -> scheduler -------------------------------------------------------------------------------
def register_worker(address: str, nthreads: int, memory_limit: int, name: str, pid: int,
                    resources: dict | None) -> tuple:
    """worker -> scheduler, first on its connection."""
    return (REGISTER_WORKER, address, nthreads, memory_limit, name, pid, resources)


def started(key: str) -> tuple:
    """worker -> scheduler: ``key`` began executing."""
    return (STARTED, key)


def finished(key: str, nbytes: int, type_name: str, small: Any, start: float, stop: float,
             told: list) -> tuple:
    """worker -> scheduler: ``key`` is computed and held here; ``told``: the clients it told itself."""
    return (FINISHED, key, nbytes, type_name, small, start, stop, told)


def erred(key: str, exception: Any, traceback: Any, start: float, stop: float) -> tuple:
    """worker -> scheduler: ``key`` raised ``exception`` (pickled) with ``traceback`` (frame records)."""
    return (ERRED, key, exception, traceback, start, stop)


def missing_data(key: str, dep_key: str, failed: list) -> tuple:
    """worker -> scheduler: input ``dep_key`` of ``key`` could not be fetched from ``failed``."""
    return (MISSING_DATA, key, dep_key, failed)


def steal_response(results: list) -> tuple:
    """worker -> scheduler: ``[(key, given_up)]`` for a steal request."""
    return (STEAL_RESPONSE, results)


def worker_output(key: str, stream: str, text: str) -> tuple:
    """worker -> scheduler: what ``key`` printed, for clients the worker cannot reach and the feed."""
    return (WORKER_OUTPUT, key, stream, text)


def seceded(key: str) -> tuple:
    """worker -> scheduler: ``key`` left its thread pool to wait on tasks it submitted."""
    return (SECEDED, key)


def tell_clients(key: str, clients: list) -> tuple:
    """worker -> scheduler: tell these clients ``key`` finished (the worker could not reach them)."""
    return (TELL_CLIENTS, key, clients)


def metrics(report: dict) -> tuple:
    """worker -> scheduler, once a second: memory, cpu, log records, transfers."""
    return (METRICS, report)


def reschedule(key: str) -> tuple:
    """worker -> scheduler: ``key`` raised ``Reschedule``: run it again (elsewhere if possible)."""
    return (RESCHEDULE, key)


def log_event(topic: list, msg: Any) -> tuple:
    """worker -> scheduler: log ``msg`` (plain data) under each topic of ``topic`` (``Worker.log_event``)."""
    return (LOG_EVENT, topic, msg)


# -- nanny -> scheduler --------------------------------------------------------------------------------
def register_nanny() -> tuple:
    """nanny -> scheduler, first on its connection: it will say how its workers end."""
    return (REGISTER_NANNY,)


def worker_watched(address: str) -> tuple:
    """nanny -> scheduler: the worker at ``address`` is its process: when it ends, ``worker_died`` says why."""
    return (WORKER_WATCHED, address)


def worker_died(address: str, reason: str) -> tuple:
    """nanny -> scheduler: the worker process at ``address`` ended; ``reason`` completes "the worker ...",
    e.g. "was killed by signal SIGSEGV"."""
    return (WORKER_DIED, address, reason)


# -- scheduler -> worker -------------------------------------------------------------------------------
def compute(key: str, func_token: str, func: Any, args: Any, deps: dict, priority: tuple,
            options: dict | None, clients: list) -> tuple:
    """scheduler -> worker: run ``key``; ``deps`` {input key: holders}; ``clients`` want the result."""
    return (COMPUTE, key, func_token, func, args, deps, priority, options, clients)


def free(keys: list) -> tuple:
    """scheduler -> worker: drop these keys (stop them if they run)."""
    return (FREE, keys)


def steal(keys: list) -> tuple:
    """scheduler -> worker: give up these tasks if they have not started."""
    return (STEAL, keys)


def close() -> tuple:
    """scheduler -> worker: stop."""
    return (CLOSE,)


def restart() -> tuple:
    """scheduler -> worker: stop; the nanny starts a fresh process."""
    return (RESTART,)


def worker_plugins(plugins: dict) -> tuple:
    """scheduler -> worker joining, before any task: the worker plugins registered, {name: pickled plugin}."""
    return (WORKER_PLUGINS, plugins)


def upload_file(filename: str, data: bytes, load: bool) -> tuple:
    """scheduler -> a worker that joined after ``Client.upload_file``: save the file (and import it), before
    any task."""
    return (UPLOAD_FILE, filename, data, load)


def forward_logging(logger_name: str | None, level: int, topic: str) -> tuple:
    """scheduler -> worker: send the records of logger ``logger_name`` (None: the root) at ``level`` and up
    as events of ``topic`` (``Client.forward_logging``)."""
    return (FORWARD_LOGGING, logger_name, level, topic)


def unforward_logging(logger_name: str | None) -> tuple:
    """scheduler -> worker: stop forwarding the records of logger ``logger_name``."""
    return (UNFORWARD_LOGGING, logger_name)


CONSTRUCTORS: dict[str, Callable[..., tuple]] = {
    make(*[None] * len(inspect.signature(make).parameters))[0]: make
    for make in (register_client, heartbeat, update_graph, release_keys, want_keys, fire_and_forget,
                 annotate_keys, coord_ref, queue_put, feed_subscribe, feed_unsubscribe, register_manager, registered,
                 task_running, task_finished, task_erred, task_cancelled, task_lost, task_output, feed,
                 register_worker, started, finished, erred, missing_data, steal_response, worker_output,
                 seceded, tell_clients, metrics, register_nanny, worker_watched, worker_died, compute, free, steal,
                 close, restart, upload_file, subscribe_topic, unsubscribe_topic, event, log_event, forward_logging,
                 unforward_logging, reschedule, worker_plugins)
}


def fields(op: str) -> tuple[str, ...]:
    """The names of the fields of message ``op``, in wire order."""
    return tuple(inspect.signature(CONSTRUCTORS[op]).parameters)


def dispatch(handlers: dict[str, Callable[..., Any]], msg: tuple) -> bool:
    """Call the handler of ``msg``'s op with its fields; False when the table has none for it."""
    handler = handlers.get(msg[0])
    if handler is None:
        return False
    handler(*msg[1:])
    return True
