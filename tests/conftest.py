"""Shared fixtures for the jupyter_futures test suite."""
import pytest

from jupyter_futures import Client


@pytest.fixture(scope="module")
def client():
    """A small local cluster (2 workers x 1 thread) shared by the tests of one module."""
    with Client(n_workers=2, threads_per_worker=1) as c:
        yield c
