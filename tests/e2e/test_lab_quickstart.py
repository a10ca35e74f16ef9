"""JupyterLab in headless Chromium: the quickstart notebook runs top to bottom and its widgets work."""
from __future__ import annotations

import shutil

import pytest

from .conftest import ROOT, TOKEN

pytestmark = pytest.mark.timeout(240)


def test_quickstart_runs_in_jupyterlab(lab_server, browser, artifacts):
    base, root = lab_server
    shutil.copy(ROOT / "notebooks" / "quickstart.ipynb", root / "quickstart.ipynb")
    page = browser.new_page()
    try:
        page.goto(f"{base}/lab/tree/quickstart.ipynb?token={TOKEN}")
        # The kernel is ready only when the status bar says Idle (the toolbar indicator says so too early).
        page.locator(".jp-StatusBar-TextItem", has_text="| Idle").wait_for(timeout=90_000)
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

        # The client widget appears with its workers.
        page.locator(".jf-client[data-status=running]").first.wait_for(timeout=60_000)
        # The progress bar of the cell that starts the map (drawn while its tasks are pending) reaches
        # 100 %: live, then replaced by the record of its end (a display that never changed could only
        # show the state it was drawn in).
        progress_cell = page.locator(".jp-CodeCell", has_text="progress(squares)")
        done = progress_cell.locator(".jf-progress[data-state=done]").first
        done.wait_for(timeout=90_000)
        bar = done.locator(".jf-progress-bar").first
        assert bar.get_attribute("data-pct") == "100.0"
        assert bar.evaluate("e => e.style.width") == "100%"
        # The erred future shows its traceback, with the failing function and line.
        err = page.locator(".jp-CodeCell", has_text="def might_fail").locator(
            ".jf-future[data-status=error]").first
        err.wait_for(timeout=60_000)
        err.scroll_into_view_if_needed()
        assert "might_fail" in err.locator(".jf-traceback").text_content()
        assert 'raise ValueError("Negative value")' in err.locator(".jf-failing-line").first.text_content()
        err.screenshot(path=str(artifacts / "quickstart-error.png"))
        # Everything ran: the last cell shows the client again.
        last_client = page.locator(".jp-Cell").last.locator(".jf-client")
        last_client.wait_for(timeout=90_000)
        last_client.screenshot(path=str(artifacts / "quickstart-client.png"))
        # Task output landed under the cell that submitted the tasks, even after that cell finished.
        assert page.locator(".jp-OutputArea-output", has_text="working on 2").count() >= 1
        remote = page.locator(".jp-CodeCell", has_text="%%remote --name answer")
        remote.locator(".jp-OutputArea-output", has_text="running in worker process").wait_for(timeout=30_000)
        done.screenshot(path=str(artifacts / "quickstart-progress.png"))
        page.screenshot(path=str(artifacts / "quickstart-full.png"), full_page=True)
    finally:
        page.screenshot(path=str(artifacts / "quickstart-last.png"))
        page.close()
