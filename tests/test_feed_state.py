"""The live feed's bookkeeping, driven directly: a ``SchedulerState``, no sockets, no processes.

The real-process tests are in test_feed.py.
"""
import logging
import threading

from jupyter_futures.protocol.context import set_current_task
from jupyter_futures.scheduler import views
from jupyter_futures.scheduler.feed import HISTORY, INTERVAL, MAX_TASK_RECORDS, Feed
from jupyter_futures.scheduler.state import SchedulerState
from jupyter_futures.protocol.logs import LogBuffer
from jupyter_futures.worker.logs import MAX_TEXT, OutputCopies

C = "client-a"


class Timers:
    """Stands in for loop.call_later: records what the feed schedules."""

    def __init__(self):
        self.pending = []

    def __call__(self, delay, fn):
        timer = Timer(self, delay, fn)
        self.pending.append(timer)
        return timer


class Timer:
    def __init__(self, timers, delay, fn):
        self.timers, self.delay, self.fn = timers, delay, fn

    def cancel(self):
        if self in self.timers.pending:
            self.timers.pending.remove(self)


class Sink:
    """A subscriber's sink: every (topic, data) it was sent."""

    def __init__(self):
        self.sent = []

    def __call__(self, topic, data):
        self.sent.append((topic, data))

    def of(self, topic):
        return [d for t, d in self.sent if t == topic]


def record(key, deps=()):
    return (key, "tok", b"func", b"args", tuple(deps), None)


def make(workers=("w1",), clients=None):
    state = SchedulerState()
    for w in workers:
        state.add_worker(w, 1)
    timers = Timers()
    feed = Feed(state, clients if clients is not None else {}, call_later=timers)
    return state, feed, timers


def run(state, keys, worker="w1", nbytes=8):
    """Submit ``keys`` for client C and finish them all on ``worker``."""
    state.update_graph(C, [record(k) for k in keys])
    for k in keys:
        ts = state.tasks[k]
        state.task_finished(ts.processing_on.address if ts.processing_on else worker, k, nbytes, "int", None,
                            1.0, 2.0)
    state.take_outgoing()


def test_the_timer_runs_only_while_someone_subscribes():
    state, feed, timers = make()
    assert not timers.pending and not feed.active
    feed.subscribe("a", Sink(), ["tasks"])
    assert len(timers.pending) == 1
    feed.subscribe("b", Sink(), ["logs"])
    feed.unsubscribe("a")
    assert feed.active and timers.pending
    feed.remove("b")
    assert not feed.active and not timers.pending


def test_each_tick_schedules_the_next_one_interval_later():
    state, feed, timers = make()
    feed.subscribe("a", Sink(), ["tasks"])
    timers.pending.pop().fn()
    assert [t.delay for t in timers.pending] == [INTERVAL]


def test_a_subscriber_gets_new_finished_tasks_with_prefix_and_nbytes():
    state, feed, _ = make()
    sink = Sink()
    feed.subscribe("a", sink, ["tasks"])
    feed.push()
    run(state, ["inc-1", "inc-2"], nbytes=28)
    feed.push()
    [delta] = sink.of("tasks")
    assert [(r["key"], r["prefix"], r["worker"], r["status"], r["nbytes"]) for r in delta] == [
        ("inc-1", "inc", "w1", "finished", 28), ("inc-2", "inc", "w1", "finished", 28)]
    assert delta[0]["start"] == 1.0 and delta[0]["stop"] == 2.0
    feed.push()
    assert len(sink.of("tasks")) == 1  # nothing new: nothing sent


def test_a_new_subscriber_starts_with_the_recent_task_stream():
    state, feed, _ = make()
    run(state, [f"old-{i}" for i in range(HISTORY + 10)])
    sink = Sink()
    feed.subscribe("a", sink, ["tasks"])
    feed.push()
    [delta] = sink.of("tasks")
    assert len(delta) == min(HISTORY, MAX_TASK_RECORDS)
    assert delta[-1]["key"] == f"old-{HISTORY + 9}"


def test_many_new_records_are_sampled_evenly_down_to_the_limit():
    state, feed, _ = make()
    sink = Sink()
    feed.subscribe("a", sink, ["tasks"])
    feed.push()
    run(state, [f"x-{i}" for i in range(3 * MAX_TASK_RECORDS)])
    feed.push()
    [delta] = sink.of("tasks")
    assert len(delta) == MAX_TASK_RECORDS
    assert delta[0]["key"] == "x-0" and delta[1]["key"] == "x-3"


def test_reading_goes_on_after_the_state_drops_its_oldest_records():
    state, feed, _ = make()
    sink = Sink()
    feed.subscribe("a", sink, ["tasks"])
    run(state, ["a-1", "a-2", "a-3"])
    feed.push()
    del state.task_stream[:2]  # what SchedulerState does past 100,000 records
    run(state, ["b-1"])
    feed.push()
    assert [r["key"] for r in sink.of("tasks")[-1]] == ["b-1"]


def test_transfers_join_the_task_stream_as_transfer_records():
    state, feed, _ = make()
    sink = Sink()
    feed.subscribe("a", sink, ["tasks"])
    feed.push()
    feed.worker_metrics("w1", [], [(["data-1", "data-2"], "w2", 5.0, 5.5, 1000)])
    feed.push()
    [delta] = sink.of("tasks")
    assert delta == [{"key": "data-1", "prefix": "data", "worker": "w1", "start": 5.0, "stop": 5.5,
                      "status": "transfer", "nbytes": 1000}]


def test_progress_counts_finished_tasks_that_were_released_and_forgotten():
    state, feed, _ = make()
    sink = Sink()
    feed.subscribe("a", sink, ["progress"])
    state.update_graph(C, [record(f"inc-{i}") for i in range(4)])
    state.take_outgoing()
    feed.push(now=0.0)
    first = sink.of("progress")[-1]["inc"]
    assert (first["total"], first["waiting"] + first["processing"], first["memory"], first["released"]) == (
        4, 4, 0, 0)
    assert first["processing"] >= 1
    for i in range(4):
        ts = state.tasks[f"inc-{i}"]
        state.task_finished(ts.processing_on.address, ts.key, 8, "int", None, 1.0, 2.0)
    state.release_keys(C, ["inc-0", "inc-1"])
    assert "inc-0" not in state.tasks
    feed.push(now=100.0)
    assert sink.of("progress")[-1]["inc"] == {"total": 4, "waiting": 0, "processing": 0, "memory": 2,
                                              "erred": 0, "released": 2}


def test_progress_counts_tasks_that_finished_before_anyone_subscribed():
    state, feed, _ = make()
    run(state, ["inc-1", "inc-2"])
    state.release_keys(C, ["inc-1", "inc-2"])
    sink = Sink()
    feed.subscribe("a", sink, ["progress"])
    feed.push()
    assert sink.of("progress")[-1]["inc"]["released"] == 2


def test_progress_joining_a_running_feed_counts_the_last_ticks_tasks_once():
    state, feed, _ = make()
    feed.subscribe("a", Sink(), ["tasks"])  # the feed runs, its reading position behind the newest tasks
    feed.push(now=0.0)
    run(state, [f"inc-{i}" for i in range(5)])
    state.release_keys(C, [f"inc-{i}" for i in range(5)])
    sink = Sink()
    feed.subscribe("b", sink, ["progress"])
    feed.push(now=100.0)
    assert sink.of("progress")[-1]["inc"]["released"] == 5
    assert sink.of("progress")[-1]["inc"]["total"] == 5


def test_progress_sends_only_the_prefixes_that_changed():
    state, feed, _ = make()
    sink = Sink()
    feed.subscribe("a", sink, ["progress"])
    run(state, ["inc-1"])
    run(state, ["add-1"])
    feed.push(now=0.0)
    assert set(sink.of("progress")[-1]) == {"inc", "add"}
    run(state, ["inc-2"])
    feed.push(now=100.0)
    assert set(sink.of("progress")[-1]) == {"inc"}
    feed.push(now=200.0)
    assert len(sink.of("progress")) == 2  # nothing changed: nothing sent


def test_progress_is_not_scanned_again_while_the_state_stands_still():
    state, feed, _ = make()
    feed.subscribe("a", Sink(), ["progress"])
    run(state, ["inc-1"])
    feed.push(now=0.0)
    calls = []
    original = feed._progress.counts
    feed._progress.counts = lambda s: calls.append(1) or original(s)
    feed.push(now=100.0)
    feed.push(now=200.0)
    assert calls == []


def test_workers_list_goes_out_when_it_changed():
    state, feed, _ = make(workers=("w1", "w2"))
    sink = Sink()
    feed.subscribe("a", sink, ["workers"])
    state.workers["w1"].metrics = {"memory": 100, "managed": 30, "spilled": 5, "unmanaged": 70, "cpu": 12.0,
                                   "memory_limit": 1000, "paused": True, "time": 1.0}
    feed.push()
    [w1, w2] = sink.of("workers")[-1]
    assert (w1["address"], w1["managed"], w1["unmanaged"], w1["spilled"], w1["paused"]) == ("w1", 30, 70, 5, True)
    assert w1["thresholds"] == {"spill": 0.6, "pause": 0.8, "terminate": 0.95}
    assert w2["memory"] == 0 and w2["paused"] is False
    feed.push()
    assert len(sink.of("workers")) == 1
    state.workers["w2"].metrics = {"memory": 50, "time": 2.0}
    feed.push()
    assert len(sink.of("workers")) == 2


def test_clients_list_held_futures_with_their_cells_and_leave_out_monitors():
    clients = {C: {"kernel_id": "k1", "notebook": "a.ipynb", "monitor": False},
               "mon": {"kernel_id": None, "notebook": None, "monitor": True}}
    state, feed, _ = make(clients=clients)
    sink = Sink()
    feed.subscribe("mon", sink, ["clients"])
    run(state, ["inc-1", "inc-2"], nbytes=100)
    feed.annotate(C, {"inc-1": "cell-1"})
    feed.push()
    [holding] = sink.of("clients")[-1]
    assert (holding["client"], holding["kernel_id"], holding["notebook"], holding["held"], holding["bytes"]) == (
        C, "k1", "a.ipynb", 2, 200)
    by_key = {f["key"]: f for f in holding["futures"]}
    assert by_key["inc-1"] == {"key": "inc-1", "state": "memory", "nbytes": 100, "worker": "w1", "cell": "cell-1"}
    assert by_key["inc-2"]["cell"] is None


def test_monitors_such_as_the_extension_and_a_clusters_manager_are_left_out_of_clients():
    clients = {C: {"monitor": False}, "manager": {"monitor": True}}
    state, feed, _ = make(clients=clients)
    sink = Sink()
    feed.subscribe("a", sink, ["clients"])
    feed.push()
    assert [h["client"] for h in sink.of("clients")[-1]] == [C]


def test_cells_of_forgotten_keys_are_dropped_as_annotations_grow():
    state, feed, _ = make()
    feed.annotate(C, {f"gone-{i}": "c" for i in range(1001)})  # none of them is a task any more
    assert feed.cells[C] == {}
    feed.client_gone(C)
    assert C not in feed.cells


def test_logs_carry_worker_records_and_task_output_pieces_merged():
    state, feed, _ = make()
    sink = Sink()
    feed.subscribe("a", sink, ["logs"])
    feed.push()
    log = {"time": 1.0, "worker": "w1", "kind": "log", "level": "INFO", "name": "jupyter_futures.worker",
           "key": None, "text": "hello"}
    feed.worker_metrics("w1", [log], [])
    feed.task_output("w1", "inc-1", "stdout", "a")
    feed.task_output("w1", "inc-1", "stdout", " b\n")
    feed.task_output("w1", "inc-1", "stderr", "oops\n")
    feed.push()
    [delta] = sink.of("logs")
    assert delta[0] == log
    assert [(r["kind"], r["key"], r["text"]) for r in delta[1:]] == [("stdout", "inc-1", "a b\n"),
                                                                     ("stderr", "inc-1", "oops\n")]
    late = Sink()
    feed.subscribe("b", late, ["logs"])
    feed.push()
    assert late.of("logs") == [delta]  # a new subscriber gets the recent records
    assert len(sink.of("logs")) == 1


def test_long_task_output_is_cut():
    record = views.output_record(1.0, "w1", "k", "stdout", "x" * (views.MAX_TEXT + 10))
    assert record["text"].startswith("x" * views.MAX_TEXT) and record["text"].endswith("[10 more characters]")


def test_a_failing_sink_does_not_stop_the_others():
    state, feed, _ = make()
    good = Sink()

    def bad(topic, data):
        raise ConnectionError("closed")
    feed.subscribe("bad", bad, ["workers"])
    feed.subscribe("good", good, ["workers"])
    feed.push()
    assert len(good.of("workers")) == 1


# -- the worker's side ---------------------------------------------------------------------------------

def test_log_buffer_keeps_records_made_outside_tasks():
    buffer = LogBuffer(capacity=3)
    buffer.worker = "w1"
    log = logging.getLogger("jupyter_futures.test_feed")
    log.addHandler(buffer)
    log.setLevel(logging.INFO)
    try:
        log.debug("not kept")
        for i in range(4):
            log.info("line %d", i)
        set_current_task(object())
        try:
            log.warning("made in a task: the task's stderr")
        finally:
            set_current_task(None)
    finally:
        log.removeHandler(buffer)
    assert [r["text"] for r in buffer.since()] == ["line 1", "line 2", "line 3"]
    new = buffer.take_new()
    assert [r["text"] for r in new] == ["line 0", "line 1", "line 2", "line 3"]
    assert new[0]["worker"] == "w1" and new[0]["level"] == "INFO" and new[0]["kind"] == "log"
    assert buffer.take_new() == []
    assert buffer.since(new[-1]["time"] + 1) == []


def test_output_copies_are_rate_limited_merged_and_cut():
    copies = OutputCopies(rate=2)
    copies.add("k1", "stdout", "a")
    copies.add("k1", "stdout", "b\n")
    copies.add("k2", "stderr", "x" * (MAX_TEXT + 5))
    copies.add("k3", "stdout", "over the rate")
    out = copies.take_new()
    assert [(r["key"], r["kind"], r["text"][:3]) for r in out] == [("k1", "stdout", "ab\n"), ("k2", "stderr", "xxx")]
    assert out[1]["text"].endswith("[5 more characters]")
    assert copies.dropped == 1 and copies.take_new() == []


def test_output_copies_may_be_added_from_many_threads():
    copies = OutputCopies(rate=10_000)
    threads = [threading.Thread(target=lambda i=i: [copies.add(f"k{i}", "stdout", "x\n") for _ in range(100)])
               for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r["text"].count("x") for r in copies.take_new()) == 400


def test_prefixes_of_a_batch_are_those_of_key_split():
    from jupyter_futures.protocol.keys import key_split

    made = [f"inc-{i:040x}" for i in range(50)] + [f"load-{i}" for i in range(5)] + ["a-1-2", "f-abcdef12"]
    odd = ["x", "a-", "-abcdef12", "a--abcdef12", "x-12-ab", "x-abcdefgh12", "x-0xabcdef", "x-ab cd ef 12",
           "x-\u0663\u0664", "x-12345678\n99999999", "my-task-name", "a-12345678-abcdef12", "x-abcdef123"]
    assert views.prefixes(made) == [key_split(k) for k in made]
    for key in odd:
        assert views.prefixes(made + [key]) == [key_split(k) for k in made + [key]], key
    assert views.prefixes([("t", 1), "inc-1"]) == ["t", "inc"]
    assert views.prefixes([]) == []
