"""Notebooks as people run them, in a real kernel: re-runs, cells out of order, Run All twice, an
interrupted map, a kernel restart, two notebooks on one cluster, a saved notebook read later.

Each test reads what a frontend keeps of each display (the latest display_data or update for its
id, as JupyterLab and nbclient do) and checks the text a person would read.
"""
from __future__ import annotations

import re

import psutil
import pytest

pytest.importorskip("ipykernel")
pytest.importorskip("ipywidgets")

from notebook_helpers import Kernel  # noqa: E402

pytestmark = pytest.mark.timeout(240)

NAP = """
import time
from jupyter_futures import Client, progress

def nap(seconds, value=None):
    for _ in range(int(seconds * 50)):   # short sleeps: interruptible
        time.sleep(0.02)
    return value if value is not None else seconds

def plus_one(a):
    return a + 1
"""
SETUP = "%load_ext jupyter_futures\n%futures start -n 2 -t 1\n" + NAP
FUTURE_CELL = "f = client.submit(nap, 1.0, 42, pure=True)\nf"
MAP_CELL = "fs = client.map(nap, [0.5 + i / 1000 for i in range(6)], pure=True)\nprogress(fs)"
GATHER_CELL = "client.gather(fs)[:2]"


def ran_seconds(text: str) -> float:
    """The run time a future's display states ('ran 1.02 s', 'ran 980.0 ms')."""
    found = re.search(r"ran ([\d.]+) (ms|s)\b", text)
    assert found, text
    return float(found.group(1)) / (1000 if found.group(2) == "ms" else 1)


def progress_seconds(text: str) -> float:
    """The elapsed time on a progress display's last line ('2.51 s, already computed')."""
    found = re.match(r"([\d.]+) (ms|s)\b", text.splitlines()[-1])
    assert found, text
    return float(found.group(1)) / (1000 if found.group(2) == "ms" else 1)


def ended(kernel: Kernel, display_id: str, timeout: float = 60) -> dict:
    """The display once it is the record of its end (no longer a live widget)."""
    kernel.wait_for(lambda: kernel.shown(display_id)["live"] is False, timeout=timeout)
    return kernel.shown(display_id)


def run(kernel: Kernel, code: str, timeout: float = 90):
    result = kernel.execute(code, timeout=timeout)
    assert result.ok, result.error() or result.stream()
    return result


@pytest.fixture(scope="module")
def kernel():
    k = Kernel()
    try:
        run(k, SETUP)
        yield k
    finally:
        k.close()


def test_run_all_twice_shows_each_tasks_own_run_time_and_says_it_was_already_computed(kernel):
    first = [run(kernel, cell) for cell in (FUTURE_CELL, MAP_CELL, GATHER_CELL)]
    future_id, progress_id = first[0].display_ids()[0], first[1].display_ids()[0]
    first_future = ended(kernel, future_id)["text"]
    assert "already computed" not in first_future
    kernel.drain(2.0)  # time passes before the second Run All: it must not count as run time
    second = [run(kernel, cell) for cell in (FUTURE_CELL, MAP_CELL, GATHER_CELL)]
    future = ended(kernel, second[0].display_ids()[0])
    progress = ended(kernel, second[1].display_ids()[0])
    assert "finished" in future["text"] and "already computed" in future["text"], future["text"]
    assert 0.9 <= ran_seconds(future["text"]) < 2.0, future["text"]
    assert ran_seconds(future["text"]) == ran_seconds(first_future)
    assert "6 / 6" in progress["text"] and "already computed" in progress["text"], progress["text"]
    assert progress_seconds(progress["text"]) < 3.0, progress["text"]
    assert second[2].value() == "[0.5, 0.501]"
    # The first run's displays still tell their own story.
    assert kernel.shown(future_id)["text"] == first_future
    assert "6 / 6" in kernel.shown(progress_id)["text"]


def test_a_rerun_while_the_first_run_still_runs_shows_it_running_then_its_run_time(kernel):
    cell = "h = client.submit(nap, 2.0, 'h', pure=True)\nh"
    first = run(kernel, cell).display_ids()[0]
    kernel.drain(0.8)
    second = run(kernel, cell).display_ids()[0]
    shown = kernel.shown(second)
    assert shown["live"] and ("running" in shown["text"] or "pending" in shown["text"]), shown["text"]
    for display_id in (first, second):
        text = ended(kernel, display_id)["text"]
        assert "finished" in text and 1.9 <= ran_seconds(text) < 3.0, text
        assert "already computed" not in text  # it was computing, not computed, when asked again


def test_cells_run_out_of_order_show_what_is_true_now(kernel):
    make_x = "x = client.submit(nap, 0.3, 1, pure=True)\nx"
    make_y = "y = client.submit(plus_one, x, pure=True)\ny"
    early = kernel.execute(make_y.replace("x, pure", "x_not_yet_defined, pure"))
    assert "NameError" in early.error()
    texts = [ended(kernel, run(kernel, cell).display_ids()[0])["text"]
             for cell in (make_x, make_y, make_x, make_y, make_y)]
    assert all("finished" in t for t in texts), texts
    assert ["already computed" in t for t in texts] == [False, False, True, True, True]
    assert run(kernel, "y.result()").value() == "2"


def test_an_interrupted_map_cancels_its_tasks_and_its_rerun_completes_with_one_true_bar(kernel):
    cell = ("zs = client.map(nap, [0.4 + i / 1000 for i in range(10)], pure=True)\n"
            "progress(zs)\nres = client.gather(zs)")
    msg_id = kernel.execute(cell, wait=False)
    kernel.wait_for(lambda: any(w.get("done", 0) >= 2 and w.get("total") == 10 for w in kernel.widgets.values()))
    kernel.km.interrupt_kernel()
    interrupted = kernel.collect(msg_id)
    assert "KeyboardInterrupt" in interrupted.error()
    (old_id,) = kernel.display_ids_of(msg_id)
    old_bar = ended(kernel, old_id)
    assert "cancelled" in old_bar["text"] and "10 / 10" not in old_bar["text"], old_bar["text"]
    rerun = run(kernel, cell + "\nlen(res), round(res[-1], 3)")
    assert rerun.value() == "(10, 0.409)"
    (bar,) = rerun.display_ids()
    text = ended(kernel, bar)["text"]
    assert "10 / 10" in text and "cancelled" not in text, text
    # No orphan: the scheduler places nothing, and no worker thread still runs a task.
    idle = run(kernel, "sum(len(v) for v in client.processing().values()), "
                       "sum(client.run(lambda dask_worker: len(dask_worker.executor.executing)).values())")
    assert idle.value() == "(0, 0)", idle.value()
    assert all(not kernel.shown(d)["live"] for d in (old_id, bar))


def test_a_kernel_restart_stops_its_cluster_marks_old_outputs_and_leaves_other_clusters_running(tmp_path):
    from jupyter_futures import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None) as outside, \
            Client(outside) as here:
        k = Kernel()
        try:
            run(k, SETUP)
            run(k, f"other = Client({outside.scheduler_address!r})")
            shown_g = run(k, "g = client.submit(nap, 60, pure=False)\ng")
            running, (model,) = shown_g.display_ids()[0], shown_g.widget_ids()
            k.wait_for(lambda: k.widgets[model].get("status") == "running")
            own = psutil.Process(k.pid).children(recursive=True)
            assert len(own) >= 3  # the kernel's scheduler and two workers
            k.km.restart_kernel(now=False)
            gone, alive = psutil.wait_procs(own, timeout=15)
            assert not alive, [p.pid for p in alive]
            k.drain(0.5)
            shown = k.shown(running)
            assert shown["live"] is False and not shown["widget"]
            assert shown["text"].startswith("(no longer live: the kernel restarted)"), shown["text"]
            assert "running for" in shown["text"], shown["text"]
            assert "no longer live" in shown["html"]
            # The cluster made elsewhere kept running, and one line attaches to it again.
            assert here.submit(lambda: 5).result(timeout=30) == 5
            again = run(k, f"from jupyter_futures import Client; c = Client({outside.scheduler_address!r})\n"
                           f"c.submit(lambda v: v * 2, 21).result()")
            assert again.value() == "42"
        finally:
            k.close()


def test_two_notebooks_on_one_cluster_see_their_own_work_and_ctrl_c_cancels_only_its_own():
    from jupyter_futures import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster:
        attach = f"client = Client({cluster.scheduler_address!r})\n"
        a, b = Kernel(), Kernel()
        try:
            for k in (a, b):
                run(k, "%load_ext jupyter_futures\n" + NAP + attach)
            # The same pure calls in both notebooks: the same keys.
            cell = "ws = client.map(nap, [0.5 + i / 1000 for i in range(8)], pure=True)\nprogress(ws)\nout = client.gather(ws)"
            in_a = a.execute(cell, wait=False)
            b_run = run(b, cell.replace("progress(ws)\nout = client.gather(ws)", "progress(ws)"))
            a.wait_for(lambda: any(w.get("done", 0) >= 1 and w.get("total") == 8 for w in a.widgets.values()))
            a.km.interrupt_kernel()
            interrupted = a.collect(in_a)
            assert "KeyboardInterrupt" in interrupted.error()
            b_bar = ended(b, b_run.display_ids()[0])
            assert "8 / 8" in b_bar["text"] and "cancelled" not in b_bar["text"], b_bar["text"]
            assert run(b, "round(client.gather(ws)[-1], 3)").value() == "0.507"
            a_bar = ended(a, a.display_ids_of(in_a)[0])
            assert "cancelled" in a_bar["text"], a_bar["text"]
            # Work only A holds is A's to cancel; B's own keys are untouched by A's Ctrl-C.
            only_b = run(b, "mine = client.submit(nap, 1.5, 'b-only', pure=False)\nmine").display_ids()[0]
            in_a = a.execute("client.gather(client.map(nap, [1.0 + i / 1000 for i in range(4)], pure=False))",
                             wait=False)
            a.drain(0.5)
            a.km.interrupt_kernel()
            assert "KeyboardInterrupt" in a.collect(in_a).error()
            assert "finished" in ended(b, only_b)["text"]
        finally:
            a.close()
            b.close()


def test_a_saved_notebook_shows_each_display_as_it_last_was_without_a_kernel(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nbconvert = pytest.importorskip("nbconvert")

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in (SETUP, FUTURE_CELL, MAP_CELL, GATHER_CELL, "client")]
    nbclient.NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    saved = nbformat.read(path, as_version=4)
    outputs = {i: [o for o in cell.get("outputs", []) if "jupyter_futures" in o.get("metadata", {})]
               for i, cell in enumerate(saved.cells)}
    (future,), (bar,) = outputs[1], outputs[2]
    for out in (future, bar):
        assert out["output_type"] == "display_data"
        assert out["metadata"]["jupyter_futures"]["live"] is False
        assert "application/vnd.jupyter.widget-view+json" not in out["data"]
    assert "finished" in future["data"]["text/plain"] and 0.9 <= ran_seconds(future["data"]["text/plain"]) < 2
    assert "6 / 6" in bar["data"]["text/plain"]
    html, _ = nbconvert.HTMLExporter().from_notebook_node(saved)
    assert 'data-status="finished"' in html and 'data-state="done"' in html
    assert "model not found" not in html


def test_run_all_twice_on_the_quickstart_runs_clean_and_every_display_ends(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    from pathlib import Path

    notebook = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"
    cells = [c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"]
    k = Kernel()
    try:
        passes = []
        for _ in range(2):
            runs = [k.execute(cell, timeout=120) for cell in cells]
            for cell, result in zip(cells, runs):
                assert result.ok, (cell, result.error())
                assert "Traceback" not in result.stream("stderr"), (cell, result.stream("stderr"))
            passes.append(runs)
        k.execute("client.gather(squares)")  # everything submitted has ended
        k.drain(1.0)
        first, second = passes
        assert "using the cluster this notebook already runs" in second[0].stream("stdout")
        assert [r.value() for r in second if _has_value(r)] == [r.value() for r in first if _has_value(r)]
        ids = [d for r in second for d in r.display_ids()]
        kinds = {d: k.displays[d]["metadata"]["jupyter_futures"]["kind"] for d in ids}
        live = [d for d in ids if k.shown(d)["live"] and kinds[d] != "client"]
        assert not live, [k.shown(d)["text"] for d in live]
        slow = second[cells.index(next(c for c in cells if c.startswith("import time")))].display_ids()[0]
        assert "already computed" in k.shown(slow)["text"] and 0.9 <= ran_seconds(k.shown(slow)["text"]) < 2.5
    finally:
        k.close()


def _has_value(run) -> bool:
    return any(m["msg_type"] == "execute_result" for m in run.outputs)
