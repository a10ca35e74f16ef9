"""``%load_ext jupyter_futures``: ``%futures`` and ``%%remote`` in a real kernel."""
from __future__ import annotations

import pytest

pytest.importorskip("ipykernel")
pytest.importorskip("ipywidgets")

from notebook_helpers import Kernel  # noqa: E402

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def kernel():
    k = Kernel()
    try:
        yield k
    finally:
        k.close()


START = "%load_ext jupyter_futures\n%futures start -n 2 -t 1"


@pytest.fixture(scope="module")
def started(kernel):
    run = kernel.execute(START, timeout=90)
    assert run.ok, run.error()
    return kernel


def test_start_binds_and_displays_client(started):
    k = started
    assert k.execute("type(client).__name__, client.status").value() == "('Client', 'running')"
    assert k.execute("len(client.scheduler_info()['workers']), client.cluster.threads_per_worker").value() == "(2, 1)"


def test_bad_arguments_say_so_and_change_nothing(started):
    k = started
    before = k.execute("client.scheduler_address").value()
    cases = {
        "%futures start -n abc": "expected a whole number",
        "%futures start -t 0": "at least 1 thread",
        "%futures start --memory-limit lots": "expected a size",
        "%futures start -n 3": "a cluster with other settings is already running",
        "%futures scale": "the following arguments are required: n",
        "%futures scale -2": "expected",
        "%futures frobnicate": "unknown command 'frobnicate'",
        "%futures connect tcp://127.0.0.1:1": "already connected to another cluster",
        "%futures stop now": "unrecognized arguments: now",
        "%futures start -n 2 'unclosed": "No closing quotation",
    }
    for line, message in cases.items():
        run = k.execute(line)
        assert run.ok, (line, run.error())
        assert message in run.stream("stderr"), (line, run.stream())
    assert k.execute("client.scheduler_address").value() == before
    assert k.execute("len(client.scheduler_info()['workers'])").value() == "2"
    assert "usage: %futures scale [-h] n" in k.execute("%futures scale").stream("stderr")  # how to call it
    usage = k.execute("%futures")
    assert "%futures start [-n WORKERS]" in usage.stream()


def test_running_the_start_cell_again_keeps_and_shows_the_same_cluster(started):
    k = started
    before = k.execute("client.scheduler_address").value()
    again = k.execute(START)
    assert again.ok and not again.stream("stderr"), again.stream()
    assert "using the cluster this notebook already runs" in again.stream("stdout")
    assert len(again.display_ids()) == 1  # the client, shown again
    assert k.execute("client.scheduler_address").value() == before


def test_status_and_dashboard(started):
    k = started
    status = k.execute("%futures status")
    assert len(status.widget_ids()) == 1
    dash = k.execute("%futures dashboard")
    (bundle,) = dash.data()
    assert bundle["text/plain"].startswith("dashboard: http://127.0.0.1:")
    assert 'target="_blank"' in bundle["text/html"]


def test_remote_runs_the_cell_on_a_worker(started):
    k = started
    k.execute("offset = 100\ndef triple(x):\n    return 3 * x")
    run = k.execute("%%remote\nimport os\nprint('remote pid', os.getpid())\ntriple(offset) + 1")
    assert run.ok, run.error()
    assert len(run.display_ids()) == 1  # the future, displayed (a widget, or its record once done)
    assert k.execute("_remote.result(timeout=30)").value() == "301"
    assert k.execute("import os; _remote_pid = os.getpid(); _remote.key.startswith('remote-')").value() == "True"
    printed = "".join(m["content"]["text"] for m in k.log
                      if m["msg_type"] == "stream" and "remote pid" in m["content"]["text"]
                      and m["parent_header"].get("msg_id") == run.reply["parent_header"]["msg_id"])
    assert printed.startswith("[remote-") and "@ 127.0.0.1:" in printed
    assert str(k.execute("_remote_pid").value()) not in printed  # it ran in another process

    for index in (0, 1):  # both workers: a magic that ignored -w could not land on each of them
        chosen = k.execute(f"sorted(client.scheduler_info()['workers'])[{index}]").value().strip("'")
        named = k.execute(f"%%remote --name answer -w {chosen}\n"
                          "from jupyter_futures import get_worker\n(sum(range(10)), get_worker().address)")
        assert named.ok, named.error()
        assert k.execute("answer.result(timeout=30)").value() == repr((45, chosen))


def test_remote_errors_and_bad_arguments(started):
    k = started
    run = k.execute("%%remote --name failing\nraise KeyError('nope')")
    (display_id,) = run.display_ids()
    k.wait_for(lambda: k.facts(display_id).get("status") == "error", timeout=30)
    assert "KeyError" in k.facts(display_id)["exception"]
    assert "raise KeyError(&#x27;nope&#x27;)" in k.facts(display_id)["value"]

    k.execute("import threading\nunpicklable = threading.Lock()")
    for line, body, message in [
        ("-w nosuchworker", "1", "no worker 'nosuchworker'"),
        ("--name 1abc", "1", "--name needs a Python variable name"),
        ("--bogus", "1", "unrecognized arguments: --bogus"),
        ("", "unpicklable.locked()", "cannot send `unpicklable`"),
        ("", "def broken(:", "syntax error"),
    ]:
        run = k.execute(f"%%remote {line}\n{body}")
        assert run.ok and message in run.stream("stderr"), (line, body, run.stream(), run.error())
        assert not run.widget_ids()


def test_connect_without_address_names_the_variable_and_the_fix(kernel):
    run = kernel.execute("%load_ext jupyter_futures\n%futures connect")
    if "already connected" in run.stream("stderr"):  # the module's cluster is running here: stop it first
        kernel.execute("%futures stop")
        run = kernel.execute("%futures connect")
    assert "$JUPYTER_FUTURES_SCHEDULER is not set" in run.stream("stderr")
    assert "%futures connect tcp://HOST:PORT" in run.stream("stderr")


def test_scale_restart_stop_and_connect(kernel):
    k = kernel
    k.execute("%load_ext jupyter_futures")
    k.execute("%futures stop")
    run = k.execute("%futures start -n 1 -t 2 --memory-limit 1GB", timeout=90)
    assert run.ok and len(run.widget_ids()) == 1, run.error()
    assert k.execute("client.cluster.n_workers, client.cluster.threads_per_worker, "
                     "client.cluster.memory_limit").value() == "(1, 2, 1000000000)"
    assert "scaled to 2 workers" in k.execute("%futures scale 2", timeout=60).stream()
    assert k.execute("len(client.scheduler_info()['workers'])").value() == "2"
    old = k.execute("client.scheduler_address").value()
    assert k.execute("%futures restart", timeout=90).ok
    assert k.execute("client.scheduler_address").value() != old
    assert k.execute("client.cluster.threads_per_worker, len(client.scheduler_info()['workers'])").value() == "(2, 2)"
    address = k.execute("client.scheduler_address").value().strip("'")
    # Connect a second kernel-side client to this cluster by address, via the magic, after a stop of the first.
    k.execute("first = client\nfrom jupyter_futures.notebook import magics as _m")
    k.execute("get_ipython().magics_manager.registry['FuturesMagics'].client = None")  # forget, keep running
    run = k.execute(f"%futures connect {address}", timeout=60)
    assert run.ok and len(run.widget_ids()) == 1, (run.error(), run.stream())
    assert k.execute("client is not first and client.submit(sum, [1, 2]).result(timeout=30)").value() == "3"
    assert "stopped" in k.execute("%futures stop").stream()
    assert k.execute("'client' in globals()").value() == "False"
    k.execute("first.close()")
    assert "no client" in k.execute("%futures status").stream("stderr")
    assert "no cluster was started" in k.execute("%futures restart").stream("stderr")
