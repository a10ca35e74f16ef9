"""dask's options this client takes one way only (``direct=``, ``wait=``) are refused with the fix, never
ignored (``asynchronous=`` is taken both ways: test_sync_async.py); and
``client.story``, the history of keys as the scheduler and the workers recorded it."""
from __future__ import annotations

import pytest

from jupyter_futures import Client

TIMEOUT = 20


def inc(x):
    return x + 1


def test_options_taken_the_way_this_client_works_are_accepted(client):
    f = client.submit(inc, 1, pure=False)
    assert client.gather([f], direct=True, asynchronous=False) == [2]
    [g] = client.scatter([5], direct=None, asynchronous=None)
    assert g.result(timeout=TIMEOUT) == 5
    client.cancel([g], asynchronous=False)


@pytest.mark.parametrize("call, match", [
    (lambda c, f: c.gather([f], direct=False), r"gather\(direct=False\): .*leave out direct="),
    (lambda c, f: c.scatter([1], direct=False), r"scatter\(direct=False\)"),
    (lambda c, f: c.run(inc, 1, wait=False), r"run\(wait=False\): .*leave out wait="),
])
def test_options_this_client_does_not_take_are_refused_with_the_fix(client, call, match):
    f = client.submit(inc, 1, pure=False)
    with pytest.raises(ValueError, match=match):
        call(client, f)
    assert f.result(timeout=TIMEOUT) == 2  # nothing happened on the way


def test_a_client_that_would_route_data_through_the_scheduler_is_refused_before_it_starts():
    with pytest.raises(ValueError, match=r"Client\(direct_to_workers=False\): .*leave out direct_to_workers="):
        Client(direct_to_workers=False)


def test_story_tells_what_happened_to_a_key_oldest_first(client):
    f = client.submit(inc, 41, pure=False)
    assert f.result(timeout=TIMEOUT) == 42
    story = client.story(f)
    assert isinstance(story, list) and story and all(isinstance(r, tuple) for r in story)
    assert {r[0] for r in story} == {f.key}
    assert [r[4] for r in story] == sorted(r[4] for r in story)
    scheduler = [(r[2], r[3]) for r in story if r[5] == "scheduler"]
    assert scheduler[-1][1] == "memory", story
    assert any(r[5].startswith("tcp://") for r in story), story  # the worker's part
    assert {r[0] for r in client.story(f.key)} == {r[0] for r in client.story([f], "no-such-key")} == {f.key}
    assert client.story("no-such-key") == []
    with pytest.raises(TypeError, match=r"story\(\) takes futures or keys"):
        client.story()
