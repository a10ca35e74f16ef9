"""Scheduler files, as dask's: ``jupyter-futures scheduler --scheduler-file``, ``jupyter-futures worker
--scheduler-file``, ``Client(scheduler_file=)`` and ``Client.write_scheduler_file`` (real processes)."""
import json
import subprocess

import pytest

from jupyter_futures import Client
from jupyter_futures.protocol import schedulerfile
from procs import JF, TIMEOUT, clean_env, kill_tree, start_process, start_scheduler


def test_a_cluster_started_from_a_scheduler_file_serves_a_client_that_reads_it(tmp_path, monkeypatch):
    path = tmp_path / "scheduler.json"
    token_file = tmp_path / "token"
    scheduler, info = start_scheduler(tmp_path, "--scheduler-file", str(path), "--token-file", str(token_file),
                                      env=clean_env(HOME=str(tmp_path)))
    worker = None
    try:
        written = json.loads(path.read_text())
        assert written["address"] == info["address"] and written["type"] == "Scheduler"
        token = token_file.read_text().strip()
        worker, _ = start_process([JF, "worker", "--scheduler-file", str(path), "--nthreads", "1"],
                                  env=clean_env(HOME=str(tmp_path), JUPYTER_FUTURES_TOKEN=token),
                                  stderr_path=str(tmp_path / "worker.log"), name="worker")
        monkeypatch.setenv("JUPYTER_FUTURES_TOKEN", token)
        with Client(scheduler_file=str(path)) as client:
            client.wait_for_workers(1, timeout=TIMEOUT)
            assert client.scheduler_address == info["address"]
            assert client.submit(sum, [1, 2]).result(timeout=TIMEOUT) == 3  # a builtin: the worker has it
            again = tmp_path / "again.json"
            client.write_scheduler_file(str(again))
            assert schedulerfile.read_address(str(again)) == info["address"]
    finally:
        for proc in (worker, scheduler):
            if proc is not None:
                kill_tree(proc)


def test_a_missing_scheduler_file_is_named_after_the_timeout(tmp_path):
    with pytest.raises(TimeoutError, match="no scheduler file at .*missing.json after 0.2 s"):
        Client(scheduler_file=str(tmp_path / "missing.json"), timeout=0.2)


def test_a_file_that_is_not_a_scheduler_file_is_refused(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="is not a scheduler file"):
        Client(scheduler_file=str(bad))


def test_a_worker_without_address_or_scheduler_file_says_what_to_give(tmp_path):
    r = subprocess.run([JF, "worker", "--nthreads", "1"], env=clean_env(), capture_output=True, text=True,
                       timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert r.returncode != 0 and "or --scheduler-file FILE" in r.stderr
