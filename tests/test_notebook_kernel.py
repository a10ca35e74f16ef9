"""Widgets, task output and interrupts in a real Jupyter kernel (ipykernel), driven through jupyter_client.

Each test reads what the kernel publishes: display data, stream output, and the widget comm
messages a frontend would receive. A display is made once; later changes must arrive by themselves.
"""
from __future__ import annotations

import os
import signal
import time

import pytest

pytest.importorskip("ipykernel")
pytest.importorskip("ipywidgets")

from notebook_helpers import WIDGET_MIME, Kernel  # noqa: E402

pytestmark = pytest.mark.timeout(180)

SETUP = """
%load_ext jupyter_futures
%futures start -n 2 -t 1
import time

def nap(seconds, value=None):
    for _ in range(int(seconds * 50)):   # short sleeps: interruptible
        time.sleep(0.02)
    return value if value is not None else seconds

def inc(x):
    return x + 1

def might_fail(x):
    if x < 0:
        raise ValueError("Negative value")
    return x ** 2
"""


@pytest.fixture(scope="module")
def kernel():
    k = Kernel()
    try:
        run = k.execute(SETUP, timeout=90)
        assert run.ok, run.error() or run.stream()
        yield k
    finally:
        k.close()


def test_future_widget_goes_pending_running_finished_without_redisplay(kernel):
    run = kernel.execute("f = client.submit(nap, 1.0, 42)\nf")
    assert run.ok, run.error()
    (model,) = run.widget_ids()
    # Pending when displayed; on a loaded machine it may be reported running by the time the cell ends.
    assert kernel.widgets[model]["status"] in ("pending", "running")
    kernel.wait_for(lambda: kernel.widgets[model].get("status") == "finished", timeout=30)
    statuses = [u["status"] for u in kernel.updates[model] if "status" in u]
    assert "running" in statuses, statuses
    assert statuses.index("running") < statuses.index("finished")
    final = kernel.widgets[model]
    assert final["result_type"] == "int" and final["nbytes"] > 0
    assert final["worker"].startswith("127.0.0.1:")
    assert final["elapsed"] >= 0.9
    assert "finished" in final["value"] and "nap" in final["value"]
    # The display was made once: the later states came as updates of the same model.
    assert run.data()[0][WIDGET_MIME]["model_id"] == model


def test_bundle_carries_static_fallbacks(kernel):
    run = kernel.execute("g = client.submit(nap, 5); g")
    (bundle,) = run.data()
    assert {"text/plain", "text/html", WIDGET_MIME} <= set(bundle)
    assert "nap" in bundle["text/html"] and "nap" in bundle["text/plain"]
    kernel.execute("g.cancel()")


def test_a_future_done_when_displayed_is_shown_as_its_record_without_a_widget(kernel):
    run = kernel.execute("g = client.submit(inc, 1); g.result(); g")
    (bundle,) = run.data()
    assert WIDGET_MIME not in bundle
    assert "finished" in bundle["text/html"] and "inc" in bundle["text/plain"]
    (display_id,) = run.display_ids()
    assert kernel.facts(display_id)["status"] == "finished"
    assert kernel.shown(display_id)["live"] is False


def test_erred_future_widget_shows_remote_traceback(kernel):
    run = kernel.execute("bad = client.submit(might_fail, -5)\nbad")
    (display_id,) = run.display_ids()
    kernel.wait_for(lambda: kernel.facts(display_id).get("status") == "error", timeout=30)
    state = kernel.facts(display_id)
    assert state["exception"] == "ValueError: Negative value"
    html = state["value"]
    assert "jf-traceback" in html and "<details" in html  # collapsible
    assert "might_fail" in html
    # The failing line, from the notebook's own cell source, highlighted.
    failing = html.split('class="jf-failing-line"', 1)[1].split("</span></span>", 1)[0]
    assert "raise ValueError(&quot;Negative value&quot;)" in failing
    assert "Cell </span>" in html and "In[1], line " in html  # labelled like IPython: Cell In[1], line N


def test_progress_bars_per_function_with_counts(kernel):
    run = kernel.execute(
        "from jupyter_futures import progress\n"
        "xs = client.map(nap, [0.02] * 30, range(1, 31))\n"
        "ys = client.map(might_fail, [1, 2, -1, 3])\n"
        "progress(xs, {'y': ys})")
    assert run.ok, run.error()
    (model,) = run.widget_ids()
    kernel.wait_for(lambda: kernel.widgets[model].get("done") == 34, timeout=30)
    state = kernel.widgets[model]
    assert state["total"] == 34 and state["erred"] == 1 and state["finished"] == 33
    groups = {g["name"]: g for g in state["groups"]}
    assert groups["nap"] == {"name": "nap", "total": 30, "finished": 30, "erred": 0, "cancelled": 0}
    assert groups["might_fail"]["erred"] == 1 and groups["might_fail"]["total"] == 4
    assert 'data-state="done"' in state["value"]


def test_progress_counts_cancelled_futures(kernel):
    run = kernel.execute("from jupyter_futures import progress\n"
                         "sleepy = client.map(nap, [30] * 3, range(100, 103))\n"
                         "progress(sleepy)")
    (model,) = run.widget_ids()
    assert kernel.execute("client.cancel(sleepy)").ok
    kernel.wait_for(lambda: kernel.widgets[model].get("done") == 3, timeout=15)
    assert kernel.widgets[model]["cancelled"] == 3 and 'data-state="done"' in kernel.widgets[model]["value"]


def test_progress_returns_at_once_and_is_throttled(kernel):
    run = kernel.execute(
        "from jupyter_futures import progress\n"
        "t0 = time.time()\n"
        "many = client.map(nap, [0.001] * 4000, range(1, 4001))\n"
        "progress(many)\n"
        "time.time() - t0")
    assert float(run.value()) < 2.0  # did not wait for the 4000 tasks
    (model,) = run.widget_ids()
    start = time.monotonic()
    kernel.wait_for(lambda: kernel.widgets[model].get("done") == 4000, timeout=60)
    duration = time.monotonic() - start
    updates = kernel.updates[model]
    # At most ~10 updates a second (plus the clock's ticks, which fall on the same rounds).
    assert len(updates) <= 12 * (duration + 1) + 5, (len(updates), duration)
    assert updates and updates[-1].get("done", kernel.widgets[model]["done"]) == 4000


def test_list_of_10000_futures_displays_as_one_widget(kernel):
    run = kernel.execute("lots = client.map(inc, range(10_000))\nlots")
    assert run.ok, run.error()
    bundles = run.data()
    assert len(bundles) == 1
    (model,) = run.widget_ids()
    assert kernel.widgets[model]["total"] == 10_000
    assert len(bundles[0]["text/plain"]) < 500
    assert "list of 10000 futures" in bundles[0]["text/plain"]
    kernel.wait_for(lambda: kernel.widgets[model].get("done") == 10_000, timeout=60)
    # Ordinary lists still display as lists.
    assert kernel.execute("[1, 2, 3]").value() == "[1, 2, 3]"


def test_task_output_appears_in_the_submitting_cell(kernel):
    code = ("def chatty(x):\n"
            "    print('hello from', x)\n"
            "    return x\n"
            "client.submit(chatty, 7).result()")
    run = kernel.execute(code)
    out = run.stream("stdout")
    assert "hello from 7" in out
    line = next(line for line in out.splitlines() if "hello from 7" in line)
    assert line.startswith("[chatty-") and " @ 127.0.0.1:" in line
    # Output printed after the cell finished still goes to that cell.
    late = kernel.execute("def later():\n    nap(0.5)\n    print('late news')\n"
                          "late_future = client.submit(later)")
    cell_id = late.reply["parent_header"]["msg_id"]

    def late_streams():
        return [m for m in kernel.log if m["msg_type"] == "stream" and "late news" in m["content"]["text"]]
    kernel.wait_for(lambda: late_streams(), timeout=20)
    assert all(m["parent_header"]["msg_id"] == cell_id for m in late_streams())
    assert late_streams()[0]["content"]["text"].startswith("[later-")


def test_keyboard_interrupt_cancels_the_cells_futures(kernel):
    code = ("def loud_nap(seconds, i):\n"
            "    print('started', i)\n"
            "    return nap(seconds, i)\n"
            "long = client.map(loud_nap, [30] * 5, range(5))\n"
            "client.gather(long)")
    msg_id = kernel.execute(code, wait=False)

    def started():
        return sum(m["content"]["text"].count("started") for m in kernel.log
                   if m["msg_type"] == "stream" and m["parent_header"].get("msg_id") == msg_id)
    kernel.wait_for(lambda: started() >= 2, timeout=30)  # two running (2 workers x 1 thread)
    os.kill(kernel.pid, signal.SIGINT)  # Ctrl-C (the stop button also signals the cluster: see below)
    run = kernel.collect(msg_id, timeout=30)
    assert run.reply["content"]["status"] == "error"
    assert run.reply["content"]["ename"] == "KeyboardInterrupt"
    assert "cancelled 5 unfinished futures this cell submitted (2 running)" in run.stream("stderr")
    assert kernel.execute("sorted({f.status for f in long})").value() == "['cancelled']"
    # The running ones stopped: both workers are free again at once.
    start = time.monotonic()
    assert kernel.execute("client.gather(client.map(inc, [100, 200]))", timeout=30).value() == "[101, 201]"
    assert time.monotonic() - start < 10
    assert started() == 2  # the other three never started


def test_client_widget_is_live(kernel):
    run = kernel.execute("client")
    (model,) = run.widget_ids()
    state = kernel.widgets[model]
    assert state["n_workers"] == 2 and state["threads"] == 2 and state["status"] == "running"
    assert state["address"].startswith("tcp://127.0.0.1:")
    assert state["dashboard_link"].startswith("http://")
    assert 'class="jf-dashboard-link"' in state["value"] and 'target="_blank"' in state["value"]
    before = state["in_memory"]
    kept = kernel.execute("kept = client.map(inc, range(20_000, 20_050)); client.gather(kept)[-1]")
    assert kept.value() == "20050"
    # The widget, displayed once, follows the cluster by itself.
    kernel.wait_for(lambda: kernel.widgets[model]["in_memory"] != before, timeout=20)
    assert "worker" in kernel.widgets[model]["value"]


def test_stop_button_leaves_the_cluster_running():
    k = Kernel()
    try:
        assert k.execute(SETUP, timeout=90).ok
        msg_id = k.execute("nap(30)", wait=False)
        k.wait_for(lambda: any(m["msg_type"] == "status" and m["parent_header"].get("msg_id") == msg_id
                               and m["content"]["execution_state"] == "busy" for m in k.log), timeout=30)
        time.sleep(0.5)
        k.km.interrupt_kernel()  # what JupyterLab's stop button does: SIGINT to the kernel's process group
        k.collect(msg_id, timeout=30)
        time.sleep(1)
        run = k.execute("client.status, len(client.scheduler_info()['workers']), "
                        "client.submit(inc, 5).result(timeout=10)", timeout=30)
        assert run.ok and run.value() == "('running', 2, 6)", run.error()
    finally:
        k.close()
