"""What ran and what runs: ``with get_task_stream() as ts`` (the tasks of a block, as dask's) and ``call_stack``."""
import pytest


def inc(x):
    return x + 1


def test_get_task_stream_collects_the_tasks_of_its_block(client):
    from jupyter_futures import get_task_stream

    client.submit(inc, 0, pure=False).result()  # before the block: not in it
    with get_task_stream() as ts:
        futures = client.map(inc, range(5), pure=False)
        client.gather(futures)
    assert {r["key"] for r in ts.data} == {f.key for f in futures}
    assert all(r["status"] == "finished" and r["start"] <= r["stop"] and r["worker"] for r in ts.data)
    with pytest.raises(ValueError, match="drawn by the dashboard"):
        get_task_stream(plot="save")


def test_call_stack_shows_what_a_running_task_is_doing(client, tmp_path):
    from procs import TIMEOUT, Gate, blocked, wait_until

    gate = Gate(tmp_path / "gate")
    future = client.submit(blocked, gate.started, gate.path, 1, pure=False)
    gate.wait_started()
    stacks = client.call_stack([future])
    ((worker, by_key),) = stacks.items()
    assert list(by_key) == [future.key]
    assert any("in blocked" in line for line in by_key[future.key])
    assert client.call_stack(keys=["no-such-key"]) == {}
    gate.open()
    assert future.result(timeout=TIMEOUT) == 1
    assert wait_until(lambda: client.call_stack() == {})
