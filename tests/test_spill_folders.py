"""Spill folders: each worker process spills into a folder its nanny made, removed when the process ends
(SIGKILL included) and at close; folders left by dead processes are removed at the next start.
"""
import os
import signal
import subprocess

import pytest

from jupyter_futures import Client, LocalCluster, wait
from jupyter_futures.worker.folders import LOCK_NAME, PREFIX, WorkerFolder
from procs import PYTHON, TIMEOUT, wait_gone, wait_until

pytestmark = pytest.mark.timeout(120)

LIMIT = 200 * 2**20


def make(i, n):
    return bytes([i % 251]) * n


def spilled(dask_worker):
    return len(dask_worker.data.spilled)


def dead_pid() -> int:
    proc = subprocess.Popen([PYTHON, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_killed_workers_folder_is_removed_by_its_nanny_and_close_leaves_none(tmp_path):
    with LocalCluster(n_workers=1, memory_limit=LIMIT, local_directory=str(tmp_path)) as cluster, \
            Client(cluster) as client:
        [nanny] = cluster.workers
        futures = [client.submit(make, i, 10 * 2**20) for i in range(15)]  # 150 MB: past 60 % of 200 MB
        wait(futures, timeout=TIMEOUT)
        assert sum(client.run(spilled).values()) > 0
        folder, pid = nanny.folder.path, nanny.pid
        assert os.path.basename(folder).startswith(PREFIX) and os.path.dirname(folder) == str(tmp_path)
        assert len(os.listdir(folder)) > 1  # spill files beside the lock file

        os.kill(pid, signal.SIGKILL)
        assert wait_gone([pid], timeout=10) == []
        assert wait_until(lambda: nanny.restarts == 1 and nanny.folder.path != folder)
        assert not os.path.exists(folder), "the killed worker's spill files were left behind"
        client.wait_for_workers(1, timeout=TIMEOUT)
        assert futures[0].result(timeout=TIMEOUT) == make(0, 10 * 2**20)  # recomputed
        assert os.listdir(tmp_path) == [os.path.basename(nanny.folder.path)]
    assert os.listdir(tmp_path) == [], "close() left folders behind"


def test_folders_of_dead_processes_are_removed_at_start_and_live_ones_kept(tmp_path):
    locked = tmp_path / f"{PREFIX}{dead_pid()}-abandoned"  # its owner died: nobody holds its lock
    locked.mkdir()
    (locked / LOCK_NAME).touch()
    (locked / "0").write_bytes(b"x" * 1000)
    unlocked = tmp_path / f"{PREFIX}{dead_pid()}-nolock"  # no lock file: the dead pid in its name tells
    unlocked.mkdir()
    (unlocked / "0").write_bytes(b"x" * 1000)
    live = WorkerFolder(str(tmp_path))  # this process holds its lock
    other = tmp_path / "someone-elses-folder"
    other.mkdir()
    try:
        with LocalCluster(n_workers=1, memory_limit=LIMIT, local_directory=str(tmp_path)) as cluster:
            assert not locked.exists() and not unlocked.exists()
            assert os.path.isdir(live.path) and other.is_dir()
            assert os.path.isdir(cluster.workers[0].folder.path)
        assert sorted(os.listdir(tmp_path)) == sorted([os.path.basename(live.path), other.name])
    finally:
        live.remove()
