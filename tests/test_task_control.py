"""Running tasks stopped by cancel() and by submit(timeout=); what tasks print reaches the client."""
import sys
import time

import pytest

from jupyter_futures import CancelledError, Client

from procs import PYTHON, clean_env, wait_until

TIMEOUT = 30


def spin(seconds):
    """Busy for ``seconds`` in Python code (interruptible between bytecodes)."""
    end = time.time() + seconds
    while time.time() < end:
        pass
    return seconds


def naps(seconds):
    """Sleeps ``seconds`` in short naps."""
    for _ in range(int(seconds / 0.01)):
        time.sleep(0.01)
    return seconds


def one_long_sleep(seconds):
    """One time.sleep call: interruptible too, in a worker."""
    time.sleep(seconds)
    return seconds


def swallow_everything(seconds):
    """A task that catches Exception: an interrupt must still stop it."""
    try:
        return spin(seconds)
    except Exception:
        return "swallowed"


def chatty(x):
    import logging
    import warnings

    print(f"out {x}")
    print(f"err {x}", file=sys.stderr)
    warnings.warn(f"warn {x}")
    logging.getLogger("user.code").warning("log %s", x)
    logging.getLogger("user.code").info("hidden %s", x)
    return x


@pytest.fixture(scope="module")
def client():
    with Client(n_workers=1, threads_per_worker=1) as c:
        yield c


def wait_running(future):
    assert wait_until(lambda: future.status == "running", TIMEOUT, interval=0.005), future.status


@pytest.mark.parametrize("fn", [spin, naps, one_long_sleep, swallow_everything])
def test_cancel_stops_a_running_task_and_the_worker_stays_healthy(client, fn):
    future = client.submit(fn, 60, pure=False)
    wait_running(future)
    started = time.monotonic()
    client.cancel(future)
    assert future.status == "cancelled"
    with pytest.raises(CancelledError):
        future.result(timeout=1)
    # The single worker thread is free again at once, not after 60 s.
    assert client.submit(spin, 0.01, pure=False).result(timeout=TIMEOUT) == 0.01
    assert time.monotonic() - started < 10
    assert len(client.scheduler_info()["workers"]) == 1


def test_timeout_interrupts_and_fails_with_timeout_error(client):
    future = client.submit(one_long_sleep, 60, timeout=0.3)
    with pytest.raises(TimeoutError, match=r"one_long_sleep-.*timeout of 0\.3 s"):
        future.result(timeout=TIMEOUT)
    assert future.status == "error"
    assert client.submit(spin, 0.01, pure=False, timeout=5).result(timeout=TIMEOUT) == 0.01


def test_timeout_must_be_positive(client):
    with pytest.raises(ValueError, match="timeout"):
        client.submit(spin, 1, timeout=-1)


def test_task_output_reaches_the_submitting_client(client):
    seen = []
    unsubscribe = client.subscribe_output(lambda key, worker, stream, text: seen.append((key, worker, stream, text)))
    try:
        future = client.submit(chatty, 5)
        assert future.result(timeout=TIMEOUT) == 5
    finally:
        unsubscribe()
    worker = next(iter(client.scheduler_info()["workers"]))
    assert {(k, w) for k, w, _, _ in seen} == {(future.key, worker)}
    out = "".join(t for _, _, s, t in seen if s == "stdout")
    err = "".join(t for _, _, s, t in seen if s == "stderr")
    assert out == "out 5\n"
    assert "err 5" in err and "UserWarning: warn 5" in err and "WARNING:user.code:log 5" in err
    assert "hidden" not in err


def test_task_output_printed_by_a_script_client(tmp_path):
    """In a script, what a task prints goes to the client's stdout, and its stderr, warnings and
    logging at WARNING and above to the client's stderr, each line marked with the task's key and worker."""
    import subprocess

    script = tmp_path / "script.py"
    script.write_text(
        "import logging, sys, warnings\n"
        "from jupyter_futures import Client\n"
        "def hello(x):\n"
        "    print('hello', x)\n"
        "    print('oops', x, file=sys.stderr)\n"
        "    warnings.warn(f'careful {x}')\n"
        "    logging.getLogger('user.code').warning('logged %s', x)\n"
        "    logging.getLogger('user.code').info('quiet %s', x)\n"
        "    return x\n"
        "if __name__ == '__main__':\n"
        "    with Client(n_workers=1, threads_per_worker=1) as c:\n"
        "        print('result', c.submit(hello, 3).result(timeout=30))\n")
    out = subprocess.run([PYTHON, str(script)], capture_output=True, text=True, timeout=120, env=clean_env())
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    (hello,) = [line for line in lines if "hello 3" in line]
    assert hello.startswith("[hello-") and "@ tcp://" in hello and hello.endswith("] hello 3"), hello
    assert "result 3" in lines
    err = [line for line in out.stderr.splitlines() if line.startswith("[hello-")]
    assert any(line.endswith("] oops 3") for line in err), out.stderr
    assert any("UserWarning: careful 3" in line for line in err), out.stderr
    assert any("WARNING:user.code:logged 3" in line for line in err), out.stderr
    assert "quiet 3" not in out.stderr and "oops" not in out.stdout


def test_output_of_later_tasks_keeps_arriving(client):
    """Each task's output arrives, also after earlier tasks' output was flushed with their results."""
    seen = []
    unsubscribe = client.subscribe_output(lambda key, worker, stream, text: seen.append((key, stream, text)))
    try:
        keys = []
        for i in range(3):
            future = client.submit(chatty, 100 + i)
            assert future.result(timeout=TIMEOUT) == 100 + i
            keys.append(future.key)
        assert wait_until(lambda: {k for k, s, t in seen if s == "stdout"} == set(keys)), seen
    finally:
        unsubscribe()
