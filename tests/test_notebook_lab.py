"""The JupyterLab launcher behind the README's first command."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest
from procs import JF, clean_env, free_port, kill_tree, stop, wait_for_http

from jupyter_futures.notebook import lab


def test_launcher_opens_the_quickstart_from_the_checkout(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    cwd, cmd = lab.build_command([])
    assert cwd == str(lab.REPO) and (lab.REPO / "notebooks" / "quickstart.ipynb").exists()
    assert cmd[:3] == [sys.executable, "-m", "jupyterlab"]
    assert cmd[3] == os.path.join("notebooks", "quickstart.ipynb")
    assert ("--allow-root" in cmd) == (os.geteuid() == 0)


def test_launcher_passes_a_given_notebook_and_options(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    cwd, cmd = lab.build_command(["mine.ipynb", "--port=9999", "--allow-root"])
    assert cwd == str(tmp_path)
    assert cmd[3:5] == ["mine.ipynb", "--port=9999"] and cmd.count("--allow-root") == 1


def test_an_option_value_given_apart_is_not_taken_for_a_notebook():
    """``--port 8888``: the quickstart still opens, and the options pass as given."""
    cwd, cmd = lab.build_command(["--port", "8888", "--no-browser"])
    assert cwd == str(lab.REPO)
    assert cmd[3:7] == [os.path.join("notebooks", "quickstart.ipynb"), "--port", "8888", "--no-browser"]


def test_the_readme_command_serves_jupyterlab_with_the_quickstart(tmp_path):
    """``jupyter-futures lab`` itself (the README's run command, minus the browser) serves this checkout's
    notebooks, and stops on SIGTERM."""
    pytest.importorskip("jupyterlab")
    port, token = free_port(), "readme-command"
    env = clean_env(JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTER_CONFIG_DIR=str(tmp_path / "config"))
    with open(tmp_path / "lab.log", "wb") as log:
        proc = subprocess.Popen([JF, "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                                 f"--IdentityProvider.token={token}", "--LabApp.news_url=None"],
                                env=env, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=log)
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_for_http(f"{base}/api/status?token={token}", proc), (tmp_path / "lab.log").read_text()[-3000:]
        with urllib.request.urlopen(f"{base}/api/contents/quickstart.ipynb?token={token}") as reply:
            model = json.load(reply)
        assert model["type"] == "notebook"
        assert model["content"]["cells"][2]["source"].startswith("%load_ext jupyter_futures")
        with urllib.request.urlopen(f"{base}/lab?token={token}") as reply:
            assert reply.status == 200 and b"JupyterLab" in reply.read()
        assert stop(proc) is not None, "JupyterLab did not stop on SIGTERM"
    finally:
        kill_tree(proc)
