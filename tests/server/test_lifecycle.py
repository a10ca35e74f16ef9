"""Clusters outlive the Jupyter server or not, as configured: a started ``jupyter server`` process,
stopped as a user stops it (SIGTERM), then started again."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

import pytest

from jupyter_futures.protocol import registry

from procs import alive, free_port, kill_tree, wait_for_http, wait_gone

pytestmark = pytest.mark.timeout(180)
TOKEN = "lifecycle-test"


class Server:
    """``jupyter server`` with the extension, in a process of its own."""

    def __init__(self, tmp_path, *options: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/jupyter-futures/api/"
        self.log = tmp_path / f"server-{self.port}.log"
        env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
                   JUPYTER_CONFIG_DIR=str(tmp_path / "config"))
        cmd = [sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
               f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={tmp_path}", "--allow-root",
               "--ServerApp.jpserver_extensions={'jupyter_futures': True}", *options]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env)
        if not wait_for_http(f"{self.base}status?token={TOKEN}", self.proc):
            kill_tree(self.proc)
            pytest.fail(f"jupyter server did not start:\n{self.log.read_text()[-3000:]}")

    def call(self, method: str, path: str, body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Authorization": f"token {TOKEN}"})
        with urllib.request.urlopen(request, timeout=120) as reply:
            text = reply.read()
        return json.loads(text) if text else None

    def stop(self) -> int:
        """Stop as Ctrl-C/SIGTERM does; the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)


@pytest.fixture
def registry_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_FUTURES_REGISTRY", str(tmp_path / "registry"))
    return tmp_path / "registry"


def test_by_default_the_servers_clusters_stop_with_it_and_others_do_not(tmp_path, registry_dir):
    from jupyter_futures import LocalCluster

    with LocalCluster(n_workers=1, memory_limit=None, name="not the server's") as outsider:
        server = Server(tmp_path)
        try:
            made = server.call("POST", "clusters", {"name": "the server's", "workers": 1})
            record = registry.get(made["id"])
            assert {c["name"] for c in server.call("GET", "clusters")} == {"not the server's", "the server's"}
        finally:
            code = server.stop()
        assert code == 0
        assert wait_gone([record["pid"], record["manager_pid"]]) == []
        assert registry.get(made["id"]) is None
        assert registry.get(outsider.id) is not None and outsider.status == "running"


def test_with_stop_clusters_on_exit_false_a_cluster_survives_a_restart_and_is_listed_again(tmp_path, registry_dir):
    option = "--FuturesExtension.stop_clusters_on_exit=False"
    first = Server(tmp_path, option)
    record = None
    try:
        made = first.call("POST", "clusters", {"name": "long job", "workers": 1})
        record = registry.get(made["id"])
        assert first.stop() == 0
        assert alive(record["pid"]) and alive(record["manager_pid"])

        second = Server(tmp_path, option)
        try:
            (listed,) = second.call("GET", "clusters")
            assert (listed["id"], listed["name"], listed["workers"], listed["status"]) == (
                made["id"], "long job", 1, "running")
            assert not listed["managed"]  # made by the server before, not by this one
            # Still under Jupyter's control: it scales and stops from the new server.
            assert second.call("PATCH", f"clusters/{made['id']}", {"workers": 2})["workers"] == 2
            second.call("DELETE", f"clusters/{made['id']}")
            assert wait_gone([record["pid"], record["manager_pid"]]) == []
        finally:
            second.stop()
    finally:
        first.proc.poll() is None and first.stop()
        if record is not None:
            for pid in (record["manager_pid"], record["pid"]):
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
