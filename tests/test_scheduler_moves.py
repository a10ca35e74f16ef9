"""The scheduler's table of moves, driven directly (no sockets): every move it lists happens, a move it
does not list raises with the key's story, and an event that comes too late is recorded, not raised."""
import logging

import pytest

from jupyter_futures.protocol import messages
from jupyter_futures.protocol.story import STRICT_ENV, InvalidTransition, Story
from jupyter_futures.scheduler.state import (
    ERRED, FORGOTTEN, LOST, MEMORY, NO_WORKER, PROCESSING, QUEUED, RELEASED, TRANSITIONS, WAITING,
    SchedulerState,
)

C = "client-a"


def record(key, deps=(), options=None):
    return (key, "tok", b"func", b"args", tuple(deps), options)


def computes(out):
    key = messages.fields(messages.COMPUTE).index("key") + 1  # after the op
    return {m[key]: addr for addr, msgs in out.items() for m in msgs if m[0] == messages.COMPUTE}


def make(workers=("w1", "w2"), nthreads=1):
    """A scheduler whose every move is also listed in ``s.moves`` as (key, start, finish)."""
    s = SchedulerState()
    s.moves = []
    real = s._move

    def move(ts, finish):
        s.moves.append((ts.key, ts.state, finish))
        real(ts, finish)
    s._move = move
    for w in workers:
        s.add_worker(w, nthreads)
    s.take_outgoing()
    return s


def finished(s, key):
    """``key`` ran where the scheduler sent it and is in memory there; returns that worker."""
    worker = s.tasks[key].processing_on.address
    s.task_finished(worker, key, 8, "int", None, 0.0, 0.1)
    return worker


def erred(s, key):
    s.task_erred(s.tasks[key].processing_on.address, key, "EXC", None, 0.0, 0.1)


def full(s, n=4):
    """``n`` root tasks t0, t1...: two workers of one thread hold two each (their capacity), the rest queue."""
    s.update_graph(C, [record(f"t{i}") for i in range(n + 1)])
    return s


def lost(s):
    """``x``, scattered to w1 only, is lost with w1."""
    s.update_data(C, "w1", {"x": (8, "int")})
    s.remove_worker("w1")
    return s


# -- one scenario per move in the table: each returns the scheduler and the key that made the move ----------
def released_to_waiting():
    s = make()
    s.update_graph(C, [record("a"), record("b", deps=["a"])])
    return s, "b"


def released_to_queued():
    s = full(make())  # t0..t3 on the two workers, t4 queued
    on_w1 = sorted(ts.key for ts in s.workers["w1"].processing)
    s.remove_worker("w1")  # its tasks are placed afresh: w2 is at capacity
    return s, on_w1[0]


def released_to_no_worker():
    s = make(workers=("w1",))
    s.update_graph(C, [record("a")])
    s.remove_worker("w1")
    return s, "a"


def released_to_processing():
    s = make()
    s.update_graph(C, [record("a", options={"retries": 1})])
    erred(s, "a")
    return s, "a"


def released_to_erred():
    s = make()
    s.update_graph(C, [record("b", deps=["gone"])])
    return s, "b"


def released_to_memory():
    s = make()
    s.update_data(C, "w1", {"x": (8, "int")})
    return s, "x"


def waiting_to_queued():
    s = make()
    s.update_graph(C, [record("a")])
    holder = finished(s, "a")
    other = next(w for w in s.workers if w != holder)
    s.update_graph(C, [record(f"t{i}", options={"workers": [other]}) for i in range(4)])  # other is full
    s.remove_worker(holder)  # "a" is needed again: recomputed, and no worker has room
    return s, "a"


def waiting_to_no_worker():
    s = make(workers=("w1",))
    s.update_graph(C, [record("a")])
    s.remove_worker(finished(s, "a"))  # "a" is needed again: recomputed, and no worker is left
    return s, "a"


def waiting_to_processing():
    return memory_to_waiting()


def waiting_to_erred():
    s = make()
    s.update_graph(C, [record("a"), record("b", deps=["a"])])
    erred(s, "a")
    return s, "b"


def waiting_to_memory():
    s = make()
    s.update_graph(C, [record("a"), record("b", deps=["a"])])
    s.update_data(C, "w1", {"b": (8, "int")})
    return s, "b"


def waiting_to_forgotten():
    s = make()
    s.update_graph(C, [record("a"), record("b", deps=["a"])])
    s.release_keys(C, ["b"])
    return s, "b"


def queued_to_processing():
    s = full(make())
    finished(s, "t0")
    return s, "t4"


def queued_to_memory():
    s = full(make())
    s.update_data(C, "w1", {"t4": (8, "int")})
    return s, "t4"


def queued_to_forgotten():
    s = full(make())
    s.release_keys(C, ["t4"])
    return s, "t4"


def no_worker_to_queued():
    s = make(workers=())
    s.update_graph(C, [record(f"t{i}") for i in range(3)])
    s.add_worker("w1", 1)  # room for two
    return s, "t2"


def no_worker_to_no_worker():
    s = make()
    s.update_graph(C, [record("a", options={"workers": ["nope"]})])
    s.add_worker("w3", 1)
    return s, "a"


def no_worker_to_processing():
    s = make(workers=())
    s.update_graph(C, [record("a")])
    s.add_worker("w1", 1)
    return s, "a"


def no_worker_to_erred():
    s = make()
    s.update_data(C, "w1", {"x": (8, "int")})
    s.update_graph(C, [record("b", deps=["x"], options={"workers": ["nope"]})])
    s.remove_worker("w1")
    return s, "b"


def no_worker_to_memory():
    s = make()
    s.update_graph(C, [record("a", options={"workers": ["nope"]})])
    s.update_data(C, "w1", {"a": (8, "int")})
    return s, "a"


def no_worker_to_forgotten():
    s = make()
    s.update_graph(C, [record("a", options={"workers": ["nope"]})])
    s.release_keys(C, ["a"])
    return s, "a"


def processing_to_memory():
    s = make()
    s.update_graph(C, [record("a")])
    finished(s, "a")
    return s, "a"


def processing_to_released():
    s = make()
    s.update_graph(C, [record("a")])
    erred(s, "a")
    return s, "a"


def processing_to_processing():
    s = make()
    s.update_graph(C, [record("a"), record("b")])
    ts = s.tasks["a"]
    victim = ts.processing_on
    thief = next(w for w in s.workers.values() if w is not victim)
    ts.stealing, thief.stealing_in = thief, 1
    s.steal_response(victim.address, [("a", True)])
    return s, "a"


def processing_to_queued():
    s = make(workers=("w1",))
    s.workers["w1"].avg_duration = 1e-4  # fast tasks: w1 takes all four
    s.update_graph(C, [record(f"t{i}") for i in range(4)])
    s.workers["w1"].avg_duration = 0.5  # they turn out slow: w1's capacity drops to two
    s.add_worker("w2", 1)  # idle: asks w1 for a task it has not started
    (ts,) = [ts for ts in s.tasks.values() if ts.stealing is not None]
    s.remove_worker("w2")
    s.steal_response("w1", [(ts.key, True)])  # given up, but its thief is gone and w1 is full
    return s, ts.key


def processing_to_erred():
    s = make()
    s.update_data(C, "w1", {"x": (8, "int")})
    s.update_graph(C, [record("b", deps=["x"])])
    s.remove_worker("w1")  # b runs again, then its scattered input is lost
    return s, "b"


def processing_to_forgotten():
    s = make()
    s.update_graph(C, [record("a")])
    s.cancel(["a"])
    return s, "a"


def memory_to_memory():
    s = make()
    s.update_graph(C, [record("a")])
    worker = finished(s, "a")
    s.task_finished("w2" if worker == "w1" else "w1", "a", 8, "int", None, 0.0, 0.1)
    return s, "a"


def memory_to_waiting():
    s = make()
    s.update_graph(C, [record("a")])
    s.remove_worker(finished(s, "a"))
    return s, "a"


def memory_to_lost():
    return lost(make()), "x"


def memory_to_forgotten():
    s = make()
    s.update_graph(C, [record("a")])
    finished(s, "a")
    s.release_keys(C, ["a"])
    return s, "a"


def erred_to_memory():
    s = make()
    s.update_graph(C, [record("a")])
    erred(s, "a")
    s.update_data(C, "w1", {"a": (8, "int")})
    return s, "a"


def erred_to_waiting():
    s = make()
    s.update_graph(C, [record("a")])
    erred(s, "a")
    assert s.retry(["a"]) == []
    return s, "a"


def erred_to_forgotten():
    s = make()
    s.update_graph(C, [record("a")])
    erred(s, "a")
    s.release_keys(C, ["a"])
    return s, "a"


def lost_to_memory():
    s = lost(make())
    s.update_data(C, "w2", {"x": (8, "int")})
    return s, "x"


def lost_to_forgotten():
    s = lost(make())
    s.release_keys(C, ["x"])
    return s, "x"


SCENARIOS = {
    (RELEASED, WAITING): released_to_waiting,
    (RELEASED, QUEUED): released_to_queued,
    (RELEASED, NO_WORKER): released_to_no_worker,
    (RELEASED, PROCESSING): released_to_processing,
    (RELEASED, ERRED): released_to_erred,
    (RELEASED, MEMORY): released_to_memory,
    (WAITING, QUEUED): waiting_to_queued,
    (WAITING, NO_WORKER): waiting_to_no_worker,
    (WAITING, PROCESSING): waiting_to_processing,
    (WAITING, ERRED): waiting_to_erred,
    (WAITING, MEMORY): waiting_to_memory,
    (WAITING, FORGOTTEN): waiting_to_forgotten,
    (QUEUED, PROCESSING): queued_to_processing,
    (QUEUED, MEMORY): queued_to_memory,
    (QUEUED, FORGOTTEN): queued_to_forgotten,
    (NO_WORKER, QUEUED): no_worker_to_queued,
    (NO_WORKER, NO_WORKER): no_worker_to_no_worker,
    (NO_WORKER, PROCESSING): no_worker_to_processing,
    (NO_WORKER, ERRED): no_worker_to_erred,
    (NO_WORKER, MEMORY): no_worker_to_memory,
    (NO_WORKER, FORGOTTEN): no_worker_to_forgotten,
    (PROCESSING, MEMORY): processing_to_memory,
    (PROCESSING, RELEASED): processing_to_released,
    (PROCESSING, PROCESSING): processing_to_processing,
    (PROCESSING, QUEUED): processing_to_queued,
    (PROCESSING, ERRED): processing_to_erred,
    (PROCESSING, FORGOTTEN): processing_to_forgotten,
    (MEMORY, MEMORY): memory_to_memory,
    (MEMORY, WAITING): memory_to_waiting,
    (MEMORY, LOST): memory_to_lost,
    (MEMORY, FORGOTTEN): memory_to_forgotten,
    (ERRED, MEMORY): erred_to_memory,
    (ERRED, WAITING): erred_to_waiting,
    (ERRED, FORGOTTEN): erred_to_forgotten,
    (LOST, MEMORY): lost_to_memory,
    (LOST, FORGOTTEN): lost_to_forgotten,
}


def test_there_is_one_scenario_per_move_in_the_table():
    assert set(SCENARIOS) == set(TRANSITIONS)


@pytest.mark.parametrize("move", list(SCENARIOS), ids=[f"{a}->{b}" for a, b in SCENARIOS])
def test_every_move_in_the_table_happens(move):
    s, key = SCENARIOS[move]()
    assert (key, *move) in s.moves, [m for m in s.moves if m[0] == key]


def test_every_move_is_in_the_story_with_its_stimulus():
    s = make()
    s.update_graph(C, [record("a")])
    finished(s, "a")
    s.release_keys(C, ["a"])
    assert [r[1:4] for r in s.story.of(["a"])] == [
        ("update-graph", "released", "processing"),
        ("task-finished", "processing", "memory"), ("release-keys", "memory", "forgotten")]
    assert all(isinstance(r[4], float) for r in s.story.of(["a"]))


def test_a_move_the_table_does_not_list_raises_with_the_keys_story(monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "1")
    s = make()
    s.update_graph(C, [record("a")])
    finished(s, "a")
    with pytest.raises(InvalidTransition) as raised:
        s._move(s.tasks["a"], QUEUED)
    text = str(raised.value)
    assert "'a': memory -> queued (stimulus 'task-finished')" in text
    assert "update-graph: released -> processing" in text and "task-finished: processing -> memory" in text


def test_in_production_an_impossible_move_is_logged_with_the_story_and_made(monkeypatch, caplog):
    monkeypatch.setenv(STRICT_ENV, "0")
    s = make()
    s.update_graph(C, [record("a")])
    finished(s, "a")
    with caplog.at_level(logging.WARNING, logger="jupyter_futures.scheduler"):
        s._move(s.tasks["a"], QUEUED)
    assert s.tasks["a"].state == QUEUED
    assert "impossible move of task 'a': memory -> queued" in caplog.text
    assert "task-finished: processing -> memory" in caplog.text


def test_a_report_of_a_task_cancelled_meanwhile_is_recorded_and_its_value_freed():
    s = make()
    s.update_graph(C, [record("a")])
    worker = s.tasks["a"].processing_on.address
    s.cancel(["a"])
    s.take_outgoing()
    s.task_finished(worker, "a", 8, "int", None, 0.0, 0.1)
    assert s.take_outgoing()[worker] == [messages.free(["a"])]
    key, stimulus, start, finish, _ = s.story.of(["a"])[-1]
    assert stimulus.startswith("task-finished ignored: ") and start == finish == FORGOTTEN


def test_a_report_from_the_worker_a_task_was_stolen_from_is_recorded_not_applied():
    s, _ = processing_to_processing()
    ts = s.tasks["a"]
    victim = next(a for a in s.workers if a != ts.processing_on.address)
    s.task_finished(victim, "a", 8, "int", None, 0.0, 0.1)
    assert ts.state == PROCESSING and ts.processing_on.address != victim
    assert f"processing on {ts.processing_on.address}, not {victim}" in s.story.of(["a"])[-1][1]


def test_events_about_unknown_keys_are_recorded_not_raised():
    s = make()
    s.task_started("w1", "nope")
    s.task_seceded("w1", "nope")
    s.task_erred("w1", "nope", "EXC", None, 0.0, 0.1)
    s.missing_data("w1", "nope", "gone", ["w2"])
    s.steal_response("w1", [("nope", True)])
    s.tell_clients("nope", [C])
    assert [r[1].split(" ignored")[0] for r in s.story.of(["nope"])] == [
        "task-started", "task-seceded", "task-erred", "missing-data", "steal-response", "tell-clients"]
    assert [r[1].split(" ignored")[0] for r in s.story.of(["gone"])] == ["missing-data"]
    assert not s.moves


def test_a_queued_task_released_leaves_a_stale_entry_the_queue_skips():
    s = full(make())
    s.release_keys(C, ["t4"])
    assert len(s.queue) == 1  # its entry stays in the heap
    finished(s, "t0")
    assert "t4" not in computes(s.take_outgoing()) and not s.queue


def test_the_story_is_one_bounded_ring():
    story = Story(length=3)
    for i in range(5):
        story.append((f"k{i % 2}", "s", "a", "b", float(i)))
    assert [r[4] for r in story.of(["k0", "k1"])] == [2.0, 3.0, 4.0]
    assert [r[4] for r in story.of(["k0"])] == [2.0, 4.0]
    assert SchedulerState().story.records.maxlen == 100_000


def test_a_task_whose_input_died_with_its_worker_is_not_placed_on_that_worker():
    s = make()
    s.update_graph(C, [record("a")])
    worker = finished(s, "a")
    s.update_graph(C, [record("b", deps=["a"])])
    assert s.tasks["b"].processing_on.address == worker
    s.remove_worker(worker)
    b = s.tasks["b"]
    assert b.state == WAITING or (b.processing_on is not None and b.processing_on.address in s.workers), (
        b.state, b.processing_on, s.story.of(["b"]))


def test_a_retried_task_runs_again_with_the_erred_input_its_failure_began_at():
    s = make()
    s.update_graph(C, [record("a"), record("b", deps=["a"])])
    erred(s, "a")
    assert s.tasks["b"].state == ERRED
    assert s.retry(["b"]) == []
    assert s.tasks["a"].state == PROCESSING and s.tasks["b"].state == WAITING
    finished(s, "a")
    assert s.tasks["b"].state == PROCESSING and s.tasks["b"].exception is None


def test_a_retry_whose_input_was_forgotten_is_refused_for_that_key():
    s = make()
    s.update_graph(C, [record("a"), record("b", deps=["a"])])
    finished(s, "a")
    s.release_keys(C, ["a"])  # only b holds it now
    erred(s, "b")  # b no longer needs it: a is forgotten
    assert s.tasks.get("a") is None
    assert s.retry(["b"]) == ["b"] and s.tasks["b"].state == ERRED
