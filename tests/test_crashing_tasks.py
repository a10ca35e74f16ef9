"""Tasks that kill their worker process: each ends as KilledWorker naming why the worker died, and the
cluster keeps its workers. A worker that cannot start at all is given up, with its error in the log.

Every test runs its own small cluster (2 workers x 1 thread) with real crashes: a segfault, an exit,
memory past the limit.
"""
import asyncio
import ctypes
import logging
import os
import socket
import threading

import psutil
import pytest

from jupyter_futures import Client, KilledWorker, LocalCluster
from jupyter_futures.worker.nanny import MAX_START_FAILURES, Nanny
from procs import TIMEOUT

pytestmark = pytest.mark.timeout(180)

LIMIT = 200 * 2**20


def inc(x):
    return x + 1


def segfault(i):
    ctypes.string_at(0)  # reads address 0: SIGSEGV


def exit_3(i):
    os._exit(3)


def hog(i):
    """Take memory (written, so resident) past the limit, then hold it until the nanny kills this process."""
    held = []
    while psutil.Process().memory_info().rss < LIMIT:
        held.append(b"\x01" * 2**20)
    threading.Event().wait(TIMEOUT)  # the nanny looks twice a second; no nanny: the task ends, the test fails
    return len(held)


@pytest.fixture
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=LIMIT) as cluster, Client(cluster) as c:
        c.wait_for_workers(2, timeout=TIMEOUT)
        yield c


def assert_recovered(client):
    """Both workers are back (no nanny gave up) and compute."""
    nannies = client.cluster.workers
    assert not any(n.stopped.is_set() for n in nannies), [n.exit_reasons for n in nannies]
    client.wait_for_workers(2, timeout=TIMEOUT)
    assert client.submit(inc, 1).result(timeout=TIMEOUT) == 2
    assert client.gather(client.map(inc, range(10))) == list(range(1, 11))


def test_segfaulting_tasks_in_a_row_and_at_once_each_fail_and_the_cluster_keeps_its_workers(client):
    # One after another: 4 x 3 worker deaths, more than the nannies' start-failure limit (5).
    for i in range(4):
        err = client.submit(segfault, i).exception(timeout=TIMEOUT)
        assert isinstance(err, KilledWorker), repr(err)
        assert "SIGSEGV" in str(err) and "segmentation fault" in str(err), str(err)
    # At once: the deaths of one count against the others only while they run.
    futures = [client.submit(segfault, i) for i in range(10, 14)]
    for fut in futures:
        err = fut.exception(timeout=TIMEOUT)
        assert isinstance(err, KilledWorker), repr(err)
        assert fut.key in str(err) and "SIGSEGV" in str(err), str(err)
    assert sum(n.restarts for n in client.cluster.workers) >= 8 * 3
    assert_recovered(client)


def test_a_task_exiting_its_worker_names_the_exit_code(client):
    err = client.submit(exit_3, 0).exception(timeout=TIMEOUT)
    assert isinstance(err, KilledWorker), repr(err)
    assert "exited with code 3" in str(err), str(err)
    assert_recovered(client)


def test_a_task_using_more_than_the_memory_limit_names_memory(client):
    err = client.submit(hog, 0).exception(timeout=TIMEOUT)
    assert isinstance(err, KilledWorker), repr(err)
    assert "too much memory" in str(err) and "memory limit of 200 MB" in str(err), str(err)
    assert "memory_limit" in str(err)  # the fix
    assert any("too much memory" in r for n in client.cluster.workers for r in n.exit_reasons)
    assert_recovered(client)


# --------------------------------------------------------------------------- workers that cannot start


def run_nanny(address: str, token: str) -> Nanny:
    """Start a nanny for ``address`` and wait until it stops on its own."""
    async def main():
        nanny = Nanny(address, token)
        await nanny.start()
        try:
            await asyncio.wait_for(nanny.stopped.wait(), TIMEOUT)
        finally:
            await nanny.close()
        return nanny
    return asyncio.run(main())


def test_a_worker_whose_environment_breaks_at_import_is_given_up_with_its_error_logged(
        client, tmp_path, monkeypatch, caplog):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "psutil.py").write_text("raise ImportError('psutil is broken in this environment (test)')\n")
    monkeypatch.syspath_prepend(str(broken))  # the worker processes' import path starts here
    with caplog.at_level(logging.ERROR, logger="jupyter_futures.nanny"):
        nanny = run_nanny(client.scheduler_address, client.cluster.token)
    assert nanny.failed
    assert nanny.restarts == MAX_START_FAILURES - 1
    assert len(nanny.exit_reasons) == MAX_START_FAILURES
    [record] = [r for r in caplog.records if r.name == "jupyter_futures.nanny" and r.levelno == logging.ERROR]
    text = record.getMessage()
    assert f"died {MAX_START_FAILURES} times in a row before the scheduler" in text, text
    assert "psutil is broken in this environment (test)" in text, text
    assert not os.path.exists(nanny.folder.path)
    assert_recovered(client)  # the cluster's own workers were never affected


def test_a_worker_given_a_wrong_scheduler_address_is_given_up_at_once(client, caplog):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
        with caplog.at_level(logging.ERROR, logger="jupyter_futures.nanny"):
            nanny = run_nanny(address, client.cluster.token)
    assert nanny.failed and nanny.restarts == 0
    [record] = [r for r in caplog.records if r.name == "jupyter_futures.nanny" and r.levelno == logging.ERROR]
    assert "could not start" in record.getMessage() and "nothing listens at" in record.getMessage()


# --------------------------------------------------------------------------- the nanny's word and the dropped connection


@pytest.mark.parametrize("first", ["nanny's word", "dropped connection"])
def test_the_scheduler_names_why_a_worker_died_whichever_news_comes_first(first, caplog):
    """A nanny's ``worker-died`` may reach the scheduler before or after it sees the worker's connection
    drop: either way the worker is removed with the reason, and at once once both are in."""
    from jupyter_futures.protocol import messages
    from jupyter_futures.protocol.connect import connect
    from jupyter_futures.scheduler.server import DEATH_REASON_WAIT, Scheduler

    async def main():
        token = "t" * 64
        scheduler = await Scheduler("127.0.0.1", 0, token).start()
        try:
            worker = await connect(scheduler.address, token)
            worker.start(lambda c, msgs: None)
            worker.queue(messages.register_worker("tcp://127.0.0.1:9", 1, 0, "w", 1, None))
            nanny = await connect(scheduler.address, token)
            nanny.start(lambda c, msgs: None)
            nanny.queue(messages.register_nanny())
            nanny.queue(messages.worker_watched("tcp://127.0.0.1:9"))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + TIMEOUT
            while "tcp://127.0.0.1:9" not in scheduler._watched and loop.time() < deadline:
                await asyncio.sleep(0.01)  # no event to await across the socket
            assert "tcp://127.0.0.1:9" in scheduler.state.workers
            if first == "nanny's word":
                nanny.queue(messages.worker_died("tcp://127.0.0.1:9", "was killed by signal SIGSEGV"))
            else:
                worker.close()
                while "tcp://127.0.0.1:9" not in scheduler._dying and loop.time() < deadline:
                    await asyncio.sleep(0.01)
                assert "tcp://127.0.0.1:9" in scheduler.state.workers  # kept, briefly, for the nanny's word
                nanny.queue(messages.worker_died("tcp://127.0.0.1:9", "was killed by signal SIGSEGV"))
            start = loop.time()
            while "tcp://127.0.0.1:9" in scheduler.state.workers and loop.time() < deadline:
                await asyncio.sleep(0.01)
            assert "tcp://127.0.0.1:9" not in scheduler.state.workers
            assert loop.time() - start < DEATH_REASON_WAIT  # on the word, not after the wait
            await asyncio.wait_for(worker.wait_closed(), TIMEOUT)  # the scheduler closed it, if it had not dropped
            nanny.close()
        finally:
            await scheduler.close()

    with caplog.at_level(logging.INFO, logger="jupyter_futures.scheduler"):
        asyncio.run(main())
    assert any("tcp://127.0.0.1:9 left: it was killed by signal SIGSEGV" in r.getMessage() for r in caplog.records)
