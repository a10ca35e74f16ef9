"""``pip install .`` into a fresh environment gives the server extension and the prebuilt JupyterLab
extension, enabled, with no node on the machine's PATH."""
from __future__ import annotations

import os
import re
import site
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(300)


def test_pip_install_enables_both_extensions_without_node(tmp_path):
    env_dir = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    fresh_python = env_dir / "bin" / "python"
    fresh_site = Path(subprocess.run([fresh_python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                     check=True, capture_output=True, text=True).stdout.strip())
    # The dependencies come from this environment (a .pth adds them after the fresh site-packages);
    # jupyter_futures itself only from the install below.
    (fresh_site / "deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    no_node = {"PATH": f"{env_dir / 'bin'}:{Path(sys.executable).parent}", "HOME": str(tmp_path),
               "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    # The fresh environment's own pip: it installs there and leaves the developer's install alone.
    install = subprocess.run([str(fresh_python), "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                              str(ROOT)], env={**os.environ, **no_node},
                             capture_output=True, text=True, cwd=tmp_path)
    assert install.returncode == 0, install.stdout + install.stderr

    def run(*args: str) -> str:
        done = subprocess.run([str(fresh_python), *args], env={**no_node, "JUPYTER_PLATFORM_DIRS": "1"},
                              capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        return re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)  # no colours

    where = run("-c", "import jupyter_futures; print(jupyter_futures.__file__)")
    assert where.startswith(str(env_dir)), where
    # In-process entry points: a `jupyter` command would run the scripts of whatever is on PATH.
    servers = run("-m", "jupyter_server", "extension", "list")
    assert "jupyter_futures enabled" in servers and "jupyter_futures 0.1.0 OK" in servers, servers
    labs = run("-m", "jupyterlab.labextensions", "list")
    assert "jupyter-futures v0.1.0 enabled OK (python, jupyter_futures)" in labs, labs
    assert (env_dir / "share/jupyter/labextensions/jupyter-futures/package.json").exists()
