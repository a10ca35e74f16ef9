"""``Client.recreate_error_locally`` / ``recreate_task_locally``: the task runs again in this process, with its
inputs fetched from the cluster, so its exception is raised here with frames a debugger can inspect."""
import asyncio
import os

import pytest

from jupyter_futures import Client, wait
from procs import TIMEOUT, settle_releases


def div(x, y):
    return x / y


def inc(x):
    return x + 1


def pid(_):
    return os.getpid()


def innermost(exc):
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb


def test_the_error_is_raised_here_from_a_frame_of_the_tasks_function(client):
    future = client.submit(div, 1, 0)
    wait([future], timeout=TIMEOUT)
    with pytest.raises(ZeroDivisionError) as info:
        client.recreate_error_locally(future)
    frame = innermost(info.value).tb_frame
    assert frame.f_code.co_name == "div" and frame.f_code.co_filename == __file__
    assert frame.f_locals == {"x": 1, "y": 0}  # a real local frame: what a debugger shows


def test_inputs_that_are_futures_are_fetched_from_the_cluster(client):
    x = client.submit(inc, 1)
    y = client.submit(div, x, 0)
    with pytest.raises(ZeroDivisionError) as info:
        client.recreate_error_locally(y)  # waits for y to fail
    assert innermost(info.value).tb_frame.f_locals == {"x": 2, "y": 0}


def test_the_task_where_the_failure_began_is_the_one_run(client):
    first = client.submit(div, 5, 0)
    second = client.submit(inc, first)
    with pytest.raises(ZeroDivisionError) as info:
        client.recreate_error_locally([second, client.submit(inc, 1)])
    assert innermost(info.value).tb_frame.f_locals == {"x": 5, "y": 0}


def test_futures_that_did_not_fail_are_refused(client):
    future = client.submit(inc, 1)
    with pytest.raises(ValueError, match="none of these futures failed"):
        client.recreate_error_locally(future)
    with pytest.raises(ValueError, match="give a future"):
        client.recreate_error_locally(42)


def test_a_failed_task_whose_input_was_released_says_so(client):
    x = client.submit(inc, 10, pure=False)
    y = client.submit(div, x, 0, pure=False)
    wait([y], timeout=TIMEOUT)
    key = x.key
    del x
    settle_releases(client)
    with pytest.raises(ValueError, match=f"its inputs \\['{key}'\\] are no longer on the cluster"):
        client.recreate_error_locally(y)


def test_recreate_task_locally_runs_a_task_that_succeeded_here(client):
    future = client.submit(pid, client.submit(inc, 1))
    assert future.result(timeout=TIMEOUT) != os.getpid()
    assert client.recreate_task_locally(future) == os.getpid()


def test_an_asynchronous_client_awaits_the_replay():
    async def main():
        async with Client(n_workers=1, threads_per_worker=1, asynchronous=True) as c:
            future = c.submit(div, 3, 0)
            with pytest.raises(ZeroDivisionError):
                await c.recreate_error_locally(future)
    asyncio.run(asyncio.wait_for(main(), TIMEOUT))
