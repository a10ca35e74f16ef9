"""Files a client uploads (``Client.upload_file``): written to this process's uploads folder, which is
on ``sys.path``, and imported when asked, as dask's ``UploadFile`` plugin does.

The scheduler sends each upload to the workers of the moment (``upload_file`` request: an error importing
it goes back to the client) and to every worker that joins later, before any task of it.
"""
from __future__ import annotations

import atexit
import importlib
import importlib.util
import logging
import os
import pkgutil
import sys
from typing import Any

from .folders import WorkerFolder, local_directory

logger = logging.getLogger("jupyter_futures.worker")

KINDS = (".py", ".egg", ".zip", ".pyz")

_folder: WorkerFolder | None = None


def uploads_folder() -> str:
    """This process's folder of uploaded files (made on first use, on ``sys.path``, removed at exit)."""
    global _folder
    if _folder is None:
        _folder = WorkerFolder(local_directory())
        atexit.register(_folder.remove)
        sys.path.insert(0, _folder.path)
    return _folder.path


def save_upload(worker: Any, filename: str, data: bytes, load: bool) -> dict:
    """Write ``data`` as ``filename`` in the uploads folder and, with ``load``, import it (a module again if
    it was imported before); returns ``{"status": "OK", "nbytes": ...}``. An import error is raised."""
    name = os.path.basename(filename)
    if not name.endswith(KINDS) or name != filename:
        raise ValueError(f"upload_file({filename!r}): give the name of a .py, .egg or .zip file")
    path = os.path.join(uploads_folder(), name)
    with open(path, "wb") as f:
        f.write(data)
    if not name.endswith(".py") and path not in sys.path:
        sys.path.insert(0, path)  # an archive is importable from its own path
    if worker is not None:
        worker.functions.clear()  # functions pickled by reference to the old module are found anew
    if load:
        import_file(path)
    return {"status": "OK", "nbytes": len(data)}


def import_file(path: str) -> list:
    """Import (or reload) the modules of a .py, .egg or .zip file; returns them."""
    stem, ext = os.path.splitext(os.path.basename(path))
    if ext == ".py":
        names = [stem]
        try:
            os.remove(importlib.util.cache_from_source(path))  # never a stale .pyc of an older upload
        except OSError:
            pass
    else:
        names = [info.name for info in pkgutil.iter_modules([path])]
    importlib.invalidate_caches()
    modules = []
    for name in names:
        logger.info("importing %s from uploaded file %s", name, os.path.basename(path))
        module = sys.modules.get(name)
        modules.append(importlib.reload(module) if module is not None else importlib.import_module(name))
    return modules


def receive_upload(worker: Any, filename: str, data: bytes, load: bool) -> None:
    """An upload the scheduler sends a worker that joined after it (the ``upload-file`` message): saved and
    imported before any task of this worker runs; an error is logged (the client who uploaded heard of the
    workers of its time)."""
    try:
        save_upload(worker, filename, data, load)
    except Exception:  # noqa: BLE001 - a message handler: the rest of the scheduler's batch still counts
        logger.exception("could not load the uploaded file %s", filename)
