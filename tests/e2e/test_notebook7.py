"""The jupyter_futures extension in Notebook 7 (``python -m notebook``), headless Chromium.

Notebook 7 has one main-area widget per page (the notebook), no dock, and a left side panel that
the View menu opens ("Left Sidebar" → "Show jupyter_futures clusters"). The sidebar lists the
cluster a notebook cell starts; the dashboard panes open in the panel below the notebook (the
main area refuses a second widget), so the notebook stays in view.
"""
from __future__ import annotations

import pytest

from .conftest import TOKEN, write_notebook

pytestmark = pytest.mark.timeout(300)

SIDEBAR = "#jupyter-futures-sidebar"
NOTEBOOK = "nb7.ipynb"
CELLS = [
    ("connect-cell", "from jupyter_futures import Client\nclient = Client(n_workers=1)\nprint('READY')"),
    ("map-cell", "import time\ndef nap(x):\n    time.sleep(0.05)\n    return x\n\n"
                 "print('DONE', sum(client.gather(client.map(nap, range(40)))))"),
]


def test_sidebar_and_task_stream_in_notebook7(notebook7_server, browser, artifacts):
    base, root = notebook7_server
    write_notebook(root / NOTEBOOK, CELLS)
    page = browser.new_page()
    try:
        page.goto(f"{base}/notebooks/{NOTEBOOK}?token={TOKEN}")
        # Notebook 7, not JupyterLab; the kernel is up.
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.name === 'Jupyter Notebook' && "
            "window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'",
            timeout=90_000)
        # The sidebar is in the left area, opened from View → Left Sidebar.
        page.locator(".lm-MenuBar-item", has_text="View").click()
        page.locator(".lm-Menu-item", has_text="Left Sidebar").hover()
        page.locator('.lm-Menu-item[data-command="application:toggle-panel"]',
                     has_text="Show jupyter_futures clusters").click()
        sidebar = page.locator(SIDEBAR)
        sidebar.wait_for(state="visible", timeout=30_000)
        page.wait_for_selector(f"{SIDEBAR}[data-state=loaded]", timeout=30_000)
        sidebar.locator(".jf-sidebar-empty").wait_for(timeout=30_000)
        # A cell starts a cluster; the sidebar lists it.
        cell = page.locator(".jp-NotebookPanel .jp-Cell").first
        cell.locator(".cm-content").click()
        page.keyboard.press("Shift+Enter")
        cell.locator(".jp-OutputArea-output", has_text="READY").wait_for(timeout=90_000)
        card = sidebar.locator(".jf-cluster", has=page.locator(".jf-cluster-madeby", has_text="kernel")).first
        card.wait_for(timeout=30_000)
        assert card.get_attribute("data-workers") == "1"
        cid = card.get_attribute("data-id")
        # The task stream opens below the notebook, in the same browser tab, and draws the map's tasks.
        pages_before = len(browser.pages)
        card.locator('.jf-pane-button[data-pane="task-stream"]').click()
        stream = page.locator(f'#jp-down-stack .jf-pane-task-stream[data-cluster="{cid}"]')
        stream.wait_for(state="visible", timeout=30_000)
        assert len(browser.pages) == pages_before
        assert page.locator(".jp-NotebookPanel").is_visible()
        box = stream.bounding_box()
        assert box and box["height"] > 150, box
        page.locator(".jp-NotebookPanel .jp-Cell").nth(1).locator(".cm-content").click()
        page.keyboard.press("Shift+Enter")  # the map cell
        page.locator(".jp-OutputArea-output", has_text="DONE").wait_for(timeout=90_000)
        page.wait_for_function("c => Number(c.dataset.drawnBars) > 5", arg=stream.locator("canvas").element_handle(),
                               timeout=60_000)
        # The layout command opens its panes as tabs below the notebook too.
        page.evaluate("() => window.jupyterapp.commands.execute('jupyter-futures:open-layout', {})")
        for kind in ("progress", "workers"):
            page.locator(f'#jp-down-stack .jf-pane-{kind}[data-cluster="{cid}"]').wait_for(state="attached",
                                                                                            timeout=30_000)
        stream.wait_for(state="visible", timeout=10_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(artifacts / "notebook7-sidebar.png"))
    except Exception:
        page.screenshot(path=str(artifacts / "notebook7-failed.png"))
        raise
    finally:
        page.close()
