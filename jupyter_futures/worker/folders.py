"""Worker folders: where a worker process spills values, one folder per process, removed when it ends.

A folder is ``<local directory>/jupyter-futures-worker-<owner pid>-<random>``, holding a lock file that
its owner (the nanny, or a worker without one) keeps locked while it lives. A folder whose lock can be
taken, or without a lock file whose owner pid is gone, was left by a dead process: ``clean_stale``
removes it.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile

import psutil

try:
    import fcntl
except ImportError:  # Windows: the owner's pid alone tells
    fcntl = None

logger = logging.getLogger("jupyter_futures.worker")

PREFIX = "jupyter-futures-worker-"
LOCK_NAME = ".owner.lock"
LOCAL_DIRECTORY_ENV = "JUPYTER_FUTURES_LOCAL_DIRECTORY"


def local_directory(given: str | None = None) -> str:
    """Where worker folders go: ``given``, else ``$JUPYTER_FUTURES_LOCAL_DIRECTORY``, else the system's
    temporary directory."""
    return given or os.environ.get(LOCAL_DIRECTORY_ENV) or tempfile.gettempdir()


class WorkerFolder:
    """A new folder under ``parent``, locked by this process until ``remove()``."""

    def __init__(self, parent: str):
        try:
            os.makedirs(parent, exist_ok=True)
            self.path = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=parent)
        except OSError as exc:
            raise OSError(f"cannot make a worker folder in {parent!r} ({exc}): give a writable "
                          f"local_directory= (or ${LOCAL_DIRECTORY_ENV})") from None
        self._lock = open(os.path.join(self.path, LOCK_NAME), "w")
        if fcntl is not None:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def remove(self) -> None:
        """Delete the folder and everything in it (idempotent)."""
        shutil.rmtree(self.path, ignore_errors=True)
        if not self._lock.closed:
            self._lock.close()


def _abandoned(path: str) -> bool:
    lock = os.path.join(path, LOCK_NAME)
    if fcntl is not None and os.path.exists(lock):
        try:
            with open(lock, "a") as f:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its owner lives
        except OSError:
            return False
        return True
    # No lock file (yet, or no fcntl): the owner's pid says.
    try:
        pid = int(os.path.basename(path)[len(PREFIX):].split("-", 1)[0])
    except ValueError:
        return False
    return not psutil.pid_exists(pid)


def clean_stale(parent: str) -> list[str]:
    """Remove the worker folders under ``parent`` whose owner process is gone; returns their paths."""
    try:
        names = os.listdir(parent)
    except OSError:
        return []
    removed = []
    for name in names:
        path = os.path.join(parent, name)
        if name.startswith(PREFIX) and os.path.isdir(path) and _abandoned(path):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    if removed:
        logger.info("removed %d worker folders left by processes that are gone: %s", len(removed), removed)
    return removed
