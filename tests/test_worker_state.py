"""The worker's state machine, ready queue and data store, driven directly: no sockets."""
import threading
import numpy as np

from procs import wait_until

from jupyter_futures.protocol import messages
from jupyter_futures.worker.state import SMALL_RESULT, WorkerState, finished_message
from jupyter_futures.worker.store import DataStore, parse_memory

ME = "tcp://me:1"
PEER = "tcp://peer:1"


def make(limit=0):
    return WorkerState(ME, DataStore(limit))


def kinds(instructions):
    return [i[0] for i in instructions]


def run(w, task, ok=True, value=2, nbytes=8, start=0.0, stop=1.0):
    """What the worker does with a ready task: an executor thread claims it, runs it (here: it returns
    ``value`` or raises) and finishes it in ``w.claims``; the loop then applies the thread's report.
    Returns whether the thread stored the result (False: cancelled while it ran)."""
    assert w.claims.claim(task)
    stored = w.claims.finish(task, ok, value, nbytes)
    w.executed(task, ok, start, stop)
    return stored


def test_task_without_inputs_is_ready_at_once():
    w = make()
    out = w.compute("a", "tok", b"f", b"args", {}, (0, 1), None)
    assert kinds(out) == ["execute"]
    assert out[0][1].key == "a"


def test_missing_inputs_are_fetched_in_one_request_per_peer():
    w = make()
    out = w.compute("c", "tok", b"f", b"args", {"a": [PEER], "b": [PEER]}, (0, 1), None)
    assert out == [("fetch", PEER, ["a", "b"])]
    out = w.fetched(PEER, ["a", "b"], {"a": (1, 8), "b": (2, 8)})
    assert kinds(out) == ["execute"]
    assert w.data["a"] == 1 and w.data["b"] == 2


def test_inputs_present_locally_are_not_fetched():
    w = make()
    w.data.put("a", 5, 8)
    assert kinds(w.compute("c", "tok", b"f", b"a", {"a": [ME]}, (0, 1), None)) == ["execute"]


def test_fetch_tries_next_holder_then_reports_missing():
    w = make()
    w.compute("c", "tok", b"f", b"a", {"a": [PEER, OTHER]}, (0, 1), None)
    out = w.fetch_failed(PEER, ["a"])
    assert out == [("fetch", OTHER, ["a"])]
    out = w.fetched(OTHER, ["a"], {})
    assert out == [("send", messages.missing_data("c", "a", [OTHER]))]
    assert "c" not in w.tasks


OTHER = "tcp://other:1"


def test_inputs_from_a_peer_answering_a_request_wait_for_its_next_one():
    w = make()
    assert w.compute("c", "tok", b"f", b"a", {"a": [PEER]}, (0, 1), None) == [("fetch", PEER, ["a"])]
    assert w.compute("d", "tok", b"f", b"b", {"b": [PEER]}, (0, 2), None) == []
    assert w.compute("e", "tok", b"f", b"x", {"x": [PEER]}, (0, 3), None) == []
    out = w.fetched(PEER, ["a"], {"a": (1, 8)})
    assert ("fetch", PEER, ["b", "x"]) in out and [i[1].key for i in out if i[0] == "execute"] == ["c"]
    assert w.asking == {PEER}


def test_keys_a_peer_left_out_of_a_full_reply_are_asked_of_it_again_first():
    w = make()
    assert w.compute("c", "tok", b"f", b"ab", {"a": [PEER], "b": [PEER]}, (0, 1), None) == [
        ("fetch", PEER, ["a", "b"])]
    w.compute("d", "tok", b"f", b"x", {"x": [PEER]}, (0, 2), None)
    out = w.fetched(PEER, ["a", "b"], {"a": (1, 8)}, deferred=["b"])
    assert out == [("fetch", PEER, ["b", "x"])]  # not "missing": b is asked again, before x
    assert w.tasks["c"].state == "waiting" and w.data["a"] == 1
    out = w.fetched(PEER, ["b", "x"], {"b": (2, 8), "x": (3, 8)})
    assert sorted(i[1].key for i in out if i[0] == "execute") == ["c", "d"]
    assert w.asking == set() and w.in_flight == {} and w.queued == {}


def test_an_input_queued_for_a_task_that_was_freed_meanwhile_is_never_asked():
    w = make()
    w.compute("c", "tok", b"f", b"a", {"a": [PEER]}, (0, 1), None)
    w.compute("d", "tok", b"f", b"b", {"b": [PEER]}, (0, 2), None)
    w.free(["d"])
    assert kinds(w.fetched(PEER, ["a"], {"a": (1, 8)})) == ["execute"]
    assert "b" not in w.in_flight and w.queued == {} and w.asking == set()


def test_inputs_queued_for_an_unreachable_peer_are_asked_of_their_next_holder():
    w = make()
    w.compute("c", "tok", b"f", b"a", {"a": [PEER, OTHER]}, (0, 1), None)
    w.compute("d", "tok", b"f", b"b", {"b": [PEER, OTHER]}, (0, 2), None)
    assert w.fetch_failed(PEER, ["a"]) == [("fetch", OTHER, ["a"])]  # b waits for OTHER's next request
    assert w.fetched(OTHER, ["a"], {"a": (1, 8)})[-1] == ("fetch", OTHER, ["b"])


def test_an_input_that_cannot_be_unpickled_fails_the_tasks_waiting_for_it():
    """Both tasks waiting for ``a`` fail with its error record; ``b``, fetched with it, is kept for ``d``."""
    w = make()
    w.compute("c", "tok", b"f", b"a", {"a": [PEER]}, (0, 1), None)
    w.compute("d", "tok", b"f", b"ab", {"a": [PEER], "b": [PEER]}, (0, 2), None)
    w.compute("e", "tok", b"f", b"b", {"b": [PEER]}, (0, 3), None)
    out = w.fetched(PEER, ["a", "b"], {"b": (2, 8)}, {"a": ("EXC", "TB")})
    sent = sorted(msg for kind, msg in (i[:2] for i in out) if kind == "send")
    assert [op for op, *_ in sent] == [messages.ERRED, messages.ERRED]
    assert [(key, exception, traceback) for _, key, exception, traceback, _start, _stop in sent] == [
        ("c", "EXC", "TB"), ("d", "EXC", "TB")]
    assert [i[1].key for i in out if i[0] == "execute"] == ["e"]
    assert set(w.tasks) == {"e"} and "a" not in w.data and w.copied == {"b": 1}


def test_finished_message_carries_small_results_only():
    assert finished_message("a", 3, 28, 0.0, 1.0, "SER", ["c"]) == messages.finished("a", 28, "int", "SER", 0.0, 1.0,
                                                                                     ["c"])
    _, key, nbytes, type_name, small, start, stop, told = finished_message("b", b"x", SMALL_RESULT + 1, 0.0, 1.0,
                                                                           "SER", [])
    assert small is None


def test_a_task_a_thread_ran_is_stored_reported_started_once_and_dropped():
    w = make()
    task = w.compute("a", "tok", b"f", b"args", {}, (0, 1), None)[0][1]
    assert w.claims.claim(task)
    assert w.started(task) == [("send", messages.started("a"))]
    assert w.started(task) == []  # reported once
    assert w.claims.finish(task, True, b"x", SMALL_RESULT + 1)
    w.executed(task, True, 0.0, 1.0)
    assert w.data["a"] == b"x" and "a" not in w.tasks and task.state == "memory"


def test_error_is_reported_and_nothing_stored():
    w = make()
    task = w.compute("a", "tok", b"f", b"args", {}, (0, 1), None)[0][1]
    assert run(w, task, ok=False, value=("EXC", ["tb"]), nbytes=0)
    assert "a" not in w.data and "a" not in w.tasks and task.state == "erred"


def test_free_of_executing_task_drops_its_result():
    w = make()
    task = w.compute("a", "tok", b"f", b"args", {}, (0, 1), None)[0][1]
    assert w.claims.claim(task)
    w.free(["a"])
    assert "a" in w.tasks  # until its thread reports
    assert not w.claims.finish(task, True, 1, 8)
    w.executed(task, True, 0, 1)
    assert "a" not in w.data and "a" not in w.tasks and task.state == "cancelled"


def test_copied_inputs_are_dropped_once_unused():
    w = make()
    w.compute("c", "tok", b"f", b"a", {"a": [PEER]}, (0, 1), None)
    task = w.fetched(PEER, ["a"], {"a": (1, 8)})[0][1]
    assert "a" in w.data
    run(w, task, value=2)
    assert "a" not in w.data and w.data["c"] == 2


def test_an_input_two_tasks_wait_for_is_dropped_after_both():
    """Two tasks need one input still on its way: each counts once, and it goes after the second."""
    w = make()
    w.compute("c1", "tok", b"f", b"a", {"a": [PEER]}, (0, 1), None)
    w.compute("c2", "tok", b"f", b"a", {"a": [PEER]}, (0, 2), None)
    assert w.copied == {"a": 2}
    ready = [ins[1] for ins in w.fetched(PEER, ["a"], {"a": (1, 8)}) if ins[0] == "execute"]
    assert sorted(t.key for t in ready) == ["c1", "c2"]
    for task in ready:
        assert "a" in w.data  # still used by the other one until both are done
        run(w, task)
    assert "a" not in w.data and "a" not in w.copied


def test_a_task_abandoned_for_a_missing_input_releases_only_what_it_counted():
    """``c2`` gives up on input ``b`` (no holder but this worker) after counting ``a``; ``c1``'s use of ``a`` stays."""
    w = make()
    w.compute("c1", "tok", b"f", b"a", {"a": [PEER]}, (0, 1), None)
    out = w.compute("c2", "tok", b"f", b"ab", {"a": [PEER], "b": [ME]}, (0, 2), None)
    assert out == [("send", messages.missing_data("c2", "b", [ME]))]
    assert w.copied == {"a": 1} and "c2" not in w.tasks
    task = w.fetched(PEER, ["a"], {"a": (1, 8)})[0][1]
    assert task.key == "c1" and "a" in w.data


def test_store_spills_to_disk_past_target_and_reads_back(tmp_path):
    store = DataStore(memory_limit=10_000, spill_dir=str(tmp_path))
    arrays = {f"k{i}": np.full(500, i, dtype="float64") for i in range(4)}  # 4 KB each
    for k, a in arrays.items():
        store.put(k, a, a.nbytes)
    assert store.spilled, "past 60% of the limit, old values go to disk"
    assert store.fast_bytes <= store.target
    for k, a in arrays.items():
        assert np.array_equal(store[k], a)
    store.pop("k0")
    assert "k0" not in store
    store.close()


def test_parse_memory():
    assert parse_memory("4GB") == 4 * 10**9
    assert parse_memory("512MiB") == 512 * 2**20
    assert parse_memory(1000) == 1000
    assert parse_memory("0") == 0


def test_steal_gives_up_only_tasks_not_started():
    w = make()
    first = w.compute("a", "tok", b"f", b"args", {}, (0, 1), None)[0][1]
    w.compute("b", "tok", b"f", b"args", {}, (0, 2), None)
    w.compute("c", "tok", b"f", b"a", {"x": [PEER]}, (0, 3), None)
    assert w.claims.claim(first)
    out = w.steal(["a", "b", "c", "gone"])
    assert out == [("send", messages.steal_response([("a", False), ("b", True), ("c", True), ("gone", False)]))]
    assert set(w.tasks) == {"a"}
    assert not w.waiting_for.get("x")


def test_cancelled_ready_task_is_not_claimed():
    w = make()
    task = w.compute("a", "tok", b"f", b"args", {}, (0, 1), None)[0][1]
    w.free(["a"])
    assert not w.claims.claim(task)


def test_ready_queue_hands_out_a_task_only_while_its_resources_are_free():
    from jupyter_futures.worker.executor import ReadyQueue

    ready = ReadyQueue({"GPU": 1})
    ready.push((0,), "gpu-a", {"GPU": 1})
    ready.push((1,), "gpu-b", {"GPU": 1})
    ready.push((2,), "plain", None)
    assert ready.pop() == ("gpu-a", {"GPU": 1})
    assert ready.pop() == ("plain", None)  # gpu-b waits for the GPU; a task needing none goes past it
    assert len(ready) == 1
    taken = []
    thread = threading.Thread(target=lambda: taken.append(ready.pop()))
    thread.start()
    thread.join(0.1)
    assert taken == [] and thread.is_alive()
    ready.release({"GPU": 1})
    thread.join(5)
    assert taken == [("gpu-b", {"GPU": 1})] and len(ready) == 0
    ready.close()
    assert ready.pop() is None


def test_a_rejoining_task_waits_for_a_free_thread():
    """One thread: A secedes, B takes the slot; A's rejoin returns only after B is done, and the worker
    never runs two tasks at once (it did: A went on beside B, and B's thread took the next task too)."""
    import asyncio

    from jupyter_futures.worker.executor import Executor

    loop = asyncio.new_event_loop()
    running, log = [], []
    b_started, release_b, a_rejoined = threading.Event(), threading.Event(), threading.Event()
    counted = threading.Lock()

    def run(task):
        with counted:
            running.append(task)
        try:
            task()
        finally:
            with counted:
                running.remove(task)

    def a():
        executor.secede()
        executor.ready.push((1,), b)
        assert b_started.wait(5)
        executor.rejoin()  # must wait for B: one thread
        log.append(("a rejoined", len(running)))
        a_rejoined.set()

    def b():
        b_started.set()
        release_b.wait(5)
        log.append("b done")

    def c():
        log.append("c ran")

    executor = Executor(1, run, lambda reports: None, loop)
    try:
        executor.ready.push((0,), a)
        assert b_started.wait(5)
        executor.ready.push((2,), c)
        assert not a_rejoined.wait(0.2)  # A is still waiting for B's thread
        release_b.set()
        assert a_rejoined.wait(5)
        assert wait_until(lambda: "c ran" in log)
        # B finished before A went on; A then ran alone (only A counted), and C came after A's rejoin.
        assert log == ["b done", ("a rejoined", 1), "c ran"]
    finally:
        release_b.set()
        executor.close()
        loop.close()
