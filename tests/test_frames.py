"""Frames that declare more than a connection accepts (issue 11, defect 6): a raw socket that holds the
token sends a bad header to a real scheduler; the scheduler closes it once, says why once, and keeps
serving without spinning."""
import os
import struct
import threading

import psutil
import pytest

from jupyter_futures import Client
from jupyter_futures.protocol.comm import MAX_FRAME_ENV, Comm, FrameTooLarge

from procs import JF, TIMEOUT, clean_env, kill_tree, start_process, start_scheduler, wait_until
from wire import authenticated_socket, closed_by_peer

LIMIT = "1GB"


def inc(x):
    return x + 1


class LoggedCluster:
    """A CLI scheduler (log at INFO in a file, frame limit ``LIMIT``) and one worker."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        token_file = tmp_path / "token"
        env = clean_env(HOME=str(tmp_path), **{MAX_FRAME_ENV: LIMIT})
        self.scheduler, info = start_scheduler(tmp_path, "--token-file", str(token_file), "--log-level", "INFO",
                                               env=env)
        self.address, self.token = info["address"], token_file.read_text().strip()
        self.worker, _ = start_process([JF, "worker", self.address, "--nthreads", "1"],
                                       env=dict(env, JUPYTER_FUTURES_TOKEN=self.token,
                                                PYTHONPATH=os.path.dirname(os.path.abspath(__file__))),
                                       stderr_path=str(tmp_path / "worker.log"), name="worker")
        self.process = psutil.Process(self.scheduler.pid)

    def log(self) -> str:
        return (self.tmp_path / "scheduler.log").read_text()

    def cpu(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system

    def close(self):
        kill_tree(self.worker)
        kill_tree(self.scheduler)


@pytest.fixture
def cluster(tmp_path):
    c = LoggedCluster(tmp_path)
    yield c
    c.close()


def check_serving(cluster):
    with Client(cluster.address, token=cluster.token, set_as_default=False, timeout=TIMEOUT) as client:
        assert client.gather(client.map(inc, range(20))) == list(range(1, 21))


def test_a_frame_declaring_2_to_the_60_bytes_then_leaving_is_refused_once_without_spinning(cluster):
    sock = authenticated_socket(cluster.address, cluster.token)
    peer = "%s:%d" % sock.getsockname()[:2]
    sock.sendall(struct.pack("!IQ", 1, 1 << 60))
    sock.close()
    said = f"it sent a frame of {1 << 60} bytes"
    assert wait_until(lambda: said in cluster.log())
    before = cluster.cpu()
    threading.Event().wait(2.0)  # the measurement window: a spinning loop would burn all of it
    assert cluster.cpu() - before < 0.5
    lines = [line for line in cluster.log().splitlines() if said in line]
    assert len(lines) == 1, lines
    assert peer in lines[0] and "over the limit of 1000000000 bytes" in lines[0] and MAX_FRAME_ENV in lines[0]
    assert "MemoryError" not in cluster.log()
    check_serving(cluster)
    assert cluster.scheduler.poll() is None and cluster.worker.poll() is None


def test_the_scheduler_closes_a_connection_whose_parts_add_up_past_the_limit(cluster):
    sock = authenticated_socket(cluster.address, cluster.token)
    sock.sendall(struct.pack("!I3Q", 3, 400_000_000, 400_000_000, 400_000_000))  # 1.2 GB in three parts
    assert closed_by_peer(sock)
    sock.close()
    assert wait_until(lambda: "it sent a frame of 1200000000 bytes" in cluster.log())
    check_serving(cluster)


def test_memory_for_a_large_part_is_reserved_as_it_arrives(cluster):
    rss = lambda: cluster.process.memory_info().rss  # noqa: E731
    before = rss()
    sock = authenticated_socket(cluster.address, cluster.token)
    sock.sendall(struct.pack("!IQ", 1, 900_000_000) + b"\0" * 4_000_000)  # declares 900 MB, sends 4 MB
    assert wait_until(lambda: rss() - before > 4_000_000), "the scheduler never received the 4 MB"
    # Received: it holds memory for what came (and one step ahead of it), not for what was declared.
    assert rss() - before < 200_000_000
    sock.close()
    check_serving(cluster)


def test_a_client_learns_before_sending_that_a_frame_is_over_the_limit(cluster, monkeypatch):
    monkeypatch.setattr(Comm, "max_frame", 1_000_000)
    with Client(cluster.address, token=cluster.token, set_as_default=False, timeout=TIMEOUT) as client:
        client.wait_for_workers(1, timeout=TIMEOUT)
        with pytest.raises(FrameTooLarge, match=f"over the limit of 1000000 bytes; raise it with {MAX_FRAME_ENV}"):
            client.submit(len, b"x" * 2_000_000)
        with pytest.raises(FrameTooLarge, match=MAX_FRAME_ENV):
            client.scatter(b"y" * 2_000_000)
        assert client.submit(inc, 1).result(TIMEOUT) == 2  # the connection is still good
    assert "it sent a frame" not in cluster.log()
