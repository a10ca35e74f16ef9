"""The scheduler's live feed and dashboard queries, on a real cluster over TCP.

A monitor connection (``FeedMonitor``, as the Jupyter extension uses it) subscribes and
collects deltas; the browser protocol is checked through the dashboard port's websocket.
The feed's bookkeeping is tested without processes in test_feed_state.py.
"""
import asyncio
import json
import logging
import os
import threading
import time
import uuid

import pytest
import tornado.websocket

from jupyter_futures import Client, LocalCluster
from jupyter_futures.client.monitor import TOPICS, FeedMonitor
from jupyter_futures.protocol import messages
from jupyter_futures.protocol.eventloop import background_loop, sync

from procs import Gate, blocked, wait_until

pytestmark = pytest.mark.timeout(90)


def inc(x):
    return x + 1


def feed_square(x):
    return x * x


def shout(text):
    print(text)
    return len(text)


def spin_feed_profiled(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass
    return seconds


def log_on_worker(text):
    logging.getLogger("jupyter_futures.worker").info(text)


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit="4GB", dashboard_address=0) as cl:
        yield cl


@pytest.fixture(scope="module")
def client(cluster):
    with Client(cluster) as c:
        yield c


class Watcher:
    """A monitor on the background loop that keeps every delta it receives."""

    def __init__(self, cluster, topics=TOPICS):
        self.deltas = []
        self.lock = threading.Lock()
        self.loop = background_loop()

        async def start():
            monitor = FeedMonitor(cluster.scheduler_address, token=cluster.token, on_delta=self._keep)
            await monitor.start()
            monitor.subscribe(topics)
            return monitor
        self.monitor = sync(self.loop, start)

    def _keep(self, topic, data):
        with self.lock:
            self.deltas.append((topic, data))

    def of(self, topic):
        with self.lock:
            return [d for t, d in self.deltas if t == topic]

    def wait_for(self, topic, predicate, timeout=30):
        """The first delta of ``topic`` for which ``predicate`` holds (polled, bounded)."""
        found = []

        def look():
            for data in self.of(topic):
                if predicate(data):
                    found.append(data)
                    return True
            return False
        assert wait_until(look, timeout), f"no {topic} delta as expected; got {self.of(topic)[-3:]}"
        return found[0]

    def query(self, what, args=None):
        return sync(self.loop, self.monitor.query, what, args)

    def close(self):
        sync(self.loop, self.monitor.close)


@pytest.fixture
def watcher(cluster):
    w = Watcher(cluster)
    yield w
    w.close()


def test_a_subscriber_receives_task_records_while_a_map_runs(client, watcher):
    futures = client.map(feed_square, range(200), pure=False)
    keys = {f.key for f in futures}
    client.gather(futures)

    def seen():
        return {r["key"] for delta in watcher.of("tasks") for r in delta} & keys
    assert wait_until(lambda: len(seen()) == 200)
    record = next(r for delta in watcher.of("tasks") for r in delta if r["key"] in keys)
    assert record["prefix"] == "feed_square" and record["status"] == "finished"
    assert record["worker"] in client.scheduler_info()["workers"]
    assert record["stop"] >= record["start"] > time.time() - 60 and record["nbytes"] > 0


def test_progress_reaches_all_done_counts(client, watcher):
    futures = client.map(inc, range(300), pure=False)
    client.gather(futures)
    done = watcher.wait_for("progress", lambda d: d.get("inc", {}).get("memory", 0) >= 300)
    row = done["inc"]
    assert row["waiting"] == row["processing"] == row["erred"] == 0
    assert row["total"] == row["memory"] + row["released"]
    del futures
    # Released futures stay counted, as released.
    watcher.wait_for("progress", lambda d: "inc" in d and d["inc"]["memory"] == 0 and d["inc"]["released"] >= 300)


def test_workers_topic_shows_the_memory_breakdown_and_thresholds(client, watcher):
    data = watcher.wait_for("workers", lambda d: len(d) == 2 and all(w["memory"] > 0 for w in d))
    for w in data:
        assert w["memory_limit"] == 4 * 10**9
        assert w["thresholds"] == {"spill": 0.6, "pause": 0.8, "terminate": 0.95}
        assert w["paused"] is False and w["spilled"] == 0
        assert w["unmanaged"] == w["memory"] - w["managed"] and w["managed"] >= 0
        assert set(w) >= {"address", "name", "nthreads", "cpu", "processing", "in_memory", "time"}


def test_clients_topic_lists_held_futures_and_leaves_out_the_monitor(cluster, watcher):
    with Client(cluster) as c:
        held = c.map(feed_square, [10**6] * 3, pure=False)
        c.gather(held)
        keys = {f.key for f in held}

        def holds_them(data):
            mine = [h for h in data if h["client"] == c.id]
            return bool(mine) and {f["key"] for f in mine[0]["futures"] if f["state"] == "memory"} == keys
        data = watcher.wait_for("clients", holds_them)
        mine = next(h for h in data if h["client"] == c.id)
        assert mine["held"] == 3 and mine["bytes"] == sum(f["nbytes"] for f in mine["futures"]) > 0
        assert {f["state"] for f in mine["futures"]} == {"memory"}
        assert all(f["worker"] and f["cell"] is None for f in mine["futures"])
        assert watcher.monitor.id not in {h["client"] for h in data}
        # Cells come from the notebook layer's batched annotations.
        c.outbox.send(messages.annotate_keys({held[0].key: "cell-abc"}))
        watcher.wait_for("clients", lambda d: any(
            f["cell"] == "cell-abc" for h in d if h["client"] == c.id for f in h["futures"]))
        client_id = c.id
    watcher.wait_for("clients", lambda d: client_id not in {h["client"] for h in d})


def test_logs_topic_carries_a_worker_log_line_and_a_task_print(client, watcher):
    client.run(log_on_worker, "feed test: hello from the worker's log")
    fut = client.submit(shout, "feed test: printed by a task", pure=False)
    fut.result()
    line = watcher.wait_for("logs", lambda d: any("hello from the worker's log" in r["text"] for r in d))
    record = next(r for r in line if "hello from the worker's log" in r["text"])
    assert record["kind"] == "log" and record["level"] == "INFO" and record["name"] == "jupyter_futures.worker"
    assert record["worker"] in client.scheduler_info()["workers"]
    printed = watcher.wait_for("logs", lambda d: any(r["key"] == fut.key for r in d))
    record = next(r for r in printed if r["key"] == fut.key)
    assert record["kind"] == "stdout" and record["text"] == "feed test: printed by a task\n"


def test_transfers_between_workers_join_the_task_stream(client, watcher):
    a, b = sorted(client.scheduler_info()["workers"])
    data = client.submit(feed_square, 7, workers=[a], pure=False)
    total = client.submit(inc, data, workers=[b], pure=False)
    assert total.result() == 50
    delta = watcher.wait_for("tasks", lambda d: any(r["status"] == "transfer" and r["key"] == data.key for r in d))
    record = next(r for r in delta if r["status"] == "transfer")
    assert record["worker"] == b and record["prefix"] == "feed_square" and record["nbytes"] > 0


def test_dashboard_query_profile_filters_by_prefix_and_keys(client, watcher):
    futures = client.map(spin_feed_profiled, [0.3, 0.3], pure=False)
    client.gather(futures)

    def names(tree):
        out = {tree["description"]["name"]}
        for child in tree["children"].values():
            out |= names(child)
        return out
    tree = watcher.query("profile", {"prefix": "spin_feed_profiled"})
    assert tree["count"] > 0 and "spin_feed_profiled" in names(tree)
    assert watcher.query("profile", {"prefix": "no_such_function"})["count"] == 0
    one = watcher.query("profile", {"keys": [futures[0].key]})
    assert 0 < one["count"] < tree["count"] + 1
    worker = next(iter(client.who_has(futures[0])[futures[0].key]))
    assert watcher.query("profile", {"worker": worker, "start": time.time() - 60, "stop": time.time()})["count"] > 0
    json.dumps(tree)


def test_dashboard_query_stacks_shows_the_running_task(client, watcher, tmp_path):
    gate = Gate(tmp_path / "gate")
    fut = client.submit(blocked, gate.started, gate.path, pure=False)
    try:
        gate.wait_started()
        [worker] = [w for w, keys in client.processing().items() if fut.key in keys]
        [stack] = watcher.query("stacks", {"worker": worker})
        assert stack["key"] == fut.key and stack["thread"]
        assert stack["frames"][0]["name"] == "blocked"
        assert any(f["name"] == "wait_until" for f in stack["frames"])
        assert all(set(f) == {"filename", "line_number", "name", "line"} for f in stack["frames"])
    finally:
        gate.open()
    fut.result()
    with pytest.raises(Exception, match="no worker"):
        watcher.query("stacks", {"worker": "tcp://127.0.0.1:1"})


def test_dashboard_query_logs_returns_worker_records_and_task_output(client, watcher):
    since = time.time()
    client.run(log_on_worker, "feed test: a line for the logs query")
    fut = client.submit(shout, "feed test: output for the logs query", pure=False)
    fut.result()
    records = watcher.query("logs", {"since": since})
    assert any(r["kind"] == "log" and "a line for the logs query" in r["text"] for r in records)
    assert all(r["time"] >= since for r in records)
    assert [r["time"] for r in records] == sorted(r["time"] for r in records)
    # Output that went straight to the client reaches the scheduler with the next metrics message.
    assert wait_until(lambda: any(r["key"] == fut.key for r in watcher.query("logs", {"since": since})))
    worker = next(iter(client.scheduler_info()["workers"]))
    assert {r["worker"] for r in watcher.query("logs", {"worker": worker})} == {worker}
    with pytest.raises(Exception, match="unknown dashboard query"):
        watcher.query("bogus")


def test_dashboard_query_answers_a_snapshot_of_each_topic(client, watcher):
    futures = client.map(feed_square, range(5), pure=False)
    client.gather(futures)
    [mine] = [h for h in watcher.query("clients") if h["client"] == client.id]
    assert {f.key for f in futures} <= {f["key"] for f in mine["futures"]}
    assert watcher.monitor.id not in {h["client"] for h in watcher.query("clients")}
    assert len(watcher.query("workers")) == 2
    assert watcher.query("progress")["feed_square"]["memory"] >= 5
    assert {f.key for f in futures} <= {r["key"] for r in watcher.query("tasks", {"since": time.time() - 60})}


def test_unsubscribing_stops_the_deltas(client, cluster):
    w = Watcher(cluster, ["tasks"])
    try:
        client.gather(client.map(inc, range(10), pure=False))
        assert wait_until(lambda: w.of("tasks"))
        w.loop.call_soon_threadsafe(w.monitor.unsubscribe, None)
        w.query("logs", {"since": time.time()})  # a round trip: the unsubscribe arrived
        count = len(w.of("tasks"))
        client.gather(client.map(inc, range(10), pure=False))
        client.run(log_on_worker, "feed test: after unsubscribing")  # one more round trip through the workers
        assert len(w.of("tasks")) == count
        assert client.run_on_scheduler(_feed_timer) == (False, False)  # no subscriber: no timer either
    finally:
        w.close()


def _feed_timer(dask_scheduler=None):
    return dask_scheduler.feed.active, dask_scheduler.feed._timer is not None


def test_the_browser_websocket_speaks_the_feed_protocol(client, cluster):
    url = cluster.dashboard_link.replace("http://", "ws://") + "ws"

    async def session():
        ws = await tornado.websocket.websocket_connect(url)

        async def next_message(op, predicate=lambda m: True):
            while True:
                msg = json.loads(await asyncio.wait_for(ws.read_message(), 30))
                if msg["op"] == op and predicate(msg):
                    return msg
        clusters = await next_message("clusters")
        [info] = clusters["clusters"]
        ws.write_message(json.dumps({"op": "subscribe", "cluster": info["id"], "topics": ["workers", "progress"]}))
        workers = await next_message("delta", lambda m: m["topic"] == "workers")
        ws.write_message(json.dumps({"op": "request", "id": 7, "cluster": info["id"], "what": "logs",
                                     "args": {"worker": None, "since": 0}}))
        logs = await next_message("reply", lambda m: m["id"] == 7)
        ws.write_message(json.dumps({"op": "request", "id": 8, "cluster": info["id"], "what": "nothing"}))
        bad = await next_message("reply", lambda m: m["id"] == 8)
        ws.close()
        return info, workers, logs, bad
    info, workers, logs, bad = asyncio.run(session())
    assert info["address"] == cluster.scheduler_address and info["status"] == "running"
    assert len(info["worker_list"]) == 2 and info["id"].startswith("scheduler-")
    assert workers["cluster"] == info["id"] and len(workers["data"]) == 2
    assert isinstance(logs["data"], list) and "error" not in logs
    assert "unknown dashboard query" in bad["error"]


def test_the_standalone_page_escapes_text():
    from jupyter_futures.dashboard.http import PAGE

    assert "innerHTML" not in PAGE and "textContent" in PAGE


def test_a_notebook_client_says_its_kernel_notebook_and_the_cells_of_its_futures(cluster, watcher, tmp_path):
    pytest.importorskip("ipykernel")
    from jupyter_client.manager import KernelManager

    kernel_id = uuid.uuid4().hex
    # Named as Jupyter servers name connection files: the kernel's client reads its id from the name.
    km = KernelManager(kernel_name="python3", connection_file=str(tmp_path / f"kernel-{kernel_id}.json"))
    km.start_kernel(env=dict(os.environ, JPY_SESSION_NAME="analysis.ipynb", JUPYTER_FUTURES_TOKEN=cluster.token))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)

        def execute(code, metadata=None):
            # A cell run as JupyterLab runs it: the execute request's metadata names the cell.
            msg = kc.session.msg("execute_request", {"code": code, "silent": False, "store_history": True,
                                                     "user_expressions": {}, "allow_stdin": False,
                                                     "stop_on_error": True}, metadata=metadata or {})
            kc.shell_channel.send(msg)
            while True:
                reply = kc.get_shell_msg(timeout=60)
                if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
                    assert reply["content"]["status"] == "ok", reply["content"]
                    return
        execute(f"from jupyter_futures import Client\nclient = Client({cluster.scheduler_address!r})\n"
                f"def inc(x):\n    return x + 1\n")
        execute("futures = client.map(inc, range(3))\nclient.gather(futures)", {"cellId": "cell-123"})

        def annotated(data):
            return any(h["kernel_id"] == kernel_id and h["held"] == 3
                       and all(f["cell"] == "cell-123" for f in h["futures"]) for h in data)
        data = watcher.wait_for("clients", annotated)
        [mine] = [h for h in data if h["kernel_id"] == kernel_id]
        assert mine["notebook"] == "analysis.ipynb"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
