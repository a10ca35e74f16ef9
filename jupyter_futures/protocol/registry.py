"""Every running scheduler on this machine, as one small record per scheduler in one folder.

Whoever starts a scheduler (``LocalCluster`` in a kernel or a script, ``jupyter-futures scheduler``,
the Jupyter server extension) writes ``{id}.json`` (mode 0600: it holds the cluster's token) and
removes it on stop; a record whose process is gone is removed by the next listing. The folder is
``{jupyter runtime dir}/jupyter_futures/clusters``, computed without importing Jupyter, or
``$JUPYTER_FUTURES_REGISTRY``. ``selected.json`` there names the cluster that ``Client()`` joins
in kernels of a Jupyter server running the extension.
"""
from __future__ import annotations

import getpass
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import psutil

logger = logging.getLogger("jupyter_futures.registry")

REGISTRY_ENV = "JUPYTER_FUTURES_REGISTRY"
FOLLOW_SELECTION_ENV = "JUPYTER_FUTURES_FOLLOW_SELECTION"
SELECTED = "selected.json"


def runtime_dir() -> Path:
    """Jupyter's runtime folder, as jupyter_core computes it (``$JUPYTER_RUNTIME_DIR`` first)."""
    if os.environ.get("JUPYTER_RUNTIME_DIR"):
        return Path(os.environ["JUPYTER_RUNTIME_DIR"])
    if os.environ.get("JUPYTER_DATA_DIR"):
        return Path(os.environ["JUPYTER_DATA_DIR"]) / "runtime"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Jupyter" / "runtime"
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "jupyter" / "runtime"


def registry_dir() -> Path:
    """The folder of cluster records (made, mode 0700, on first use)."""
    path = Path(os.environ.get(REGISTRY_ENV) or runtime_dir() / "jupyter_futures" / "clusters")
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _write_json(path: Path, value: dict) -> None:
    """Write ``value`` to ``path`` atomically, readable by the owner only."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(value, f)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def make_record(*, id: str, address: str, token: str, made_by: str, name: str | None = None,
                dashboard: str = "", pid: int | None = None, manager_pid: int | None = None,
                server_id: str | None = None, options: dict | None = None) -> dict:
    """A record with the fields every reader expects (see docs/jupyter-api.md)."""
    from .. import __version__

    return {
        "id": id, "name": name or id, "address": address, "dashboard": dashboard,
        "pid": pid or os.getpid(), "manager_pid": manager_pid, "owner": getpass.getuser(),
        "made_by": made_by, "started": time.time(), "token": token, "version": __version__,
        "server_id": server_id, "options": options or {},
    }


def write(record: dict) -> Path:
    """Publish ``record`` (a dict from ``make_record``); returns its file."""
    path = registry_dir() / f"{record['id']}.json"
    _write_json(path, record)
    return path


def remove(cluster_id: str) -> None:
    """Remove a record (nothing happens if it is gone already)."""
    try:
        (registry_dir() / f"{cluster_id}.json").unlink()
    except FileNotFoundError:
        pass


def _alive(pid: int | None) -> bool:
    try:
        return bool(pid) and psutil.pid_exists(int(pid)) and psutil.Process(int(pid)).status() != "zombie"
    except (psutil.Error, ValueError, TypeError):
        return False


def list_records() -> list[dict]:
    """The records of running schedulers, oldest first; records of dead processes are removed."""
    records = []
    for path in sorted(registry_dir().glob("[!.]*.json")):  # not the writers' .tmp-* files
        if path.name == SELECTED:
            continue
        try:
            record = json.loads(path.read_text())
            pid = record["pid"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("removing unreadable cluster record %s (%s)", path, exc)
            path.unlink(missing_ok=True)
            continue
        if not _alive(pid):
            logger.info("removing the record of cluster %s: its process %s is gone", record.get("id"), pid)
            path.unlink(missing_ok=True)
            continue
        records.append(record)
    return sorted(records, key=lambda r: r.get("started", 0))


def get(cluster_id: str) -> dict | None:
    """The record of one running cluster, or None."""
    for record in list_records():
        if record["id"] == cluster_id:
            return record
    return None


def find_by_address(address: str) -> dict | None:
    """The record of the running scheduler at ``address`` (as ``tcp://host:port``), or None."""
    from .address import format_address, parse_address

    wanted = format_address(*parse_address(address))
    for record in list_records():
        if format_address(*parse_address(record["address"])) == wanted:
            return record
    return None


def select(cluster_id: str | None) -> None:
    """Make ``Client()`` in kernels of the extension's server join this cluster (None: start their own)."""
    path = registry_dir() / SELECTED
    if cluster_id is None:
        path.unlink(missing_ok=True)
    else:
        _write_json(path, {"id": cluster_id})


def selected_id() -> str | None:
    """The id of the selected cluster, if it still runs."""
    try:
        cluster_id = json.loads((registry_dir() / SELECTED).read_text()).get("id")
    except (OSError, ValueError, AttributeError):
        return None
    return cluster_id if cluster_id and get(cluster_id) else None


def selected_for_new_clients() -> dict | None:
    """The record ``Client()`` with no address should join: only in a kernel of a Jupyter server
    whose extension asked for it (``$JUPYTER_FUTURES_FOLLOW_SELECTION``), and only if one is selected."""
    if not os.environ.get(FOLLOW_SELECTION_ENV):
        return None
    cluster_id = selected_id()
    return get(cluster_id) if cluster_id else None
