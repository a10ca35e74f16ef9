"""Task functions executed on the workers of every benchmarked library.

They live in their own importable module (the driver puts this folder on
PYTHONPATH) so that every library pickles them by reference, identically.
"""

import os
import time


def noop(x):
    """Return ``x`` unchanged: a task that does no work."""
    return x


def noop_dep(x, dep=None):
    """Return ``x``; ``dep`` only exists to make the task wait on a future."""
    return x


def inc(x):
    """Return ``x + 1``."""
    return x + 1


def add(a, b):
    """Return ``a + b``."""
    return a + b


def wait_for_file(path, limit=600.0):
    """Block until ``path`` exists (or ``limit`` seconds pass); return True if it appeared."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return True
        time.sleep(0.05)
    return False


def count_scheduler_tasks(dask_scheduler=None):
    """Return how many tasks the scheduler holds, or None if it does not say."""
    tasks = getattr(dask_scheduler, "tasks", None)
    return None if tasks is None else len(tasks)
