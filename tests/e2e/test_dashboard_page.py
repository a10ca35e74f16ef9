"""The scheduler's own dashboard page (jupyter_futures/dashboard/static/, built from labextension/):
the JupyterLab panes outside JupyterLab, on the scheduler's /ws feed, in light and dark schemes."""
from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.timeout(180)


def slow_inc(x):
    time.sleep(0.02)
    print("step", x) if x % 20 == 0 else None
    return x + 1


@pytest.fixture(scope="module")
def dashboard_cluster():
    from jupyter_futures import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address="127.0.0.1:0") as cluster, \
            Client(cluster) as client:
        yield cluster.dashboard_link, client


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_standalone_dashboard_draws_the_panes(dashboard_cluster, browser, artifacts, scheme):
    url, client = dashboard_cluster
    page = browser.new_page()
    page.emulate_media(color_scheme=scheme)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(url)
        stream = page.locator(".jf-pane-task-stream canvas")
        stream.wait_for(timeout=30_000)
        offset = 1000 if scheme == "dark" else 0
        assert len(client.gather(client.map(slow_inc, [offset + i for i in range(60)]))) == 60
        page.wait_for_function("c => Number(c.dataset.drawnBars) >= 60", arg=stream.element_handle(), timeout=30_000)
        page.locator('.jf-progress-row[data-prefix="slow_inc"].jf-mod-complete').wait_for(timeout=30_000)
        page.locator(".jf-worker-row").first.wait_for(timeout=30_000)
        page.locator(".jf-log-row", has_text="step").first.wait_for(timeout=30_000)
        background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        assert (background == "rgb(17, 17, 17)") == (scheme == "dark")
        page.screenshot(path=str(artifacts / f"standalone-{scheme}.png"))
        assert not errors
    finally:
        page.close()
