"""The worker's table of moves and its claims, driven directly (no sockets, no executor): every move the
table lists happens, a move it does not list raises with the key's story, events that come too late are
recorded, and a ready task is run by one thread or taken back by the loop, never both."""
import threading

import pytest

from jupyter_futures.protocol import messages
from jupyter_futures.protocol.story import STRICT_ENV, InvalidTransition
from jupyter_futures.worker.claims import Claims
from jupyter_futures.worker.state import (
    CANCELLED, ERRED, EXECUTING, MEMORY, NEW, READY, RELEASED, RESCHEDULED, STOLEN, TRANSITIONS, WAITING,
    WorkerState,
)
from jupyter_futures.worker.store import DataStore

ME = "tcp://me:1"
PEER = "tcp://peer:1"


def make():
    """A worker state machine whose every move is also listed in ``w.moves`` as (key, start, finish)."""
    w = WorkerState(ME, DataStore())
    w.moves = []
    real = w._move

    def move(task, finish, when=None):
        w.moves.append((task.key, task.state, finish))
        real(task, finish, when)
    w._move = move
    return w


def compute(w, key, deps=None):
    """The scheduler assigns ``key`` (inputs ``deps``: {key: holders}); returns its record."""
    w.compute(key, "tok", b"f", b"args", deps or {}, (0, len(w.tasks)), None)
    return w.tasks.get(key)


def run(w, task, ok=True, value=2, start=1.0, stop=2.0):
    """An executor thread claims, runs and finishes ``task``; then the loop applies its report."""
    assert w.claims.claim(task)
    stored = w.claims.finish(task, ok, value, 8)
    w.executed(task, ok, start, stop)
    return stored


# -- one scenario per move in the table: each returns the state machine and the key that made the move -----
def new_to_waiting():
    w = make()
    compute(w, "c", {"a": [PEER]})
    return w, "c"


def new_to_ready():
    w = make()
    compute(w, "a")
    return w, "a"


def new_to_released():
    w = make()
    compute(w, "c", {"a": [ME]})  # its only holder is this worker, which does not have it
    return w, "c"


def waiting_to_ready():
    w, _ = new_to_waiting()
    w.fetched(PEER, ["a"], {"a": (1, 8)})
    return w, "c"


def waiting_to_erred():
    w, _ = new_to_waiting()
    w.fetched(PEER, ["a"], {}, {"a": ("EXC", "TB")})
    return w, "c"


def waiting_to_released():
    w, _ = new_to_waiting()
    w.fetch_failed(PEER, ["a"])
    return w, "c"


def waiting_to_stolen():
    w, _ = new_to_waiting()
    w.steal(["c"])
    return w, "c"


def waiting_to_cancelled():
    w, _ = new_to_waiting()
    w.free(["c"])
    return w, "c"


def ready_to_executing():
    w = make()
    run(w, compute(w, "a"))
    return w, "a"


def ready_to_stolen():
    w = make()
    compute(w, "a")
    w.steal(["a"])
    return w, "a"


def ready_to_cancelled():
    w = make()
    compute(w, "a")
    w.free(["a"])
    return w, "a"


def executing_to_memory():
    return ready_to_executing()


def executing_to_erred():
    w = make()
    run(w, compute(w, "a"), ok=False, value=("EXC", "TB"))
    return w, "a"


def executing_to_cancelled():
    w = make()
    task = compute(w, "a")
    assert w.claims.claim(task)
    w.free(["a"])
    return w, "a"


def executing_to_rescheduled():
    w = make()
    task = compute(w, "a")
    assert w.claims.claim(task)
    assert w.claims.finish(task, None, None, 0)  # it raised Reschedule: nothing is stored
    w.rescheduled(task, 1.0, 2.0)
    assert "a" not in w.tasks and "a" not in w.data
    return w, "a"


SCENARIOS = {
    (NEW, WAITING): new_to_waiting,
    (NEW, READY): new_to_ready,
    (NEW, RELEASED): new_to_released,
    (WAITING, READY): waiting_to_ready,
    (WAITING, ERRED): waiting_to_erred,
    (WAITING, RELEASED): waiting_to_released,
    (WAITING, STOLEN): waiting_to_stolen,
    (WAITING, CANCELLED): waiting_to_cancelled,
    (READY, EXECUTING): ready_to_executing,
    (READY, STOLEN): ready_to_stolen,
    (READY, CANCELLED): ready_to_cancelled,
    (EXECUTING, MEMORY): executing_to_memory,
    (EXECUTING, ERRED): executing_to_erred,
    (EXECUTING, CANCELLED): executing_to_cancelled,
    (EXECUTING, RESCHEDULED): executing_to_rescheduled,
}


def test_there_is_one_scenario_per_move_in_the_table():
    assert set(SCENARIOS) == set(TRANSITIONS)


@pytest.mark.parametrize("move", list(SCENARIOS), ids=[f"{a}->{b}" for a, b in SCENARIOS])
def test_every_move_in_the_table_happens(move):
    w, key = SCENARIOS[move]()
    assert (key, *move) in w.moves, [m for m in w.moves if m[0] == key]


def test_a_run_is_in_the_story_with_the_threads_own_clock():
    w, _ = ready_to_executing()
    assert [r[1:] for r in w.story.of(["a"])][1:] == [
        ("executed", "ready", "executing", 1.0), ("executed", "executing", "memory", 2.0)]
    assert w.story.of(["a"])[0][1:4] == ("compute", "new", "ready")


def test_a_move_the_table_does_not_list_raises_with_the_keys_story(monkeypatch):
    monkeypatch.setenv(STRICT_ENV, "1")
    w = make()
    task = compute(w, "a")
    with pytest.raises(InvalidTransition) as raised:
        w._move(task, MEMORY)
    assert "worker task 'a': ready -> memory" in str(raised.value)
    assert "compute: new -> ready" in str(raised.value)


def test_a_second_compute_of_a_task_here_is_recorded_and_changes_nothing():
    w = make()
    task = compute(w, "a")
    assert w.compute("a", "tok", b"f", b"args", {}, (0, 9), None) == []
    assert w.tasks["a"] is task and task.state == READY
    assert w.story.of(["a"])[-1][1] == "compute ignored: it is here already"


def test_a_compute_of_a_value_held_here_is_answered_at_once_and_recorded():
    w = make()
    w.data.put("a", 5, 28)
    assert w.compute("a", "tok", b"f", b"args", {}, (0, 1), None) == [
        ("send", messages.finished("a", 28, "int", None, 0.0, 0.0, []))]
    assert "a" not in w.tasks and "held here" not in w.story.of(["a"])[-1][1]
    assert w.story.of(["a"])[-1][1].startswith("compute ignored: its value is here already")


def test_the_loop_learns_of_a_claim_when_a_steal_asks_and_refuses_the_steal():
    w = make()
    task = compute(w, "a")
    assert w.claims.claim(task)
    assert w.steal(["a"]) == [("send", messages.steal_response([("a", False)]))]
    assert task.state == EXECUTING and w.tasks["a"] is task
    assert [r[1:4] for r in w.story.of(["a"])][-2:] == [
        ("steal", "ready", "executing"), ("steal ignored: a thread has claimed it", "executing", "executing")]


def test_a_task_freed_while_it_runs_keeps_its_record_until_its_thread_reports():
    w = make()
    task = compute(w, "a")
    assert w.claims.claim(task)
    w.free(["a"])
    w.free(["a"])  # a second free changes nothing
    assert w.tasks["a"] is task and task.state == CANCELLED
    assert not w.claims.finish(task, True, 1, 8)  # its result is dropped
    w.executed(task, True, 1.0, 2.0)
    assert "a" not in w.tasks and "a" not in w.data and task.state == CANCELLED


def test_an_input_outlives_a_task_freed_between_its_finish_and_its_report():
    """``c1`` finished in its thread (value stored), then was freed before the loop heard: its input
    ``a``, which ``c2`` still needs, is released once, not twice."""
    w = make()
    compute(w, "c1", {"a": [PEER]})
    compute(w, "c2", {"a": [PEER]})
    w.fetched(PEER, ["a"], {"a": (1, 8)})
    c1, c2 = w.tasks["c1"], w.tasks["c2"]
    assert w.claims.claim(c1) and w.claims.finish(c1, True, 2, 8)
    w.free(["c1"])
    assert c1.state == CANCELLED and "c1" not in w.data
    w.executed(c1, True, 1.0, 2.0)
    assert w.copied == {"a": 1} and w.data["a"] == 1
    run(w, c2)
    assert "a" not in w.data and not w.copied


def test_the_three_ways_a_task_leaves_waiting_each_clear_its_waits():
    """Stolen, given back for a missing input, failed on an undecodable input: none stays in waiting_for."""
    for leave in (waiting_to_stolen, waiting_to_released, waiting_to_erred):
        w, key = leave()
        assert key not in w.tasks and not any(w.waiting_for.values()) and not w.copied, leave.__name__


# -- Claims: where the loop and the executor threads meet --------------------------------------------------
class Task:
    def __init__(self, key):
        self.key = key


def test_a_thread_claims_an_offered_task_once():
    claims = Claims(DataStore())
    task = Task("a")
    assert not claims.claim(task)  # not offered
    claims.offer(task)
    assert claims.claim(task) and not claims.claim(task)
    assert claims.running(task)


def test_a_task_the_loop_takes_back_before_any_thread_claims_it_never_runs():
    claims = Claims(DataStore())
    stolen, freed = Task("s"), Task("f")
    claims.offer(stolen)
    claims.offer(freed)
    assert claims.withdraw(stolen) and claims.cancel(freed)
    assert not claims.claim(stolen) and not claims.claim(freed)


def test_a_claimed_task_cannot_be_withdrawn_and_its_value_is_stored():
    data = DataStore()
    claims = Claims(data)
    task = Task("a")
    claims.offer(task)
    assert claims.claim(task)
    assert not claims.withdraw(task)
    assert claims.finish(task, True, 42, 8)
    assert data["a"] == 42 and not claims.running(task)


def test_a_task_cancelled_while_it_runs_has_its_value_dropped():
    data = DataStore()
    claims = Claims(data)
    task = Task("a")
    claims.offer(task)
    assert claims.claim(task)
    assert not claims.cancel(task)  # it runs: too late to take back
    assert not claims.running(task)
    assert not claims.finish(task, True, 42, 8)
    assert "a" not in data


def test_an_error_is_finished_without_storing_anything():
    data = DataStore()
    claims = Claims(data)
    task = Task("a")
    claims.offer(task)
    assert claims.claim(task) and claims.finish(task, False, ("EXC", "TB"), 0)
    assert "a" not in data


def test_threads_and_the_loop_racing_for_tasks_each_get_a_task_or_neither_does():
    claims = Claims(DataStore())
    tasks = [Task(f"t{i}") for i in range(2000)]
    for task in tasks:
        claims.offer(task)
    claimed: list[list] = [[] for _ in range(3)]
    start = threading.Barrier(4)

    def thread(mine):
        start.wait()
        for task in tasks:
            if claims.claim(task):
                mine.append(task)

    threads = [threading.Thread(target=thread, args=(c,)) for c in claimed]
    for t in threads:
        t.start()
    start.wait()
    withdrawn = [task for task in reversed(tasks) if claims.withdraw(task)]
    for t in threads:
        t.join()
    runs = [task for mine in claimed for task in mine]
    assert len(runs) == len(set(map(id, runs)))  # no task ran twice
    assert sorted(map(id, runs + withdrawn)) == sorted(map(id, tasks))  # each ran or was taken back


def test_a_task_sent_again_before_the_loop_heard_its_thread_finish_runs_again():
    """A retry: the thread sent ``erred`` and the scheduler sent the task back before the thread's report
    reached the loop. The second ``compute`` makes a new record (it is not a duplicate); the old one's
    report then ends only the old one."""
    w = make()
    old = compute(w, "a")
    assert w.claims.claim(old) and w.claims.finish(old, False, ("EXC", "TB"), 0)
    out = w.compute("a", "tok", b"f", b"args", {}, (0, 9), None)
    assert [i[0] for i in out] == ["execute"] and out[0][1] is not old
    new = w.tasks["a"]
    assert old.state == EXECUTING and new.state == READY
    w.executed(old, False, 1.0, 2.0)
    assert w.tasks["a"] is new and old.state == ERRED
    assert run(w, new) and w.data["a"] == 2


def test_a_second_compute_while_a_thread_runs_the_task_is_a_duplicate():
    w = make()
    task = compute(w, "a")
    assert w.claims.claim(task)
    assert w.compute("a", "tok", b"f", b"args", {}, (0, 9), None) == []
    assert w.tasks["a"] is task
