"""``with get_task_stream() as ts``: the records of the tasks that ran inside the block, as dask's."""
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
