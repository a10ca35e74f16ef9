"""The JupyterLab launcher behind the README's first command."""
from __future__ import annotations

import os
import sys

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
