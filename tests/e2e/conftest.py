"""Fixtures for browser tests: one JupyterLab server and one headless Chromium per test session.

Chromium is Debian's (/usr/bin/chromium, installed by `.ci/setup-venv test` when running as root),
driven by PyPI playwright with ``executable_path``: no browser download. Tests skip, saying why,
where either is missing. Screenshots go to tests/.artifacts/ (git-ignored).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from procs import free_port, wait_for_http

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / ".artifacts"
TOKEN = "jupyter-futures-e2e"
CHROMIUM = os.environ.get("JUPYTER_FUTURES_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@contextlib.contextmanager
def jupyter_server(tmp: Path, app: str):
    """Runs ``python -m <app>`` (jupyterlab or notebook) hermetically on a free loopback port.

    Its own settings, workspaces, runtime and config dirs under ``tmp``; the jupyter_futures server
    extension enabled and the working tree's labextension build (jupyter_futures/labextension/)
    served, whatever is installed in the venv; the cluster registry a folder of this server's own,
    so clusters of other tests are not listed. ``window.jupyterapp`` is exposed, so tests can run
    commands. Yields (base_url, root_dir); notebooks for a test are copied into root_dir.
    """
    root = tmp / "root"
    root.mkdir()
    settings = tmp / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port = free_port()
    config = tmp / "config"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {"jupyter_futures": True}}}))
    data = tmp / "data" / "labextensions"
    data.mkdir(parents=True)
    (data / "jupyter-futures").symlink_to(ROOT / "jupyter_futures" / "labextension")
    registry = tmp / "registry"
    registry.mkdir()
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp / "runtime"), JUPYTER_CONFIG_DIR=str(config),
               JUPYTER_PATH=str(tmp / "data"), JUPYTER_FUTURES_REGISTRY=str(registry),
               # the working tree's package, for the server, its kernels and the clusters they start
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    # LabApp and JupyterNotebookApp are both LabServerApps: the same options, under their own name.
    cls = {"jupyterlab": "LabApp", "notebook": "JupyterNotebookApp"}[app]
    cmd = [sys.executable, "-m", app, "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
           f"--{cls}.user_settings_dir={tmp / 'settings'}", f"--{cls}.workspaces_dir={tmp / 'workspaces'}",
           # window.jupyterapp, so tests can run commands (e.g. switch the theme)
           f"--{cls}.expose_app_in_browser=True"]
    if app == "jupyterlab":
        cmd += ["--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    log_path = tmp / f"{app}.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_for_http(f"{base}/api/status?token={TOKEN}", proc):
            proc.kill()
            pytest.fail(f"{app} did not start; log:\n{log_path.read_text()[-3000:]}")
        yield base, root
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    """A JupyterLab server (see jupyter_server): yields (base_url, root_dir)."""
    pytest.importorskip("jupyterlab")
    with jupyter_server(tmp_path_factory.mktemp("lab"), "jupyterlab") as server:
        yield server


@pytest.fixture(scope="module")
def notebook7_server(tmp_path_factory):
    """A Notebook 7 server (``python -m notebook``, see jupyter_server): yields (base_url, root_dir)."""
    notebook = pytest.importorskip("notebook")
    if int(notebook.__version__.split(".")[0]) < 7:
        pytest.skip(f"notebook {notebook.__version__} is not Notebook 7")
    with jupyter_server(tmp_path_factory.mktemp("nb7"), "notebook") as server:
        yield server


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A headless Chromium context (Debian's chromium through playwright's executable_path).

    Module-scoped: playwright's sync API keeps an event loop running in this thread while it is open,
    which would break the asyncio.run() of tests that run after it in the same process."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}: install it (apt-get install chromium) or set "
                    f"JUPYTER_FUTURES_CHROMIUM")
    with sync_api.sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000})
        yield ctx
        ctx.close()


def write_notebook(path: Path, cells: list[tuple[str, str]]) -> None:
    """A Python 3 notebook of code ``cells`` given as (cell id, source)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source, id=cell_id) for cell_id, source in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
