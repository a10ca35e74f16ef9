"""The jupyter_futures sidebar and dashboard panes in JupyterLab (headless Chromium).

One lab server and one page for the module; the tests run in order and build on each other:
a cluster from the sidebar's form, one from a notebook, scaling, the live panes while a map runs,
the notebook's futures, the profile, a console on a worker, light and dark screenshots, and the
layout coming back after a reload. Clusters have one or two single-threaded workers.
"""
from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest

from .conftest import TOKEN, write_notebook

# One story on one page: the steps run in order, in one test process (pytest runs with --dist loadfile).
pytestmark = pytest.mark.timeout(300)

SIDEBAR = "#jupyter-futures-sidebar"
NOTEBOOK = "futures.ipynb"
CELLS = [
    ("connect-cell", "import os, time\nfrom jupyter_futures import Client\nclient = Client(n_workers=1)"),
    ("pid-cell", "worker_pid = client.submit(lambda: os.getpid()).result()\nprint('WORKER_PID', worker_pid)"),
    ("map-cell",
     "def slow_inc(x):\n    time.sleep(0.05)\n    return x + 1\n\n"
     "def spin(x):\n    t = time.time()\n    s = 0\n    while time.time() - t < 0.25:\n"
     "        s += sum(i * i for i in range(2000))\n    return s\n\n"
     "squares = client.map(slow_inc, range(60))\nspun = client.map(spin, range(12))\n"
     "total = sum(client.gather(squares)) + len(client.gather(spun))\nprint('TOTAL', total)"),
]


def api(base: str, path: str):
    req = urllib.request.Request(f"{base}/jupyter-futures/api/{path}", headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


@pytest.fixture(scope="module")
def lab(lab_server, browser, artifacts):
    """The lab page, shared by the tests of this module, with the notebook written to its root."""
    base, root = lab_server
    write_notebook(root / NOTEBOOK, CELLS)
    page = browser.new_page()
    page.goto(f"{base}/lab?token={TOKEN}")
    page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="jupyter-futures-sidebar"]').wait_for(timeout=60_000)
    state = {"base": base, "page": page, "artifacts": artifacts}
    yield state
    page.screenshot(path=str(artifacts / "sidebar-last.png"))
    page.close()


def show_sidebar(page):
    if not page.locator(SIDEBAR).is_visible():
        page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="jupyter-futures-sidebar"]').click()
    page.wait_for_selector(f"{SIDEBAR}[data-state=loaded]", timeout=30_000)


def card(page, made_by: str):
    return page.locator(".jf-cluster", has=page.locator(".jf-cluster-madeby", has_text=made_by)).first


def run_command(page, command: str, args: dict | None = None):
    page.evaluate("([c, a]) => window.jupyterapp.commands.execute(c, a)", [command, args or {}])


def map_cell_group(page, cid: str):
    """The map cell's group in the notebook-futures pane of cluster ``cid`` (the pane opened first)."""
    run_command(page, "jupyter-futures:open-pane", {"cluster": cid, "kind": "futures"})
    group = page.locator(f'.jf-pane-futures[data-cluster="{cid}"] .jf-futures-group[data-cell="map-cell"]')
    group.wait_for(timeout=30_000)
    return group


def run_cell(page, index: int):
    """Runs one notebook cell the way a user does: click into it, Shift+Enter."""
    cell = page.locator(".jp-NotebookPanel .jp-Cell").nth(index)
    cell.locator(".cm-content").click()
    page.keyboard.press("Shift+Enter")
    return cell


def test_empty_state_then_cluster_from_the_form(lab):
    page = lab["page"]
    show_sidebar(page)
    empty = page.locator(".jf-sidebar-empty")
    empty.wait_for(timeout=30_000)
    assert "No clusters yet" in empty.text_content()
    assert page.locator(".jf-banner").is_hidden()
    page.click(".jf-new-cluster")
    page.wait_for_selector(".jf-cluster-form select[name=profile]")
    page.fill(".jf-cluster-form input[name=name]", "from-form")
    page.fill(".jf-cluster-form input[name=workers]", "1")
    page.click(".jf-form-submit")
    form_card = page.locator('.jf-cluster[data-name="from-form"]')
    form_card.wait_for(timeout=60_000)
    page.wait_for_selector('.jf-cluster[data-name="from-form"][data-workers="1"]', timeout=60_000)
    assert form_card.locator(".jf-cluster-madeby").text_content() == "jupyter-server"
    assert any(c["name"] == "from-form" for c in api(lab["base"], "clusters"))


def test_form_shows_the_servers_error(lab):
    page = lab["page"]
    page.click(".jf-new-cluster")
    page.wait_for_selector(".jf-cluster-form select[name=profile]")
    page.fill(".jf-cluster-form input[name=memory_limit]", "lots")
    page.click(".jf-form-submit")
    error = page.locator(".jf-cluster-form .jf-error")
    error.wait_for(timeout=30_000)
    assert "memory_limit" in error.text_content()
    page.locator(".jf-cluster-form button", has_text="Cancel").click()


def test_cluster_made_in_a_notebook_is_listed(lab):
    page = lab["page"]
    page.goto(f"{lab['base']}/lab/tree/{NOTEBOOK}?token={TOKEN}")
    page.locator(".jp-StatusBar-TextItem", has_text="| Idle").wait_for(timeout=90_000)
    show_sidebar(page)
    run_cell(page, 0)
    page.keyboard.press("Shift+Enter")  # the pid cell, now active
    pid_out = page.locator(".jp-NotebookPanel .jp-Cell").nth(1).locator(".jp-OutputArea-output", has_text="WORKER_PID")
    pid_out.wait_for(timeout=90_000)
    lab["worker_pid"] = int(re.search(r"WORKER_PID (\d+)", pid_out.text_content()).group(1))
    kernel_card = card(page, "kernel")
    kernel_card.wait_for(timeout=30_000)
    # Listed as soon as its scheduler is up; its worker shows by the next listing.
    kernel_card.locator("xpath=self::*[@data-workers='1']").wait_for(timeout=30_000)
    lab["nb_cluster"] = kernel_card.get_attribute("data-id")
    assert page.locator(".jf-cluster").count() == 2


def test_scaling_from_the_sidebar(lab):
    page = lab["page"]
    form_card = page.locator('.jf-cluster[data-name="from-form"]')
    form_card.locator(".jf-scale-input").fill("2")
    form_card.locator(".jf-scale").click()
    page.wait_for_selector('.jf-cluster[data-name="from-form"][data-workers="2"]', timeout=90_000)
    form_id = form_card.get_attribute("data-id")
    assert next(c for c in api(lab["base"], "clusters") if c["id"] == form_id)["workers"] == 2
    page.screenshot(path=str(lab["artifacts"] / "sidebar-light.png"))


def test_adapt_then_restart_from_the_sidebar(lab):
    page = lab["page"]
    form_card = page.locator('.jf-cluster[data-name="from-form"]')
    form_id = form_card.get_attribute("data-id")
    form_card.locator(".jf-adapt-min").fill("2")
    form_card.locator(".jf-adapt-max").fill("3")
    form_card.locator(".jf-adapt").click()
    form_card.locator(".jf-adapt-off").wait_for(timeout=60_000)
    assert "Adapting 2–3" in form_card.text_content()
    assert next(c for c in api(lab["base"], "clusters") if c["id"] == form_id)["adapt"] == {"minimum": 2, "maximum": 3}
    form_card.locator(".jf-adapt-off").click()
    form_card.locator(".jf-adapt-off").wait_for(state="detached", timeout=60_000)
    assert next(c for c in api(lab["base"], "clusters") if c["id"] == form_id)["adapt"] is None

    def worker_pids():
        return {w["pid"] for w in next(c for c in api(lab["base"], "clusters") if c["id"] == form_id)["worker_list"]}
    before = worker_pids()
    form_card.locator(".jf-restart").click()
    deadline = time.monotonic() + 90
    while (worker_pids() & before or len(worker_pids()) != 2) and time.monotonic() < deadline:
        page.wait_for_timeout(250)  # the browser's own clock: polling the REST, not a fixed wait for a result
    assert not worker_pids() & before and len(worker_pids()) == 2
    page.wait_for_selector('.jf-cluster[data-name="from-form"][data-workers="2"]', timeout=60_000)


def test_connect_select_running_panel_and_status_bar(lab):
    page = lab["page"]
    form_card = page.locator('.jf-cluster[data-name="from-form"]')
    form_id = form_card.get_attribute("data-id")
    address = form_card.locator(".jf-cluster-address").text_content()
    cells = page.locator(".jp-NotebookPanel .jp-Cell")
    before = cells.count()
    form_card.locator(".jf-connect").click()
    page.wait_for_function(f"() => document.querySelectorAll('.jp-NotebookPanel .jp-Cell').length === {before + 1}",
                           timeout=10_000)
    inserted = cells.nth(before).locator(".cm-content").text_content()
    assert "from jupyter_futures import Client" in inserted and f'Client("{address}")' in inserted
    # "use for new kernels" is the server's selection.
    form_card.locator(".jf-select-toggle").check()
    page.locator('.jf-cluster[data-name="from-form"] .jf-badge').wait_for(timeout=30_000)
    assert api(lab["base"], "selection")["id"] == form_id
    page.locator('.jf-cluster[data-name="from-form"] .jf-select-toggle').uncheck()
    page.locator('.jf-cluster[data-name="from-form"] .jf-badge').wait_for(state="detached", timeout=30_000)
    assert api(lab["base"], "selection")["id"] is None
    # The status bar shows a cluster; the Running panel has a section listing both.
    assert "workers" in page.locator(".jf-status-item").text_content()
    page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="jp-running-sessions"]').click()
    running = page.locator("#jp-running-sessions")
    running.locator(".lm-AccordionPanel-title", has_text="jupyter_futures clusters").wait_for(timeout=30_000)
    running.locator(".jf-running-item", has_text="from-form").wait_for(timeout=30_000)
    assert running.locator(".jf-running-item").count() == 2
    page.screenshot(path=str(lab["artifacts"] / "running-panel-light.png"))
    show_sidebar(page)


def test_task_stream_and_progress_while_a_map_runs(lab):
    page = lab["page"]
    cid = lab["nb_cluster"]
    card(page, "kernel").locator('.jf-pane-button[data-pane="layout"]').click()
    stream = page.locator(f'.jf-pane-task-stream[data-cluster="{cid}"]')
    stream.wait_for(timeout=30_000)
    page.locator(f'.jf-pane-workers[data-cluster="{cid}"][data-workers="1"]').wait_for(timeout=30_000)
    run_cell(page, 2)
    canvas = stream.locator("canvas")
    page.wait_for_function(
        "c => Number(c.dataset.drawnBars) > 5", arg=canvas.element_handle(), timeout=60_000)
    progress = page.locator(f'.jf-pane-progress[data-cluster="{cid}"]')
    progress.locator('.jf-progress-row[data-prefix="slow_inc"][data-pct="100.0"]').wait_for(timeout=90_000)
    progress.locator('.jf-progress-row[data-prefix="spin"][data-pct="100.0"]').wait_for(timeout=90_000)
    assert progress.locator('.jf-progress-row[data-prefix="slow_inc"]').get_attribute("data-total") == "60"
    # Bars are really on the canvas: some pixels differ from the background.
    coloured = canvas.evaluate("""c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - d[i + 1]) > 40 || Math.abs(d[i + 1] - d[i + 2]) > 40) n++;
        return n;
    }""")
    assert coloured > 100
    page.locator(".jp-OutputArea-output", has_text="TOTAL").wait_for(timeout=60_000)
    page.screenshot(path=str(lab["artifacts"] / "layout-light.png"))


def test_notebook_futures_pane(lab):
    page = lab["page"]
    cid = lab["nb_cluster"]
    card(page, "kernel").locator('.jf-pane-button[data-pane="futures"]').click()
    pane = page.locator(f'.jf-pane-futures[data-cluster="{cid}"]')
    group = pane.locator('.jf-futures-group[data-cell="map-cell"]')
    group.wait_for(timeout=60_000)
    assert "72 futures" in group.text_content()
    kernel_id = page.evaluate("""() => {
        const nb = [...window.jupyterapp.shell.widgets('main')].find(w => w.sessionContext && w.context);
        return nb.sessionContext.session.kernel.id;
    }""")
    assert pane.get_attribute("data-kernel") == kernel_id
    page.screenshot(path=str(lab["artifacts"] / "futures-light.png"))
    group.locator(".jf-futures-cell").click()
    page.wait_for_function("""() => {
        const nb = [...window.jupyterapp.shell.widgets('main')].find(w => w.sessionContext && w.context);
        return nb.content.activeCell.model.id === 'map-cell' && nb.isVisible;
    }""", timeout=10_000)


def test_profile_of_a_cell_group_and_of_one_future(lab):
    """The futures pane's Profile button: the profile pane, scoped to the keys of the map cell's futures."""
    page = lab["page"]
    cid = lab["nb_cluster"]
    group = map_cell_group(page, cid)
    group.locator(".jf-futures-profile").click()
    pane = page.locator(f'.jf-pane-profile[data-cluster="{cid}"]')
    pane.wait_for(timeout=30_000)
    assert pane.get_attribute("data-scope") == "keys" and pane.get_attribute("data-scope-keys") == "72"
    scope = pane.locator(".jf-profile-scope")
    assert scope.locator("option:checked").text_content() == "cell map-cell (72 futures)"
    assert pane.locator(".jf-profile-window").input_value() == "all"
    canvas = pane.locator(".jf-flame-canvas")
    page.wait_for_function("c => Number(c.dataset.rootCount) > 0 && Number(c.dataset.frames) > 2",
                           arg=canvas.element_handle(), timeout=60_000)
    # The cell's functions are in it: the spin frames take most of the time.
    pane.locator(".jf-profile-search").fill("spin")
    matched = pane.locator(".jf-profile-match").text_content()
    assert matched.endswith("% matched") and not matched.startswith("0.0%"), matched
    page.screenshot(path=str(lab["artifacts"] / "profile-cell-light.png"))
    pane.locator(".jf-profile-search").fill("")
    cell_count = int(canvas.get_attribute("data-root-count"))
    # One future, from its row's "profile" action (the group's rows are open since the last step).
    if not group.locator(".jf-futures-row").count():
        group.locator(".jf-futures-cell").click()
    run_command(page, "jupyter-futures:open-pane", {"cluster": cid, "kind": "futures"})
    spin_rows = group.locator(".jf-futures-row", has=page.locator(".jf-futures-key", has_text="spin"))
    row = spin_rows.first if spin_rows.count() else group.locator(".jf-futures-row").first
    key = row.locator(".jf-futures-key").text_content()
    row.locator(".jf-futures-row-profile").click()
    page.wait_for_function("p => p.dataset.scope === 'future' && p.dataset.scopeKeys === '1'",
                           arg=pane.element_handle(), timeout=10_000)
    assert pane.locator(".jf-profile-key").input_value() == key
    assert scope.locator("option:checked").text_content() == "one future…"
    page.wait_for_function(f"c => Number(c.dataset.rootCount) > 0 && Number(c.dataset.rootCount) < {cell_count}",
                           arg=canvas.element_handle(), timeout=60_000)
    page.screenshot(path=str(lab["artifacts"] / "profile-future-light.png"))
    # A key typed by hand that no worker knows: nothing drawn, and the pane says why.
    pane.locator(".jf-profile-key").fill("no-such-key-0000")
    pane.locator(".jf-profile-key").press("Enter")
    page.wait_for_function("p => p.dataset.state === 'empty' && p.querySelector('.jf-empty').textContent.includes('no-such-key')",
                           arg=pane.element_handle(), timeout=30_000)
    # Back to the whole cluster for the steps after this one.
    scope.select_option(label="all functions")
    page.wait_for_function("p => p.dataset.scope === 'all'", arg=pane.element_handle(), timeout=10_000)
    assert pane.locator(".jf-profile-key").is_hidden()


def test_profile_flame_graph_zooms(lab):
    page = lab["page"]
    cid = lab["nb_cluster"]
    card(page, "kernel").locator('.jf-pane-button[data-pane="profile"]').click()
    pane = page.locator(f'.jf-pane-profile[data-cluster="{cid}"]')
    canvas = pane.locator(".jf-flame-canvas")
    pane.locator(".jf-profile-window").select_option("all")
    page.wait_for_function("c => Number(c.dataset.frames) > 2", arg=canvas.element_handle(), timeout=60_000)
    assert canvas.get_attribute("data-zoomed") == "false"
    search = pane.locator(".jf-profile-search")
    search.fill("spin")
    matched = pane.locator(".jf-profile-match").text_content()
    assert matched.endswith("% matched") and not matched.startswith("0.0%")
    page.screenshot(path=str(lab["artifacts"] / "profile-light.png"))
    search.fill("")
    box = canvas.bounding_box()
    # The second row from the bottom: the widest child of the root, at its left edge.
    canvas.click(position={"x": 5, "y": box["height"] - 18 - 9})
    page.wait_for_function("c => c.dataset.zoomed === 'true'", arg=canvas.element_handle(), timeout=5_000)
    zoomed_on = canvas.get_attribute("data-zoom-name")
    page.screenshot(path=str(lab["artifacts"] / "profile-zoomed-light.png"))
    with page.expect_download() as download:
        pane.locator("button", has_text="SVG").click()
    svg = open(download.value.path()).read()
    assert svg.startswith("<svg") and f">{zoomed_on}<" in svg  # what is shown: the zoomed frame
    with page.expect_download() as download:
        pane.locator("button", has_text="HTML").click()
    html = open(download.value.path()).read()
    assert html.startswith("<!doctype html>") and "<svg" in html and "<script" not in html
    canvas.click(position={"x": 5, "y": box["height"] - 9})
    page.wait_for_function("c => c.dataset.zoomed === 'false'", arg=canvas.element_handle(), timeout=5_000)
    assert zoomed_on
    # "What is this worker doing now": its threads' stacks, as text.
    pane.locator(".jf-stacks-button").click()
    stacks = pane.locator(".jf-stacks")
    page.wait_for_function("s => !s.hidden && !s.textContent.startsWith('Asking')", arg=stacks.element_handle(),
                           timeout=30_000)
    assert "Thread" in stacks.text_content() or "runs no task" in stacks.text_content()


def test_logs_pane_shows_worker_lines(lab):
    page = lab["page"]
    cid = lab["nb_cluster"]
    card(page, "kernel").locator('.jf-pane-button[data-pane="logs"]').click()
    pane = page.locator(f'.jf-pane-logs[data-cluster="{cid}"]')
    pane.wait_for(timeout=30_000)
    page.wait_for_function("p => p.dataset.state !== 'empty' || p.querySelector('.jf-empty').textContent.includes('No log')",
                           arg=pane.element_handle(), timeout=30_000)
    pane.locator(".jf-logs-search").fill("no such text anywhere")
    page.wait_for_function("p => p.querySelector('.jf-logs-list').dataset.shown === '0'", arg=pane.element_handle(),
                           timeout=5_000)
    pane.locator(".jf-logs-search").fill("")


def test_worker_console_runs_in_the_worker(lab):
    page = lab["page"]
    show_sidebar(page)
    kernel_card = card(page, "kernel")
    kernel_card.locator(".jf-worker-list summary").click()
    kernel_card.locator(".jf-worker-console").first.click()
    console = page.locator(".jp-ConsolePanel").last
    console.wait_for(timeout=60_000)
    prompt = console.locator(".jp-CodeConsole-promptCell .cm-content")
    prompt.wait_for(timeout=30_000)
    page.wait_for_timeout(1000)
    prompt.click()
    page.keyboard.type("import os; os.getpid()")
    page.keyboard.press("Shift+Enter")
    out = console.locator(".jp-CodeConsole-content .jp-OutputArea-output").last
    out.wait_for(timeout=60_000)
    assert out.text_content().strip() == str(lab["worker_pid"])
    page.screenshot(path=str(lab["artifacts"] / "worker-console.png"))


def test_dark_theme_screenshots(lab):
    page = lab["page"]
    cid = lab["nb_cluster"]
    run_command(page, "jupyter-futures:open-layout", {"cluster": cid})
    page.wait_for_timeout(500)
    run_command(page, "apputils:change-theme", {"theme": "JupyterLab Dark"})
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'", timeout=30_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(lab["artifacts"] / "layout-dark.png"))
    show_sidebar(page)
    page.screenshot(path=str(lab["artifacts"] / "sidebar-dark.png"))
    run_command(page, "jupyter-futures:open-pane", {"cluster": cid, "kind": "profile"})
    page.wait_for_timeout(1000)
    page.screenshot(path=str(lab["artifacts"] / "profile-dark.png"))
    # The task stream canvas follows the theme: its background is dark now.
    run_command(page, "jupyter-futures:open-pane", {"cluster": cid, "kind": "task-stream"})
    page.wait_for_timeout(500)
    corner = page.locator(f'.jf-pane-task-stream[data-cluster="{cid}"] canvas').evaluate(
        "c => Array.from(c.getContext('2d').getImageData(2, 2, 1, 1).data)")
    assert sum(corner[:3]) < 3 * 100
    run_command(page, "apputils:change-theme", {"theme": "JupyterLab Light"})
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'true'", timeout=30_000)


def test_panes_come_back_after_a_reload(lab):
    page = lab["page"]
    cid = lab["nb_cluster"]
    page.wait_for_timeout(1500)  # the layout is saved with a short debounce
    page.reload()
    for kind in ("task-stream", "progress", "workers", "profile", "futures", "logs"):
        page.locator(f'.jf-pane-{kind}[data-cluster="{cid}"]').wait_for(state="attached", timeout=60_000)
    page.locator(f'.jf-pane-progress[data-cluster="{cid}"] .jf-progress-row[data-prefix="slow_inc"]').wait_for(
        state="attached", timeout=30_000)


def test_release_a_cell_group_from_the_futures_pane(lab):
    """Runs last of the notebook checks: it drops the notebook's futures of the map cell."""
    page = lab["page"]
    cid = lab["nb_cluster"]
    group = map_cell_group(page, cid)
    group.locator("button", has_text="Release").click()
    page.locator(f'.jf-pane-futures[data-cluster="{cid}"] .jf-futures-message', has_text="Released").wait_for(
        timeout=30_000)
    group.wait_for(state="detached", timeout=30_000)


def test_stop_asks_first_then_the_panes_say_the_cluster_is_gone(lab):
    page = lab["page"]
    show_sidebar(page)
    form_card = page.locator('.jf-cluster[data-name="from-form"]')
    form_id = form_card.get_attribute("data-id")
    form_card.locator(".jf-pane-button[data-pane='progress']").click()
    pane = page.locator(f'.jf-pane-progress[data-cluster="{form_id}"]')
    pane.wait_for(timeout=30_000)
    form_card.locator(".jf-stop").click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=10_000)
    assert "Stop" in dialog.text_content()
    dialog.locator("button.jp-mod-warn").click()
    page.locator('.jf-cluster[data-name="from-form"]').wait_for(state="detached", timeout=60_000)
    page.locator(f'.jf-pane-progress[data-cluster="{form_id}"][data-state="gone"]').wait_for(timeout=30_000)
    assert "has stopped" in pane.text_content()
    assert all(c["id"] != form_id for c in api(lab["base"], "clusters"))


@pytest.mark.parametrize("status, body, kind, text", [
    (404, {"message": "Not Found"}, "missing", "server extension is not running"),
    (200, {"version": "9.9.9", "extension": "jupyter_futures", "clusters": 0, "problems": [], "schedulers": {}},
     "mismatch", "Version mismatch"),
])
def test_banner_when_the_server_extension_is_missing_or_another_version(lab_server, browser, artifacts,
                                                                        status, body, kind, text):
    """The status endpoint is answered by the test (as a server without the extension, or with another
    version, would answer it); the sidebar says what is wrong instead of "no clusters"."""
    base, _ = lab_server
    page = browser.new_page()
    try:
        page.route("**/jupyter-futures/api/status*",
                   lambda route: route.fulfill(status=status, content_type="application/json", body=json.dumps(body)))
        page.goto(f"{base}/lab?token={TOKEN}")
        page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="jupyter-futures-sidebar"]').wait_for(
            timeout=60_000)
        show_sidebar_any_state(page)
        banner = page.locator(f'.jf-banner[data-kind="{kind}"]')
        banner.wait_for(timeout=30_000)
        assert text in banner.text_content()
        if kind == "missing":
            assert page.locator(".jf-sidebar-empty").is_hidden()
            assert page.locator(".jf-new-cluster").is_disabled()
        page.screenshot(path=str(artifacts / f"banner-{kind}.png"))
    finally:
        page.close()


def show_sidebar_any_state(page):
    page.wait_for_timeout(1000)
    if not page.locator(SIDEBAR).is_visible():
        page.locator('.jp-SideBar.jp-mod-left .lm-TabBar-tab[data-id="jupyter-futures-sidebar"]').click()
