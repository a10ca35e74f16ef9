"""The scheduler's state machine, driven directly: no sockets, no processes."""
from types import SimpleNamespace

import pytest

from jupyter_futures.protocol import messages
from jupyter_futures.protocol.errors import KilledWorker, LostDependency
from jupyter_futures.scheduler.state import ALLOWED_FAILURES, FIRE_AND_FORGET, SchedulerState

C = "client-a"


def record(key, deps=(), options=None):
    return (key, "tok", b"func", b"args", tuple(deps), options)


def sent(out, recipient, op):
    return [m for m in out.get(recipient, []) if m[0] == op]


def named(msg):
    """A message's fields by name (protocol/messages.py)."""
    return SimpleNamespace(**dict(zip(messages.fields(msg[0]), msg[1:])))


def computes(out):
    return {named(m).key: addr for addr, msgs in out.items() for m in msgs if m[0] == messages.COMPUTE}


def make(workers=("w1", "w2"), nthreads=1):
    s = SchedulerState()
    for w in workers:
        s.add_worker(w, nthreads)
    s.take_outgoing()
    return s


def test_root_task_goes_to_a_worker_and_finishes():
    s = make()
    s.update_graph(C, [record("a")])
    out = s.take_outgoing()
    assert list(computes(out)) == ["a"]
    worker = computes(out)["a"]
    assert s.tasks["a"].state == "processing"
    s.task_started(worker, "a")
    assert sent(s.take_outgoing(), C, messages.TASK_RUNNING) == [messages.task_running("a", worker)]
    s.task_finished(worker, "a", 8, "int", b"small", 0.0, 0.001)
    out = s.take_outgoing()
    assert sent(out, C, messages.TASK_FINISHED) == [
        messages.task_finished("a", "int", 8, [worker], b"small", 0.0, 0.001)]
    assert s.tasks["a"].state == "memory"
    assert s.who_has(["a"]) == {"a": [worker]}


def test_dependent_waits_then_runs_where_its_input_is():
    s = make()
    s.update_graph(C, [record("a"), record("b", deps=["a"])])
    out = s.take_outgoing()
    assert "b" not in computes(out)
    assert s.tasks["b"].state == "waiting"
    wa = computes(out)["a"]
    s.task_finished(wa, "a", 10_000_000, "ndarray", None, 0, 0.1)
    out = s.take_outgoing()
    assert computes(out) == {"b": wa}  # 10 MB already there: no transfer
    compute = named(sent(out, wa, messages.COMPUTE)[0])
    assert compute.deps == {"a": [wa]}  # the worker is told where the input lives


def test_tasks_spread_over_idle_workers():
    s = make()
    s.update_graph(C, [record("a"), record("b")])
    assert sorted(computes(s.take_outgoing()).values()) == ["w1", "w2"]


def test_root_tasks_queue_past_worker_capacity_and_fill_as_work_finishes():
    s = make(workers=("w1",))
    ws = s.workers["w1"]
    keys = [f"t{i}" for i in range(ws.capacity + 5)]
    s.update_graph(C, [record(k) for k in keys])
    assert len(computes(s.take_outgoing())) == ws.capacity
    assert sum(1 for k in keys if s.tasks[k].state == "queued") == 5
    first = next(iter(ws.processing)).key
    s.task_finished("w1", first, 1, "int", b"", 0, 0.5)
    assert len(computes(s.take_outgoing())) >= 1


def test_error_propagates_to_dependents():
    s = make()
    s.update_graph(C, [record("a"), record("b", deps=["a"]), record("c", deps=["b"])])
    wa = computes(s.take_outgoing())["a"]
    s.task_erred(wa, "a", "EXC", [("f.py", 1, "f", "")], 0, 0)
    out = s.take_outgoing()
    erred = [named(m) for m in sent(out, C, messages.TASK_ERRED)]
    assert {m.key for m in erred} == {"a", "b", "c"}
    assert all(m.exception == "EXC" for m in erred)


def test_retries_rerun_a_failed_task():
    s = make()
    s.update_graph(C, [record("a", options={"retries": 1})])
    wa = computes(s.take_outgoing())["a"]
    s.task_erred(wa, "a", "EXC", None, 0, 0)
    assert "a" in computes(s.take_outgoing())
    assert s.tasks["a"].state == "processing"


def test_releasing_last_reference_frees_data_on_workers():
    s = make()
    s.update_graph(C, [record("a")])
    wa = computes(s.take_outgoing())["a"]
    s.task_finished(wa, "a", 8, "int", None, 0, 0)
    s.take_outgoing()
    s.release_keys(C, ["a"])
    out = s.take_outgoing()
    assert messages.free(["a"]) in out[wa]
    assert "a" not in s.tasks


def test_input_kept_while_a_dependent_needs_it():
    s = make()
    s.update_graph(C, [record("a"), record("b", deps=["a"])])
    wa = computes(s.take_outgoing())["a"]
    s.release_keys(C, ["a"])
    assert "a" in s.tasks  # b still needs it
    s.task_finished(wa, "a", 8, "int", None, 0, 0)
    wb = computes(s.take_outgoing())["b"]
    s.task_finished(wb, "b", 8, "int", None, 0, 0)
    out = s.take_outgoing()
    assert "a" not in s.tasks
    assert messages.free(["a"]) in out[wa]


def test_fire_and_forget_keeps_task_until_done():
    s = make()
    s.update_graph(C, [record("a")])
    wa = computes(s.take_outgoing())["a"]
    s.fire_and_forget(["a"])
    s.release_keys(C, ["a"])
    assert s.tasks["a"].who_wants == {FIRE_AND_FORGET}
    s.task_finished(wa, "a", 8, "int", None, 0, 0)
    assert "a" not in s.tasks


def test_worker_death_reruns_its_tasks_elsewhere():
    s = make()
    s.update_graph(C, [record("a")])
    wa = computes(s.take_outgoing())["a"]
    s.task_started(wa, "a")
    s.remove_worker(wa)
    out = s.take_outgoing()
    other = "w2" if wa == "w1" else "w1"
    assert computes(out) == {"a": other}
    assert s.tasks["a"].suspicious == 1


def test_task_that_kills_three_workers_fails_with_killed_worker():
    s = make(workers=("w1",))
    s.update_graph(C, [record("a")])
    for i in range(ALLOWED_FAILURES):
        worker = f"w{i + 1}"
        assert computes(s.take_outgoing()) == {"a": worker}
        s.task_started(worker, "a")
        s.remove_worker(worker)
        s.add_worker(f"w{i + 2}", 1)
    out = s.take_outgoing()
    erred = [named(m) for m in sent(out, C, messages.TASK_ERRED)]
    assert len(erred) == 1 and isinstance(erred[0].exception, KilledWorker)
    assert "'a'" in str(erred[0].exception)


def test_lost_data_is_recomputed_for_waiting_dependents():
    s = make()
    s.update_graph(C, [record("a")])
    wa = computes(s.take_outgoing())["a"]
    s.task_finished(wa, "a", 8, "int", None, 0, 0)
    s.take_outgoing()
    s.remove_worker(wa)
    out = s.take_outgoing()
    assert "a" in computes(out)


def test_scattered_data_on_dead_worker_is_lost():
    s = make()
    s.update_data(C, "w1", {"x": (8, "int")})
    s.update_graph(C, [record("b", deps=["x"])])
    s.take_outgoing()
    s.remove_worker("w1")
    out = s.take_outgoing()
    assert messages.task_lost("x") in out[C]
    erred = [named(m) for m in sent(out, C, messages.TASK_ERRED)]
    assert erred and isinstance(erred[0].exception, LostDependency)


def test_data_a_client_found_missing_on_its_only_holder_is_recomputed_or_lost_never_waited_for():
    s = make()
    s.update_data(C, "w1", {"x": (8, "int")})
    s.update_graph(C, [record("a")])
    wa = computes(s.take_outgoing())["a"]
    s.task_finished(wa, "a", 8, "int", None, 0.0, 0.1)
    s.take_outgoing()
    s.data_missing("w2" if wa == "w1" else "w1", ["a"])  # not listed there: changes nothing
    assert s.tasks["a"].state == "memory"
    s.data_missing(wa, ["a"])
    assert "a" in computes(s.take_outgoing())  # a task's result is computed again
    s.data_missing("w1", ["x"])
    assert messages.task_lost("x") in s.take_outgoing()[C]  # scattered data cannot be: the client hears so
    assert s.tasks["x"].state == "lost"


def test_nbytes_counts_values_in_memory_by_key_or_summed_by_prefix():
    s = make()
    s.update_data(C, "w1", {"inc-1": (8, "int"), "inc-2": (16, "int"), "data-x": (100, "bytes")})
    s.update_graph(C, [record("inc-3")])  # not in memory: not counted
    assert s.nbytes() == {"inc": 24, "data-x": 100}  # dask's key_split: "inc-1" counts under "inc"
    assert s.nbytes(["inc-1", "data-x", "no-such-key"], summary=False) == {"inc-1": 8, "data-x": 100}


def test_workers_are_named_by_address_or_name_and_an_unknown_one_is_refused_naming_them_all():
    s = SchedulerState()
    s.add_worker("tcp://a:1", 1, name="alice")
    s.add_worker("tcp://b:1", 1)
    assert s.worker_addresses(["alice", "tcp://b:1", "tcp://a:1"]) == ["tcp://a:1", "tcp://b:1"]
    with pytest.raises(ValueError, match=r"no such workers: \['bob'\]; the workers now are \['tcp://a:1', 'tcp://b:1'\]"):
        s.worker_addresses(["bob"])


def test_no_worker_then_worker_arrives():
    s = SchedulerState()
    s.update_graph(C, [record("a")])
    assert s.tasks["a"].state == "no-worker"
    s.add_worker("w1", 1)
    assert computes(s.take_outgoing()) == {"a": "w1"}


def test_restrictions_and_allow_other_workers():
    s = make()
    s.update_graph(C, [record("a", options={"workers": ["w2"]})])
    assert computes(s.take_outgoing()) == {"a": "w2"}
    s.update_graph(C, [record("b", options={"workers": ["nope"]})])
    assert s.tasks["b"].state == "no-worker"
    s.update_graph(C, [record("c", options={"workers": ["nope"], "allow_other_workers": True})])
    assert "c" in computes(s.take_outgoing())


def test_cancel_cancels_dependents_for_every_client():
    s = make()
    s.update_graph(C, [record("a"), record("b", deps=["a"])])
    s.update_graph("client-b", [record("a")])
    wa = computes(s.take_outgoing())["a"]
    s.cancel(["a"])
    out = s.take_outgoing()
    assert {named(m).key for m in sent(out, C, messages.TASK_CANCELLED)} == {"a", "b"}
    assert messages.task_cancelled("a", False) in out["client-b"]
    assert messages.free(["a"]) in out[wa]
    assert not s.tasks


def test_equal_keys_run_once_and_late_client_learns_result():
    s = make()
    s.update_graph(C, [record("a")])
    wa = computes(s.take_outgoing())["a"]
    s.task_finished(wa, "a", 8, "int", b"v", 0, 0)
    s.take_outgoing()
    s.update_graph("client-b", [record("a")])
    out = s.take_outgoing()
    assert not computes(out)
    assert named(sent(out, "client-b", messages.TASK_FINISHED)[0]).small == b"v"


def test_client_disconnect_releases_its_keys():
    s = make()
    s.update_graph(C, [record("a")])
    wa = computes(s.take_outgoing())["a"]
    s.task_finished(wa, "a", 8, "int", None, 0, 0)
    s.remove_client(C)
    assert "a" not in s.tasks


def test_idle_worker_steals_tasks_not_started_from_a_busy_one():
    s = make()
    s.update_graph(C, [record("long")])
    busy = computes(s.take_outgoing())["long"]
    idle = "w2" if busy == "w1" else "w1"
    s.task_started(busy, "long")
    s.workers[idle].avg_duration = s.workers[busy].avg_duration = 1e-4  # fast tasks: deep worker buffers
    s.update_graph(C, [record(f"short{i}") for i in range(20)])
    assigned = computes(s.take_outgoing())
    on_busy = [k for k, w in assigned.items() if w == busy]
    assert on_busy, "some short tasks were buffered behind the long one"
    for key in [k for k, w in assigned.items() if w == idle]:  # the idle worker finishes its share
        s.task_finished(idle, key, 8, "int", None, 0, 1e-4)
    steal = sent(s.take_outgoing(), busy, messages.STEAL)
    assert steal
    stolen = named(steal[0]).keys
    assert set(stolen) <= set(on_busy)
    s.steal_response(busy, [(k, True) for k in stolen])
    moved = computes(s.take_outgoing())
    assert set(moved) == set(stolen) and set(moved.values()) == {idle}
    assert all(s.tasks[k].processing_on.address == idle for k in moved)


def test_refused_steal_leaves_task_where_it_runs():
    s = make()
    s.update_graph(C, [record("a"), record("b")])
    s.take_outgoing()
    ts = s.tasks["a"]
    victim = ts.processing_on
    thief = next(w for w in s.workers.values() if w is not victim)
    ts.stealing = thief
    thief.stealing_in = 1
    s.steal_response(victim.address, [("a", False)])
    assert ts.processing_on is victim and ts.stealing is None and thief.stealing_in == 0


def test_a_client_asking_for_a_finished_key_hears_when_it_ran_not_when_it_asked():
    s = make()
    s.update_graph(C, [record("a")])
    worker = computes(s.take_outgoing())["a"]
    s.task_finished(worker, "a", 8, "int", b"v", 100.0, 101.5)
    s.take_outgoing()
    s.add_client("client-b")
    s.update_graph("client-b", [record("a")])
    (msg,) = sent(s.take_outgoing(), "client-b", messages.TASK_FINISHED)
    assert (named(msg).start, named(msg).stop) == (100.0, 101.5)


def test_an_erred_task_reports_its_run_and_its_dependents_report_none():
    s = make()
    s.update_graph(C, [record("a"), record("b", deps=["a"])])
    worker = computes(s.take_outgoing())["a"]
    s.task_erred(worker, "a", "EXC", "TB", 5.0, 6.0)
    erred = {named(m).key: named(m) for m in sent(s.take_outgoing(), C, messages.TASK_ERRED)}
    assert (erred["a"].worker, erred["a"].start, erred["a"].stop) == (worker, 5.0, 6.0)
    assert (erred["b"].worker, erred["b"].start, erred["b"].stop) == (None, None, None)


def in_memory_on(s, worker, key, nbytes=100):
    """``key`` computed on ``worker``, its value held there."""
    s.update_graph(C, [record(key, options={"workers": [worker]})])
    s.take_outgoing()
    s.task_finished(worker, key, nbytes, "bytes", None, 0.0, 0.1)
    s.take_outgoing()


def test_a_copy_a_worker_made_on_request_is_listed_and_one_of_a_forgotten_key_is_freed():
    s = make()
    in_memory_on(s, "w1", "a")
    s.replicas_added("w2", ["a", "gone"])
    assert sorted(s.who_has(["a"])["a"]) == ["w1", "w2"]
    assert s.workers["w2"].nbytes == 100
    assert sent(s.take_outgoing(), "w2", messages.FREE) == [messages.free(["gone"])]


def test_dropping_copies_keeps_the_last_one_and_one_a_task_there_reads():
    s = make()
    in_memory_on(s, "w1", "a")
    in_memory_on(s, "w1", "b")
    s.replicas_added("w2", ["a", "b"])
    s.update_graph(C, [record("c", deps=["b"], options={"workers": ["w2"]})])
    assert computes(s.take_outgoing()) == {"c": "w2"}
    assert s.replicas_dropped("w2", ["a", "b"]) == ["a"]  # c, processing on w2, reads b there
    assert sent(s.take_outgoing(), "w2", messages.FREE) == [messages.free(["a"])]
    assert s.replicas_dropped("w1", ["a"]) == []  # the last copy of a
    assert s.who_has(["a"]) == {"a": ["w1"]}
    assert sorted(s.who_has(["b"])["b"]) == ["w1", "w2"]
    assert s.tasks["a"].state == "memory" and s.workers["w2"].nbytes == 100


def test_rebalance_plans_moves_from_the_worker_above_the_mean_to_the_one_below():
    from jupyter_futures.scheduler.replicas import rebalance_plan

    s = make(("w1", "w2", "w3"))
    for i in range(6):
        in_memory_on(s, "w1", f"x{i}")
    moves = rebalance_plan(s, None, ["w1", "w2", "w3"])
    assert sorted(r for _, r, _ in moves) == ["w2", "w2", "w3", "w3"]
    assert all(sender == "w1" for sender, _, _ in moves)
    assert len({key for _, _, key in moves}) == 4
    assert rebalance_plan(s, ["x0"], ["w1", "w2"]) == [("w1", "w2", "x0")]  # only the keys allowed


def test_retiring_plans_copies_of_only_what_the_retiring_worker_alone_holds():
    from jupyter_futures.scheduler.replicas import retire_plan, sole_keys

    s = make(("w1", "w2", "w3"))
    in_memory_on(s, "w1", "alone")
    in_memory_on(s, "w1", "shared")
    s.replicas_added("w2", ["shared"])
    assert sole_keys(s, ["w1"]) == ["alone"]
    plan = retire_plan(s, ["w1"])
    assert [list(keys) for keys in plan.values()] == [["alone"]]
    assert list(plan.values())[0]["alone"] == ["w1"]
    assert "w1" not in plan
    assert retire_plan(s, ["w1", "w2", "w3"]) == {}  # nowhere to go
