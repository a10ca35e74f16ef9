"""Adaptive scaling: the target from the scheduler's numbers, and the steps it takes (socket-free),
and a real cluster that keeps the worker holding data."""
from __future__ import annotations

import asyncio

import pytest

from jupyter_futures import Client, LocalCluster
from jupyter_futures.cluster.adaptive import SCALE_DOWN_AFTER, Adaptive, adaptive_target, check_bounds

from procs import wait_until


def test_the_target_is_one_thread_per_unfinished_task_within_the_bounds():
    assert adaptive_target({"processing": 3, "queued": 4, "memory": 100}, 2, 1, 10) == 4
    assert adaptive_target({}, 1, 1, 10) == 1
    assert adaptive_target({"waiting": 50}, 1, 0, 3) == 3


def test_workers_holding_data_are_never_scaled_away():
    assert adaptive_target({}, 1, 0, 4, holding_data=2) == 2
    assert adaptive_target({}, 1, 0, 1, holding_data=2) == 1  # the maximum still wins


def test_bad_bounds_say_what_is_wrong():
    with pytest.raises(ValueError, match="minimum is above maximum"):
        check_bounds(3, 1)
    with pytest.raises(ValueError, match="whole number"):
        check_bounds(-1, 2)


def identity(tasks: dict, holding_pids=()) -> dict:
    workers = {f"w{pid}": {"pid": pid, "in_memory": 1 if pid in holding_pids else 0} for pid in (1, 2, 3)}
    return {"tasks": tasks, "workers": workers}


def test_it_scales_up_at_once_and_down_only_after_checks_that_agree():
    async def scenario():
        state = {"identity": identity({"processing": 3}), "workers": 1, "calls": []}

        async def ident():
            return state["identity"]

        async def scale(n, keep):
            state["calls"].append((n, keep))
            state["workers"] = n

        adaptive = Adaptive(0, 4, 1, ident, lambda: state["workers"], scale)
        adaptive.stop()  # steps are driven by hand here
        await adaptive.step()
        assert state["calls"] == [(3, frozenset())]
        state["identity"] = identity({}, holding_pids=(2,))
        for _ in range(SCALE_DOWN_AFTER - 1):
            await adaptive.step()
        assert len(state["calls"]) == 1
        await adaptive.step()
        assert state["calls"][-1] == (1, frozenset({2}))  # one worker stays: it holds data, and it is kept
    asyncio.run(scenario())


def test_a_real_cluster_scaling_down_stops_the_idle_worker_and_keeps_the_data():
    with LocalCluster(n_workers=2, memory_limit=None) as cluster, Client(cluster, set_as_default=False) as client:
        workers = client.scheduler_info()["workers"]
        holder = sorted(workers)[-1]
        data = client.scatter([123], workers=[holder])[0]
        holder_pid = workers[holder]["pid"]
        cluster.adapt(minimum=0, maximum=2)
        assert wait_until(lambda: len(client.scheduler_info()["workers"]) == 1)
        (left,) = client.scheduler_info()["workers"].values()
        assert left["pid"] == holder_pid
        assert data.result() == 123
