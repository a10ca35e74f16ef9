"""``Future.retry()`` / ``Client.retry``: erred tasks run again, as dask's."""
import os

import pytest

from jupyter_futures import wait
from procs import TIMEOUT, settle_releases


def fail_first_time(x, marker):
    """Raises the first time it runs (no marker yet), returns x + 1 afterwards."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise RuntimeError("first run fails")
    return x + 1


def inc(x):
    return x + 1


def test_a_retried_future_runs_again_and_succeeds(client, tmp_path):
    future = client.submit(fail_first_time, 1, str(tmp_path / "m"), pure=False)
    wait([future], timeout=TIMEOUT)
    assert future.status == "error"
    future.retry()
    assert future.result(timeout=TIMEOUT) == 2 and future.status == "finished"


def test_retrying_a_dependent_reruns_the_input_that_failed(client, tmp_path):
    first = client.submit(fail_first_time, 1, str(tmp_path / "m"), pure=False)
    second = client.submit(inc, first, pure=False)
    wait([second], timeout=TIMEOUT)
    assert second.status == "error" and first.status == "error"
    client.retry([second, first])
    assert second.result(timeout=TIMEOUT) == 3 and first.result(timeout=TIMEOUT) == 2


def test_retrying_futures_that_did_not_fail_changes_nothing(client):
    future = client.submit(inc, 1, pure=False)
    assert future.result(timeout=TIMEOUT) == 2
    client.retry([future])
    assert future.status == "finished" and future.result() == 2


def test_a_retry_whose_input_is_gone_says_so(client, tmp_path):
    source = client.submit(inc, 1, pure=False)
    failing = client.submit(fail_first_time, source, str(tmp_path / "never"), pure=False)
    wait([failing], timeout=TIMEOUT)
    key = source.key
    del source  # nobody holds it any more, and the erred task no longer needs it: forgotten
    settle_releases(client)
    assert key not in client.who_has()
    with pytest.raises(ValueError, match="submit them again"):
        failing.retry()
    assert failing.status == "error"
