"""A key's story across processes: the scheduler's ``story`` RPC merges its own records with every
worker's, oldest first."""
from jupyter_futures import Client
from procs import wait_until


def inc(x):
    return x + 1


def story_rpc(keys, dask_scheduler):
    """On the scheduler: what its ``story`` RPC answers (a coroutine; run_on_scheduler awaits it)."""
    return dask_scheduler._rpc_story(None, keys)


def test_a_keys_story_has_the_schedulers_moves_then_its_workers(client: Client):
    future = client.submit(inc, 1, pure=False)
    assert future.result() == 2
    worker = client.who_has([future])[future.key][0]

    def records_with_the_workers_last_move():
        # The worker's thread sends the result itself; its loop records the run's moves a moment later.
        got = client.run_on_scheduler(story_rpc, [future.key])
        return got if any(r[3] == "memory" and r[5] == worker for r in got) else None
    assert wait_until(records_with_the_workers_last_move)
    records = records_with_the_workers_last_move()
    assert all(r[0] == future.key for r in records)
    assert [r[4] for r in records] == sorted(r[4] for r in records)
    moves = [(r[1], r[2], r[3], r[5]) for r in records if r[2] != r[3]]
    assert ("update-graph", "released", "processing", "scheduler") in moves  # a root task is placed at once
    assert ("task-finished", "processing", "memory", "scheduler") in moves
    # ready -> executing is heard from the thread's report, or from the running tick if it ran long
    assert [m[1:3] for m in moves if m[3] == worker] == [("new", "ready"), ("ready", "executing"),
                                                         ("executing", "memory")]
    assert [m[0] for m in moves if m[3] == worker][::2] == ["compute", "executed"]


def test_the_story_of_an_unknown_key_is_empty(client: Client):
    assert client.run_on_scheduler(story_rpc, ["no-such-key"]) == []
