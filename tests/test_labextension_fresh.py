"""The committed labextension build (jupyter_futures/labextension/) matches its sources.

CI has no node, so it cannot rebuild; it checks the input fingerprint instead. A TypeScript, CSS or
package change without a rebuild fails here with the command to run.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABEXT = ROOT / "labextension"
BUILT = ROOT / "jupyter_futures" / "labextension"


def test_labextension_build_matches_its_sources():
    result = subprocess.run([sys.executable, str(LABEXT / "stamp.py"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, (
        "The committed labextension is older than its sources: run `make -C labextension` "
        f"(the build command), then commit jupyter_futures/labextension/ with them.\n{result.stderr}")


def test_committed_build_is_complete():
    package = json.loads((BUILT / "package.json").read_text())
    assert package["name"] == "jupyter-futures"
    load = package["jupyterlab"]["_build"]["load"]
    assert (BUILT / load).is_file(), f"{load} is missing: run `make -C labextension`"
    static = ROOT / "jupyter_futures" / "dashboard" / "static"
    for name in ("index.html", "dashboard.js", "dashboard.css"):
        assert (static / name).is_file(), f"standalone dashboard file {name} missing: run `make -C labextension`"


def test_labextension_version_matches_the_python_package():
    import jupyter_futures

    source = json.loads((LABEXT / "package.json").read_text())
    assert source["version"] == jupyter_futures.__version__


def test_the_environment_the_readme_sets_up_serves_both_extensions():
    """What `jupyter-futures lab` opens: the server extension enabled, the working tree's build served."""
    import re

    def listing(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=120)
        return re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)

    assert "jupyter_futures enabled" in listing("jupyter_server", "extension", "list")
    assert "jupyter-futures v0.1.0 enabled OK" in listing("jupyterlab.labextensions", "list")
