"""``Reschedule``: a task that raises it is not erred but run again, on another worker when possible."""
import os

from jupyter_futures import Client, Reschedule, get_worker
from jupyter_futures.protocol import messages
from jupyter_futures.scheduler.state import PROCESSING, SchedulerState
from jupyter_futures.worker.state import CANCELLED, WorkerState
from jupyter_futures.worker.store import DataStore
from procs import TIMEOUT

C = "client-a"


def once_here(marker):
    """Reschedules itself the first time (writing where); afterwards returns (first worker, this worker)."""
    here = get_worker().address
    if not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write(here)
        raise Reschedule()
    with open(marker) as f:
        return f.read(), here


# -- on a cluster -----------------------------------------------------------------------------------------
def test_a_task_that_raises_reschedule_runs_again_on_another_worker(client, tmp_path):
    future = client.submit(once_here, str(tmp_path / "m"), pure=False)
    first, second = future.result(timeout=TIMEOUT)
    assert first != second and future.status == "finished"
    stimuli = [r[1] for r in client.story(future) if r[5] == "scheduler"]
    assert "task-rescheduled" in stimuli and not any("erred" in s for s in stimuli)


def test_with_one_worker_a_rescheduled_task_runs_again_on_it(tmp_path):
    with Client(n_workers=1, threads_per_worker=1) as c:
        first, second = c.submit(once_here, str(tmp_path / "m"), pure=False).result(timeout=TIMEOUT)
        assert first == second


def test_reschedule_is_importable_from_the_package():
    import jupyter_futures

    assert issubclass(jupyter_futures.Reschedule, Exception)


# -- the scheduler's state machine ------------------------------------------------------------------------
def scheduler(workers=("w1", "w2")):
    s = SchedulerState()
    for w in workers:
        s.add_worker(w, 1)
    s.take_outgoing()
    return s


def computes(out):
    key = messages.fields(messages.COMPUTE).index("key") + 1
    return {m[key]: addr for addr, msgs in out.items() for m in msgs if m[0] == messages.COMPUTE}


def test_a_rescheduled_task_is_placed_on_another_worker():
    s = scheduler()
    s.update_graph(C, [("t", "tok", b"f", b"a", (), None)])
    first = s.tasks["t"].processing_on.address
    s.take_outgoing()
    s.task_rescheduled(first, "t")
    ts = s.tasks["t"]
    assert ts.state == PROCESSING and ts.processing_on.address != first
    assert computes(s.take_outgoing()) == {"t": ts.processing_on.address}
    assert [r[1:4] for r in s.story.of(["t"])][-2:] == [("task-rescheduled", "processing", "released"),
                                                       ("task-rescheduled", "released", "processing")]


def test_a_rescheduled_task_only_one_worker_may_run_goes_back_to_it():
    s = scheduler()
    s.update_graph(C, [("t", "tok", b"f", b"a", (), {"workers": ["w1"]})])
    s.take_outgoing()
    s.task_rescheduled("w1", "t")
    assert s.tasks["t"].processing_on.address == "w1"
    assert computes(s.take_outgoing()) == {"t": "w1"}


def test_a_reschedule_from_a_worker_not_running_the_task_is_recorded_and_ignored():
    s = scheduler()
    s.update_graph(C, [("t", "tok", b"f", b"a", (), None)])
    here = s.tasks["t"].processing_on.address
    other = "w2" if here == "w1" else "w1"
    s.task_rescheduled(other, "t")
    s.task_rescheduled(here, "gone")
    assert s.tasks["t"].processing_on.address == here
    assert any(r[0] == "t" and "ignored" in r[1] for r in s.story.records)
    assert any(r[0] == "gone" and "ignored" in r[1] for r in s.story.records)


# -- the worker's state machine ---------------------------------------------------------------------------
def test_a_task_freed_while_it_ran_and_then_rescheduled_is_only_dropped():
    w = WorkerState("tcp://me:1", DataStore())
    w.compute("a", "tok", b"f", b"args", {}, (0, 0), None)
    task = w.tasks["a"]
    assert w.claims.claim(task)
    w.free(["a"])
    assert task.state == CANCELLED
    assert not w.claims.finish(task, None, None, 0)
    w.rescheduled(task, 1.0, 2.0)
    assert "a" not in w.tasks and [r[2:4] for r in w.story.of(["a"])][-1] == ("executing", "cancelled")
