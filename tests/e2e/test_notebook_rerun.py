"""Re-running a notebook, restarting its kernel and reopening it, in JupyterLab (headless Chromium).

What a person reads in the outputs of futures and progress bars must stay true:
A. Run All twice: the second run says how long the task ran, not how long ago the first run was.
B. A kernel restart from JupyterLab: displays that were still live become records of their last
   state, marked "no longer live"; what is saved holds no widget view and nothing marked live.
C. The notebook closed and reopened: readable HTML, never "Error displaying widget"; a saved copy
   whose kernel is gone says so.

One lab server and one page for the module; the tests run in order and build on each other.
"""
from __future__ import annotations

import json
import re
import shutil

import pytest

from .conftest import TOKEN, write_notebook

pytestmark = pytest.mark.timeout(300)

NOTEBOOK = "rerun.ipynb"
GONE = "rerun-kernel-gone.ipynb"  # a copy saved while displays were live, opened with another kernel
CELLS = [
    ("setup-cell",
     "%load_ext jupyter_futures\n%futures start -n 2 -t 1\nfrom jupyter_futures import progress\nimport time\n\n"
     "def nap(seconds, value=None):\n    end = time.monotonic() + seconds\n    while time.monotonic() < end:\n"
     "        time.sleep(0.02)\n    return seconds if value is None else value"),
    ("future-cell", "f = client.submit(nap, 1.0, 42, pure=True)\nf"),
    ("progress-cell", "fs = client.map(nap, [0.5 + i / 1000 for i in range(8)], pure=True)\nprogress(fs)"),
    ("gather-cell", "client.gather(fs)[:3]"),
]
LONG_CELLS = [("long-cell", "g = client.submit(nap, 60, pure=False)\ng"), ("client-cell", "client")]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

# The notebook panel of a path, its cells' output text, the kernel's status (page-side helpers).
JS_HELPERS = """
window.jfPanel = path => Array.from(window.jupyterapp.shell.widgets('main'))
  .find(w => w.context && w.context.path === path) || null;
window.jfOutputText = (path, i) => {
  const p = window.jfPanel(path);
  const cell = p && p.content.widgets[i];
  return cell && cell.outputArea ? cell.outputArea.node.innerText : '';
};
window.jfKernelIdle = path => {
  const p = window.jfPanel(path);
  return !!p && p.sessionContext.session?.kernel?.status === 'idle';
};
"""


def run_command(page, command: str, args: dict | None = None):
    return page.evaluate("([c, a]) => window.jupyterapp.commands.execute(c, a)", [command, args or {}])


def helpers(page):
    page.evaluate(f"() => {{ {JS_HELPERS} }}")


def wait_idle(page, path: str, timeout=90_000):
    page.wait_for_function("p => window.jfKernelIdle(p)", arg=path, timeout=timeout)


def panel(page, path: str):
    """The notebook panel of ``path`` (a locator)."""
    return page.locator(f'[id="{page.evaluate("p => window.jfPanel(p).id", path)}"]')


def cell(page, path: str, index: int):
    return panel(page, path).locator(".jp-Cell").nth(index)


def output_text(page, path: str, index: int) -> str:
    return page.evaluate("([p, i]) => window.jfOutputText(p, i)", [path, index])


def all_outputs_text(page, path: str) -> str:
    return page.evaluate(
        "p => window.jfPanel(p).content.widgets.map(c => c.outputArea ? c.outputArea.node.innerText : '').join('\\n')",
        path)


def execution_counts(page, path: str) -> list:
    return page.evaluate(
        "p => { const cells = window.jfPanel(p).content.model.cells; const out = [];"
        " for (let i = 0; i < cells.length; i++) out.push(cells.get(i).executionCount ?? null); return out; }",
        path)


def set_theme(page, theme: str):
    run_command(page, "apputils:change-theme", {"theme": theme})
    light = "true" if theme == "JupyterLab Light" else "false"
    page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'", timeout=30_000)
    page.wait_for_timeout(500)  # the theme's CSS applies a frame after the attribute


def seconds(text: str) -> float:
    """'1.03 s' -> 1.03, '12.3 ms' -> 0.0123, '1 min 15 s' -> 75."""
    m = re.fullmatch(r"(?:(\d+) min )?([\d.]+) (µs|ms|s)", text.strip())
    assert m, text
    scale = {"µs": 1e-6, "ms": 1e-3, "s": 1.0}[m.group(3)]
    return int(m.group(1) or 0) * 60 + float(m.group(2)) * scale


def run_all_and_wait(page, before: list):
    """Run All, then wait until every cell ran again and the future and the progress bar are final."""
    run_command(page, "notebook:run-all-cells")
    page.wait_for_function(
        "([p, before]) => { const now = window.jfPanel(p).content.model.cells; if (now.length < 4) return false;"
        " for (let i = 0; i < 4; i++) { const c = now.get(i).executionCount;"
        "   if (c === null || c === undefined || (before[i] !== null && c <= before[i])) return false; }"
        " return true; }",
        arg=[NOTEBOOK, before[:4]], timeout=120_000)
    fut = cell(page, NOTEBOOK, 1).locator('.jf-future[data-status="finished"]')
    fut.wait_for(timeout=90_000)
    cell(page, NOTEBOOK, 2).locator('.jf-progress[data-state="done"]').wait_for(timeout=90_000)
    cell(page, NOTEBOOK, 3).locator(".jp-OutputArea-output", has_text="0.5").wait_for(timeout=60_000)
    wait_idle(page, NOTEBOOK)


def saved_outputs(root, path: str) -> list[tuple[int, dict]]:
    """(cell index, output) of the notebook saved at ``path``."""
    nb = json.loads((root / path).read_text())
    return [(i, o) for i, c in enumerate(nb["cells"]) for o in c.get("outputs", [])]


@pytest.fixture(scope="module")
def lab(lab_server, browser, artifacts):
    """The lab page with the notebook open and its kernel idle, shared by the tests of this module."""
    base, root = lab_server
    write_notebook(root / NOTEBOOK, CELLS)
    page = browser.new_page()
    page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={TOKEN}")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell", timeout=60_000)
    helpers(page)
    page.wait_for_function("p => !!window.jfPanel(p)", arg=NOTEBOOK, timeout=60_000)
    wait_idle(page, NOTEBOOK)
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    state = {"base": base, "root": root, "page": page, "artifacts": artifacts}
    yield state
    page.screenshot(path=str(artifacts / "rerun-last.png"))
    set_theme(page, "JupyterLab Light")
    page.close()


def test_run_all_twice_says_how_long_the_task_ran(lab):
    page, artifacts = lab["page"], lab["artifacts"]
    try:
        run_all_and_wait(page, execution_counts(page, NOTEBOOK))
        page.wait_for_timeout(3000)  # the second run comes a while after the first
        run_all_and_wait(page, execution_counts(page, NOTEBOOK))

        future = output_text(page, NOTEBOOK, 1)
        ran = re.search(r"ran ((?:\d+ min )?[\d.]+ (?:µs|ms|s))", future)
        assert ran, future
        # The task's run time (1.0 s of nap), not the time since the first run (4 s and more).
        assert 0.9 <= seconds(ran.group(1)) <= 2.0, future
        assert "finished" in future
        progress = output_text(page, NOTEBOOK, 2)
        assert re.search(r"\b8 / 8\b", progress), progress
        took = re.search(r"8 / 8 tasks done · ((?:\d+ min )?[\d.]+ (?:µs|ms|s))", progress)
        assert took, progress
        assert seconds(took.group(1)) < 3.0, progress
        assert "[0.5, 0.501, 0.502]" in output_text(page, NOTEBOOK, 3)
        assert "Error displaying widget" not in all_outputs_text(page, NOTEBOOK)
        lab["rerun_future"], lab["rerun_progress"] = future, progress

        cell(page, NOTEBOOK, 0).scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "rerun-light.png"))
        set_theme(page, "JupyterLab Dark")
        page.screenshot(path=str(artifacts / "rerun-dark.png"))
    except Exception:
        page.screenshot(path=str(artifacts / "rerun-failed.png"))
        raise
    finally:
        set_theme(page, "JupyterLab Light")


def test_restart_marks_live_outputs_no_longer_live(lab):
    page, artifacts, root = lab["page"], lab["artifacts"], lab["root"]
    try:
        # Two more cells: a long task and the client, both live displays when the kernel restarts.
        for _, source in LONG_CELLS:
            page.evaluate(
                "([p, src]) => { const nb = window.jfPanel(p).content;"
                " nb.activeCellIndex = nb.widgets.length - 1;"
                " return window.jupyterapp.commands.execute('notebook:insert-cell-below').then(() =>"
                "   nb.activeCell.model.sharedModel.setSource(src)); }",
                [NOTEBOOK, source])
            run_command(page, "notebook:run-cell")
        long_cell, client_cell = cell(page, NOTEBOOK, 4), cell(page, NOTEBOOK, 5)
        long_cell.locator('.jupyter-widgets .jf-future[data-status="running"]').wait_for(timeout=60_000)
        client_cell.locator('.jupyter-widgets .jf-client[data-status="running"]').wait_for(timeout=60_000)
        page.wait_for_timeout(2000)  # the running future's clock ticks a little

        # Saved while live: a copy of the notebook, opened in test C by a kernel that never made them.
        run_command(page, "docmanager:save")
        live = {(i, o["metadata"]["jupyter_futures"]["kind"]): o for i, o in saved_outputs(root, NOTEBOOK)
                if o.get("metadata", {}).get("jupyter_futures", {}).get("live")}
        # The two new cells at least (the re-run setup cell shows the running client again, live too).
        assert {(4, "future"), (5, "client")} <= set(live), \
            {k: (o["metadata"], o["data"].get("text/plain")) for k, o in live.items()}
        assert all(WIDGET_VIEW in o["data"] for o in live.values()), live
        lab["live_before_restart"] = sorted(live)
        shutil.copy(root / NOTEBOOK, root / GONE)

        # Restart from JupyterLab, accepting its dialog.
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:restart-kernel'); }")
        page.locator(".jp-Dialog .jp-mod-accept").click(timeout=30_000)
        note = long_cell.locator(".jf-not-live .jf-not-live-note")
        note.wait_for(timeout=30_000)
        wait_idle(page, NOTEBOOK)
        page.wait_for_timeout(1500)  # the widget manager has had its chance to break the views

        long_text = output_text(page, NOTEBOOK, 4)
        assert "no longer live: the kernel restarted" in long_text, long_text
        assert long_cell.locator('.jf-not-live .jf-future[data-status="running"]').count() == 1
        # Its last state as the live view showed it, not the output's own text/html (made with it).
        clock = re.search(r"running for ((?:\d+ min )?[\d.]+ (?:µs|ms|s))", long_text)
        assert clock and seconds(clock.group(1)) >= 0.5, long_text
        made_with = "".join(live[(4, "future")]["data"]["text/html"])
        assert long_cell.locator(".jf-not-live .jf-future").evaluate("e => e.outerHTML") != made_with
        assert client_cell.locator('.jf-not-live .jf-client').count() == 1
        for index, kind in lab["live_before_restart"]:  # every display live before the restart says so now
            text = output_text(page, NOTEBOOK, index)
            assert "no longer live: the kernel restarted" in text, (index, kind, text)
        # Records of an end stay as they were: they are true, not "no longer live".
        assert output_text(page, NOTEBOOK, 1) == lab["rerun_future"]
        assert output_text(page, NOTEBOOK, 2) == lab["rerun_progress"]
        everything = all_outputs_text(page, NOTEBOOK)
        assert "Error displaying widget" not in everything and "Loading widget" not in everything
        assert panel(page, NOTEBOOK).locator(".jupyter-widgets .jf-future, .jupyter-widgets .jf-client").count() == 0
        long_cell.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "rerun-restart-light.png"))
        set_theme(page, "JupyterLab Dark")
        page.screenshot(path=str(artifacts / "rerun-restart-dark.png"))
        set_theme(page, "JupyterLab Light")

        # What is saved: nothing live, no widget view; the two records say why they stopped.
        run_command(page, "docmanager:save")
        shutil.copy(root / NOTEBOOK, artifacts / "rerun-restarted.ipynb")  # to read, when this fails
        outputs = saved_outputs(root, NOTEBOOK)
        metas = [(i, o) for i, o in outputs if "jupyter_futures" in o.get("metadata", {})]
        assert metas, outputs
        for i, o in metas:
            meta = o["metadata"]["jupyter_futures"]
            assert meta["live"] is False, (i, o)
            assert WIDGET_VIEW not in o["data"], (i, o)
            assert o["output_type"] == "display_data"
        stale = {(i, o["metadata"]["jupyter_futures"]["kind"]): o for i, o in metas
                 if o["metadata"]["jupyter_futures"].get("stale")}
        assert sorted(stale) == lab["live_before_restart"], metas
        for o in stale.values():
            assert o["metadata"]["jupyter_futures"]["stale"] == "the kernel restarted"
            html = "".join(o["data"]["text/html"])
            assert html.startswith('<div class="jf-not-live" data-reason="the kernel restarted">'), html
            assert "".join(o["data"]["text/plain"]).startswith("(no longer live: the kernel restarted)\n")
        assert not any(WIDGET_VIEW in o.get("data", {}) for _, o in outputs)
    except Exception:
        page.screenshot(path=str(artifacts / "rerun-restart-failed.png"))
        raise


def test_reopened_notebook_reads_without_its_widgets(lab):
    page, artifacts = lab["page"], lab["artifacts"]
    try:
        page.evaluate("p => window.jfPanel(p).close()", NOTEBOOK)
        page.wait_for_function("p => !window.jfPanel(p)", arg=NOTEBOOK, timeout=30_000)
        run_command(page, "docmanager:open", {"path": NOTEBOOK})
        page.wait_for_function("p => !!window.jfPanel(p)", arg=NOTEBOOK, timeout=30_000)
        cell(page, NOTEBOOK, 1).locator('.jf-future[data-status="finished"]').wait_for(timeout=30_000)
        wait_idle(page, NOTEBOOK)
        page.wait_for_timeout(1500)  # the widget manager restores (or fails to) after the kernel is idle
        assert "finished" in output_text(page, NOTEBOOK, 1)
        assert re.search(r"\b8 / 8\b", output_text(page, NOTEBOOK, 2))
        assert "no longer live: the kernel restarted" in output_text(page, NOTEBOOK, 4)
        everything = all_outputs_text(page, NOTEBOOK)
        assert "Error displaying widget" not in everything and "Loading widget" not in everything
        cell(page, NOTEBOOK, 0).scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "rerun-reopened.png"))

        # The copy saved while the displays were live, opened with a kernel of its own: they say so.
        run_command(page, "docmanager:open", {"path": GONE})
        page.wait_for_function("p => !!window.jfPanel(p)", arg=GONE, timeout=30_000)
        wait_idle(page, GONE)
        gone_cell = cell(page, GONE, 4)
        gone_cell.locator(".jf-not-live-note").wait_for(timeout=30_000)
        page.wait_for_timeout(1500)
        for index, kind in lab["live_before_restart"]:
            text = output_text(page, GONE, index)
            assert "no longer live: its kernel is gone" in text, (index, kind, text)
        everything = all_outputs_text(page, GONE)
        assert "Error displaying widget" not in everything and "Loading widget" not in everything
        assert "finished" in output_text(page, GONE, 1)
        # Showing the records is no edit: the notebook is not marked as changed.
        assert page.evaluate("p => window.jfPanel(p).context.model.dirty", GONE) is False
        gone_cell.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "rerun-kernel-gone.png"))
    except Exception:
        page.screenshot(path=str(artifacts / "rerun-reopen-failed.png"))
        raise
