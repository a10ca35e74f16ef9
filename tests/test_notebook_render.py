"""The notebook layer's pure parts: names, sizes, HTML and text of futures, progress and clients."""
from __future__ import annotations

import asyncio
import linecache
import threading
import time

from jupyter_futures.client.future import FutureState
from jupyter_futures.notebook import render
from jupyter_futures.notebook.hub import Flusher, Hub
from jupyter_futures.notebook.progress import ProgressModel


def test_key_split_and_short_key():
    assert render.key_split("inc-3f2a9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b") == "inc"
    assert render.key_split("load_file-12") == "load_file"
    assert render.key_split("my-task-name") == "my-task-name"
    assert render.key_split(("x", 3)) == "x"
    assert render.key_split("x-1-2") == "x"


def test_every_view_groups_a_key_under_the_same_function_name():
    """The scheduler's task groups (dashboard progress), the per-function table and the widgets agree."""
    from jupyter_futures.dashboard.report import per_function
    from jupyter_futures.scheduler.state import TaskState

    for key, name in [("x-1-2", "x"), ("my-task-name", "my-task-name"), ("inc-3f2a9c0d1e2f3a4b", "inc")]:
        assert render.key_split(key) == name
        assert TaskState(key, None, None, None, (0,)).prefix == name
        assert [row["function"] for row in per_function([{"key": key, "start": 0.0, "stop": 1.0}])] == [name]
    assert render.short_key("inc-3f2a9c0d1e2f3a4b5c6d") == "inc-3f2a9c0d"
    assert render.short_key("custom") == "custom"


def test_formats():
    assert render.format_bytes(28) == "28 B"
    assert render.format_bytes(3 * 1024 ** 2) == "3.00 MiB"
    assert render.format_time(0.0123) == "12.3 ms"
    assert render.format_time(2.5) == "2.50 s"
    assert render.format_time(75) == "1 min 15 s"
    assert render.short_address("tcp://127.0.0.1:4000") == "127.0.0.1:4000"


def _state(key: str, status: str, **kw) -> FutureState:
    st = FutureState(key)
    st.status = status
    for k, v in kw.items():
        setattr(st, k, v)
    return st


def test_future_html_by_status():
    now = time.time()
    st = _state("inc-aaaaaaaaaaaa", "running", worker="tcp://127.0.0.1:9", started=now - 2)
    snap = render.future_snapshot(st, now=now)
    assert snap["clock"] == "running for" and abs(snap["elapsed"] - 2) < 0.01
    html = render.future_html(snap)
    assert 'data-status="running"' in html and render.COLORS["running"] in html and "127.0.0.1:9" in html
    done = _state("inc-aaaaaaaaaaaa", "finished", type_name="ndarray", nbytes=8 * 1024 ** 2,
                  started=now - 3, stopped=now - 1)
    snap = render.future_snapshot(done, now=now)
    assert snap["clock"] == "ran" and abs(snap["elapsed"] - 2) < 0.01
    assert "ndarray" in render.future_html(snap) and "8.00 MiB" in render.future_text(snap)
    released = render.future_snapshot(_state("inc-b", "pending"), released=True)
    assert released["status"] == "released"


def test_traceback_html_highlights_the_failing_line():
    filename = "<jf-test-source>"
    source = ["def outer(x):\n", "    y = x - 1\n", "    return inner(y)\n", "\n",
              "def inner(y):\n", "    if y < 0:\n", "        raise ValueError('negative <y>')\n", "    return y\n"]
    linecache.cache[filename] = (0, None, source, filename)
    st = _state("outer-cccccccccccc", "error", tb_records=[(filename, 3, "outer", ""), (filename, 7, "inner", "")])
    st.exception = ValueError("negative <y>")
    snap = render.future_snapshot(st)
    assert snap["exception"] == "ValueError: negative <y>"
    assert [f["name"] for f in snap["traceback"]] == ["outer", "inner"]
    html = render.future_html(snap)
    assert "<details" in html and " open" in html  # collapsible, open
    assert html.count('class="jf-failing-line"') == 2
    failing = html.split('class="jf-failing-line"')[2]
    assert "raise ValueError(&#x27;negative &lt;y&gt;&#x27;)" in failing  # escaped
    text = render.future_text(snap)
    assert "---> " in text and "Traceback (most recent call last)" in text and "in inner()" in text


def test_progress_model_counts_and_html():
    class Client:
        def subscribe(self, callback):
            return lambda: None

    client = Client()

    class F:
        def __init__(self, key, status):
            self.key, self.state, self.client = key, _state(key, status), client

    futures = [F(f"inc-{i:012x}", "finished") for i in range(3)] + [F(f"dec-{i:012x}", "pending") for i in range(2)]
    futures.append(futures[0])  # the same future twice counts once
    model = ProgressModel(futures)
    assert render.progress_totals(model.groups())["total"] == 5 and not model.complete
    st = futures[3].state
    st.status = "error"
    assert model.on_states([st]) is True and model.on_states([st]) is False
    other = futures[4].state
    other.status = "cancelled"
    model.on_states([other])
    assert model.complete
    assert model.groups() == [{"name": "inc", "total": 3, "finished": 3, "erred": 0, "cancelled": 0},
                              {"name": "dec", "total": 2, "finished": 0, "erred": 1, "cancelled": 1}]
    html = model.html()
    assert 'data-state="done"' in html and html.count('data-pct="100.0"') == 2
    assert "1 erred" in html and "1 cancelled" in html
    assert "dec [##############################] 0 / 2, 1 erred, 1 cancelled" in model.text()


def test_client_text_and_html():
    class C:
        scheduler_address = "tcp://127.0.0.1:8786"
        status = "running"
        dashboard_link = "http://127.0.0.1:8787/"
        cluster = None
    info = {"workers": {"tcp://127.0.0.1:1": {"nthreads": 2, "memory_limit": 1024 ** 3, "processing": 3,
                                              "in_memory": 5, "metrics": {"memory": 512 * 1024 ** 2, "cpu": 50.0}}}}
    snap = render.client_snapshot(C(), info)
    assert snap["threads"] == 2 and snap["processing"] == 3 and snap["in_memory"] == 5
    html = render.client_html(snap)
    assert 'href="http://127.0.0.1:8787/"' in html and "512.00 MiB / 1.00 GiB" in html
    assert "1 workers, 2 threads" in render.client_text(snap)


def test_flusher_throttles_each_view():
    class View:
        def __init__(self):
            self.flushes = []

        def flush_view(self):
            self.flushes.append(time.monotonic())

    flusher = Flusher(interval=0.1, tick=10)
    view = View()
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        flusher.mark([view])
        time.sleep(0.001)
    time.sleep(0.25)
    assert 5 <= len(view.flushes) <= 12, len(view.flushes)  # ~10 a second, not ~1000
    gaps = [b - a for a, b in zip(view.flushes, view.flushes[1:])]
    assert min(gaps) >= 0.09


def test_flush_pending_returns_only_after_the_render_in_flight():
    """A cell's end must not overtake an update the flusher thread is sending (its reply would come first)."""
    rendering, release = threading.Event(), threading.Event()

    class SlowView:
        done = False

        def flush_view(self):
            rendering.set()
            release.wait(5)
            SlowView.done = True

    flusher = Flusher(interval=0.01, tick=10)
    flusher.mark([SlowView()])
    assert rendering.wait(5)
    returned = threading.Event()
    threading.Thread(target=lambda: (flusher.flush_pending(), returned.set()), daemon=True).start()
    assert not returned.wait(0.2)
    release.set()
    assert returned.wait(5) and SlowView.done


def test_settle_waits_for_the_loop_to_finish_what_it_is_handling():
    """A waiter may wake before the client's loop has told the hub; settle() lets the loop finish first."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    marked = []

    class FakeClient:
        def __init__(self):
            self.loop = loop

        def subscribe(self, fn):
            return lambda: None

    hub = Hub(FakeClient())
    woke, proceed, settled = threading.Event(), threading.Event(), threading.Event()

    def handle_batch():  # what the client does: wake waiters, then tell listeners
        woke.set()
        proceed.wait(5)
        marked.append("views marked")

    loop.call_soon_threadsafe(handle_batch)
    assert woke.wait(5)
    threading.Thread(target=lambda: (hub.settle(timeout=5), settled.set()), daemon=True).start()
    assert not settled.wait(0.2)
    proceed.set()
    assert settled.wait(5) and marked == ["views marked"]
    on_the_loop = threading.Event()  # an asynchronous client in a kernel: the cell runs on its loop
    loop.call_soon_threadsafe(lambda: (hub.settle(timeout=30), on_the_loop.set()))
    assert on_the_loop.wait(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()
    hub.settle()  # a closed client's loop: returns at once
