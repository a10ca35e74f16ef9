"""Worker kernels: a Jupyter kernel opened inside a worker process (``Client.open_worker_kernel``).

Real parts only: a real cluster, the kernel started in the worker, and jupyter_client's
``BlockingKernelClient`` talking to it through the connection file.
"""
import json
import os
import stat
import sys
import time
import uuid

import pytest
from jupyter_client import BlockingKernelClient
from jupyter_client.multikernelmanager import MultiKernelManager

from jupyter_futures import Client, wait
from jupyter_futures.client.kernels import default_kernel_dir
from jupyter_futures.worker.store import DataStore

from procs import wait_until

pytestmark = pytest.mark.timeout(120)

REPLY_TIMEOUT = 30


@pytest.fixture(scope="module")
def client():
    """2 workers x 2 threads: a worker keeps a free thread while a test holds the other one."""
    with Client(n_workers=2, threads_per_worker=2) as c:
        c.wait_for_workers(2)
        yield c


@pytest.fixture(scope="module")
def workers(client):
    """The two workers' addresses: the first hosts the shared kernel, the second is opened and closed by tests."""
    return sorted(client.scheduler_info()["workers"])


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("kernels"))


@pytest.fixture(scope="module")
def kernel(client, workers, kernel_dir):
    """(connection file, a started BlockingKernelClient) of a kernel in the first worker."""
    path = client.open_worker_kernel(workers[0], connection_dir=kernel_dir)
    kc = connect(path)
    try:
        yield path, kc
    finally:
        kc.stop_channels()
        client.close_worker_kernel(workers[0])


def connect(path):
    kc = BlockingKernelClient(connection_file=path)
    kc.load_connection_file()
    kc.start_channels()
    kc.wait_for_ready(timeout=REPLY_TIMEOUT)
    return kc


def execute(kc, code, timeout=REPLY_TIMEOUT):
    """(reply content, [(msg_type, content)] of the cell's output messages)."""
    out = []
    reply = kc.execute_interactive(code, timeout=timeout,
                                   output_hook=lambda msg: out.append((msg["msg_type"], msg["content"])))
    return reply["content"], out


def result_of(kc, code):
    """The text/plain result of a cell (which must succeed)."""
    content, out = execute(kc, code)
    assert content["status"] == "ok", content
    results = [c["data"]["text/plain"] for kind, c in out if kind == "execute_result"]
    assert results, out
    return results[-1]


def reply_to(kc, msg_id, timeout=REPLY_TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        msg = kc.get_shell_msg(timeout=max(deadline - time.monotonic(), 0.01))
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg["content"]


def start_cell(kc, code):
    """Send a cell that the test will interrupt; its error must not abort the requests sent next."""
    return kc.execute(code, stop_on_error=False)


def wait_cell_started(kc, msg_id, timeout=REPLY_TIMEOUT):
    """Until the kernel announces it runs the cell ``msg_id`` (its execute_input on iopub)."""
    deadline = time.monotonic() + timeout
    while True:
        msg = kc.get_iopub_msg(timeout=max(deadline - time.monotonic(), 0.01))
        if msg["msg_type"] == "execute_input" and msg["parent_header"].get("msg_id") == msg_id:
            return


def interrupt_until_done(client, worker, timeout=REPLY_TIMEOUT):
    """Interrupt ``worker``'s kernel once its cell's code runs (the RPC says whether it hit a cell)."""
    assert wait_until(lambda: client.interrupt_worker_kernel(worker), timeout=timeout)


def inc(x):
    return x + 1


def shout(text):
    print(text)
    return len(text)


def block_ipykernel():
    sys.modules["ipykernel"] = None  # `import ipykernel...` now raises ImportError in this worker


def unblock_ipykernel():
    sys.modules.pop("ipykernel", None)


# --------------------------------------------------------------------------- the kernel runs in the worker

def test_execute_in_worker_process(client, workers, kernel):
    path, kc = kernel
    assert result_of(kc, "1 + 1") == "2"
    pid = client.scheduler_info()["workers"][workers[0]]["pid"]
    assert result_of(kc, "import os; os.getpid()") == str(pid)
    assert result_of(kc, "worker.address") == repr(workers[0])


def test_connection_file(kernel, kernel_dir, workers):
    path, kc = kernel
    name = os.path.basename(path)
    port = workers[0].rsplit(":", 1)[1]
    assert os.path.dirname(path) == kernel_dir
    assert name.startswith("jupyter-futures-worker-") and name.endswith(f"-{port}.json")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    info = kc.get_connection_info()
    assert info["ip"] == "127.0.0.1" and info["key"] and info["signature_scheme"] == "hmac-sha256"
    with open(path) as f:
        saved = json.load(f)
    assert saved["kernel_name"] == "python3"
    assert saved["jupyter_futures"]["worker"] == workers[0]


def test_open_twice_gives_same_file(client, workers, kernel, kernel_dir):
    path, kc = kernel
    assert client.open_worker_kernel(workers[0], connection_dir=kernel_dir) == path
    name = client.scheduler_info()["workers"][workers[0]]["name"]
    assert client.open_worker_kernel(name, connection_dir=kernel_dir) == path  # by name too
    assert result_of(kc, "1 + 1") == "2"  # the same kernel, still serving


def test_kernel_sees_worker_data(client, workers, kernel):
    path, kc = kernel
    fut = client.submit(inc, 41, workers=[workers[0]])
    assert fut.result() == 42
    assert result_of(kc, f"data[{fut.key!r}]") == "42"
    assert result_of(kc, f"{fut.key!r} in list(data)") == "True"
    [scattered] = client.scatter([f"scattered-{uuid.uuid4().hex}"], workers=[workers[0]])
    assert result_of(kc, f"data[{scattered.key!r}]") == repr(scattered.result())


def test_kernel_reads_spilled_value(client, workers, kernel):
    path, kc = kernel
    fut = client.submit(inc, 99, workers=[workers[0]], pure=False)
    assert fut.result() == 100
    # Spill everything but a probe value: set the spill target to a byte for one put.
    code = ("_target = data.target; data.target = 1\n"
            "try:\n"
            "    data.put('jf-kernel-spill-probe', 0, 8)\n"
            "finally:\n"
            "    data.target = _target\n"
            "data.pop('jf-kernel-spill-probe')\n"
            f"{fut.key!r} in data.spilled")
    assert result_of(kc, code) == "True"
    assert result_of(kc, f"data[{fut.key!r}]") == "100"


def test_running_tasks_shows_running_task(client, workers, kernel):
    path, kc = kernel
    long = client.submit(time.sleep, 60, workers=[workers[0]], pure=False)
    try:
        assert wait_until(lambda: long.key in result_of(kc, "running_tasks()"))
        threads = result_of(kc, f"running_tasks()[{long.key!r}]")
        assert "jf-task" in threads
    finally:
        long.cancel()
    assert wait_until(lambda: long.key not in result_of(kc, "running_tasks()"))


def test_get_client_in_kernel(kernel):
    path, kc = kernel
    assert result_of(kc, "get_client().submit(lambda x: x * 2, 21, pure=False).result()") == "42"


def test_interrupt_ends_sleeping_cell(client, workers, kernel):
    path, kc = kernel
    msg_id = start_cell(kc, "import time; time.sleep(60)")
    wait_cell_started(kc, msg_id)
    start = time.monotonic()
    interrupt_until_done(client, workers[0])
    reply = reply_to(kc, msg_id)
    assert time.monotonic() - start < 5
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt"
    assert result_of(kc, "1 + 1") == "2"  # the kernel goes on
    assert client.interrupt_worker_kernel(workers[0]) is False  # no cell runs now


def test_interrupt_request_from_jupyter_ends_busy_cell(client, workers, kernel):
    """JupyterLab and jupyter console interrupt with a control message: only the cell stops, not the worker."""
    path, kc = kernel
    pid = result_of(kc, "import os; os.getpid()")
    msg_id = start_cell(kc, "while True:\n    pass")
    wait_cell_started(kc, msg_id)
    deadline = time.monotonic() + REPLY_TIMEOUT
    while True:  # until the cell's code runs: a request before that interrupts nothing
        kc.control_channel.send(kc.session.msg("interrupt_request", {}))
        try:
            reply = reply_to(kc, msg_id, timeout=0.5)
            break
        except Exception:
            assert time.monotonic() < deadline
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt"
    assert result_of(kc, "os.getpid()") == pid
    assert client.submit(inc, 1, workers=[workers[0]], pure=False).result(timeout=REPLY_TIMEOUT) == 2


def test_tasks_run_while_kernel_cell_blocks(client, workers, kernel):
    path, kc = kernel
    msg_id = start_cell(kc, "import time; time.sleep(60)")
    wait_cell_started(kc, msg_id)
    futures = client.map(inc, range(40), workers=[workers[0]], pure=False)
    done, not_done = wait(futures, timeout=REPLY_TIMEOUT)
    assert not not_done and client.gather(futures) == list(range(1, 41))
    interrupt_until_done(client, workers[0])
    assert reply_to(kc, msg_id)["ename"] == "KeyboardInterrupt"


def test_task_output_reaches_client_not_kernel(client, workers, kernel):
    path, kc = kernel
    text = f"task-says-{uuid.uuid4().hex}"
    seen = []
    unsubscribe = client.subscribe_output(lambda key, worker, stream, chunk: seen.append((worker, stream, chunk)))
    try:
        assert client.submit(shout, text, workers=[workers[0]], pure=False).result() == len(text)
        assert wait_until(lambda: any(text in chunk for _, _, chunk in seen))
        content, out = execute(kc, "print('kernel-says-hello')")
    finally:
        unsubscribe()
    streams = "".join(c["text"] for kind, c in out if kind == "stream")
    assert "kernel-says-hello" in streams and text not in streams
    assert not any("kernel-says-hello" in chunk for _, _, chunk in seen)


def test_jupyter_server_external_kernels_find_it(kernel, kernel_dir):
    """jupyter_server lists connection files of its external_connection_dir as kernels (jupyter_client's
    MultiKernelManager does it): ours is one, and a client it makes runs cells in the worker."""
    path, _ = kernel
    mkm = MultiKernelManager(external_connection_dir=kernel_dir)
    mkm.list_kernel_ids()
    [kernel_id] = [k for k, f in mkm.kernel_id_to_connection_file.items() if str(f) == path]
    km = mkm.get_kernel(kernel_id)
    assert km.kernel_name == "python3" and not km.owns_kernel
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=REPLY_TIMEOUT)
        assert result_of(kc, "type(worker).__name__") == "'Worker'"
    finally:
        kc.stop_channels()


# --------------------------------------------------------------------------- opening and closing

def test_close_removes_file_and_reopen_works(client, workers, kernel_dir):
    worker = workers[1]
    path = client.open_worker_kernel(worker, connection_dir=kernel_dir)
    assert os.path.exists(path)
    assert client.close_worker_kernel(worker) is True
    assert not os.path.exists(path)
    assert client.close_worker_kernel(worker) is False  # nothing open now
    again = client.open_worker_kernel(worker, connection_dir=kernel_dir)
    kc = connect(again)
    try:
        assert result_of(kc, "1 + 1") == "2"
    finally:
        kc.stop_channels()
        client.close_worker_kernel(worker)
    assert not os.path.exists(again)


def test_shutdown_from_jupyter_stops_kernel_not_worker(client, workers, kernel_dir):
    worker = workers[1]
    path = client.open_worker_kernel(worker, connection_dir=kernel_dir)
    kc = connect(path)
    try:
        kc.shutdown()
        assert wait_until(lambda: not os.path.exists(path))
    finally:
        kc.stop_channels()
    assert client.submit(inc, 2, workers=[worker], pure=False).result(timeout=REPLY_TIMEOUT) == 3
    assert client.close_worker_kernel(worker) is False
    reopened = client.open_worker_kernel(worker, connection_dir=kernel_dir)  # a new kernel, same name
    assert reopened == path and os.path.exists(path)
    client.close_worker_kernel(worker)


def test_default_connection_dir(client, workers, tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_FUTURES_KERNEL_DIR", str(tmp_path / "from-env"))
    path = client.open_worker_kernel(workers[1])
    try:
        assert os.path.dirname(path) == str(tmp_path / "from-env") and os.path.exists(path)
    finally:
        client.close_worker_kernel(workers[1])
    monkeypatch.delenv("JUPYTER_FUTURES_KERNEL_DIR")
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    assert default_kernel_dir() == str(tmp_path / "runtime" / "jupyter_futures" / "kernels")


def test_unknown_worker_is_a_clear_error(client, workers, kernel_dir):
    with pytest.raises(ValueError, match="no worker 'no-such-worker'.*" + workers[0]):
        client.open_worker_kernel("no-such-worker", connection_dir=kernel_dir)
    with pytest.raises(ValueError, match="no worker"):
        client.interrupt_worker_kernel("no-such-worker")


def test_missing_ipykernel_and_cluster_close(tmp_path):
    """Own cluster: a worker without ipykernel says what to install; closing the cluster removes the file."""
    with Client(n_workers=1, threads_per_worker=1) as c:
        [worker] = c.scheduler_info()["workers"]
        c.run(block_ipykernel)
        with pytest.raises(ImportError, match="pip install ipykernel"):
            c.open_worker_kernel(worker, connection_dir=str(tmp_path))
        c.run(unblock_ipykernel)
        path = c.open_worker_kernel(worker, connection_dir=str(tmp_path))
        kc = connect(path)
        try:
            assert result_of(kc, "1 + 1") == "2"
        finally:
            kc.stop_channels()
    assert wait_until(lambda: not os.path.exists(path))


def test_data_store_is_iterable_with_spilled_values():
    store = DataStore(memory_limit=1000)  # spills past 600 bytes
    for i in range(4):
        store.put(f"k{i}", list(range(i * 10)), 300)
    try:
        assert store.spilled
        assert {k: store[k] for k in store} == {f"k{i}": list(range(i * 10)) for i in range(4)}
    finally:
        store.close()
