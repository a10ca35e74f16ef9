"""A worker past 80 % of its memory limit pauses: no new task starts until memory is freed.

One real worker process with a small memory limit; a task allocates and keeps memory
(in a module global of the worker process) until the test frees it with ``client.run``.
"""
import os

import psutil
import pytest

from jupyter_futures import Client, LocalCluster, wait
from jupyter_futures.worker.server import PAUSE_FRACTION

from procs import wait_until

pytestmark = pytest.mark.timeout(90)

LIMIT = 500 * 2**20
HELD = []  # in the worker process: memory kept by ``hog``


def hog(limit):
    """Allocate (and keep) enough memory to bring this process to ~87 % of ``limit``: past the pause
    threshold (80 %), below the nanny's (95 %)."""
    rss = psutil.Process().memory_info().rss
    need = int(0.875 * limit) - rss
    if need > 0:
        HELD.append(b"\x01" * need)  # written, so resident
    return psutil.Process().memory_info().rss


def free_memory():
    HELD.clear()
    return psutil.Process().memory_info().rss


def touch(path):
    with open(path, "w"):
        pass
    return path


def payload(n):
    return b"\x02" * n


def worker_log(dask_worker=None):
    return [r["text"] for r in dask_worker.log_buffer.since()]


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=1, threads_per_worker=1, memory_limit=LIMIT) as cluster, Client(cluster) as c:
        yield c


def paused(client):
    [info] = client.scheduler_info()["workers"].values()
    return info["metrics"].get("paused")


def test_a_worker_over_its_pause_threshold_starts_no_task_until_memory_is_freed(client, tmp_path):
    stored = client.submit(payload, 200_000, pure=False)  # big enough to be fetched from the worker
    wait([stored])  # computed, not fetched yet
    rss = client.submit(hog, LIMIT, pure=False).result()
    assert PAUSE_FRACTION * LIMIT < rss < 0.95 * LIMIT
    assert wait_until(lambda: paused(client) is True), "the worker never reported itself paused"

    marker = tmp_path / "started"
    second = client.submit(touch, str(marker), pure=False)
    # A negative can only be watched for a while: a task would start within milliseconds.
    assert not wait_until(marker.exists, timeout=1.5), "a task started while the worker was paused"
    assert second.status == "pending"
    assert len(stored.result()) == 200_000  # its data is still served
    assert any("paused" in line for line in client.run(worker_log).popitem()[1])

    client.run(free_memory)
    assert second.result(timeout=30) == str(marker)
    assert wait_until(lambda: paused(client) is False)
    assert any("resumed" in line for line in client.run(worker_log).popitem()[1])


def test_without_a_memory_limit_a_worker_never_pauses():
    with LocalCluster(n_workers=1, threads_per_worker=1, memory_limit=0) as cluster, Client(cluster) as c:
        assert c.submit(os.getpid).result() > 0

        def metrics():
            [info] = c.scheduler_info()["workers"].values()
            return info["metrics"]
        assert wait_until(lambda: "paused" in metrics())
        assert metrics()["paused"] is False and metrics()["memory_limit"] == 0
