"""Shared fixtures for the jupyter_futures test suite."""
import os
import tempfile

import pytest

from jupyter_futures import Client


# Every scheduler writes a record to the cluster registry: the tests' records go to a folder of this
# test process's own, never to the user's runtime folder.
os.environ.setdefault("JUPYTER_FUTURES_REGISTRY", tempfile.mkdtemp(prefix="jupyter-futures-registry-"))
os.environ.setdefault("JUPYTER_FUTURES_STRICT", "1")  # an impossible state move raises (protocol/story.py)


@pytest.fixture(scope="module")
def client():
    """A small local cluster (2 workers x 1 thread) shared by the tests of one module."""
    with Client(n_workers=2, threads_per_worker=1) as c:
        yield c
