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
    if tasks is None:  # jupyter_futures keeps them in its state machine
        tasks = getattr(getattr(dask_scheduler, "state", None), "tasks", None)
    return None if tasks is None else len(tasks)


def burn(n):
    """A pure-Python CPU loop of ``n`` steps (fixed work, not fixed time); returns a checksum."""
    acc = 0
    for i in range(n):
        acc = (acc + i * i) % 1_000_003
    return acc


class Counter:
    """The guide's actor: ``increment()`` returns the new count."""

    def __init__(self):
        self.count = 0

    def increment(self):
        """Add one; return the new count."""
        self.count += 1
        return self.count


def queue_producer(queue, n):
    """Put the ints ``0 .. n-1`` into ``queue``, one ``put`` each; return ``n``."""
    for i in range(n):
        queue.put(i)
    return n


def queue_consumer(queue, n):
    """Take ``n`` items out of ``queue``, one ``get`` each; return their sum."""
    total = 0
    for _ in range(n):
        total += queue.get()
    return total
