"""Where there are no widgets: scripts, plain IPython, kernels without ipywidgets, nbconvert.

Every display falls back to static HTML and text that say the same things at the time of display,
and ``progress`` in a script draws a text bar on stderr and blocks until done.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from jupyter_futures import Client

pytestmark = pytest.mark.timeout(180)

JUPYTER_PACKAGES = ("IPython", "ipywidgets", "ipykernel", "jupyter_client", "traitlets", "comm", "nbformat",
                    "jupyter_core", "jupyterlab", "notebook")


def _run_python(code: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, **(env or {})))


def test_import_and_use_load_no_jupyter_package():
    proc = _run_python(f"""
        import sys
        import jupyter_futures
        from jupyter_futures import Client, progress
        with Client(n_workers=1, threads_per_worker=1) as c:
            f = c.submit(sum, [1, 2])
            assert f.result() == 3
            bundle = f._repr_mimebundle_()
            assert set(bundle) == {{"text/plain", "text/html"}}, bundle
            client_bundle = c._repr_mimebundle_()
            assert "text/html" in client_bundle
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in {JUPYTER_PACKAGES!r})
        print("LOADED", loaded)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "LOADED []" in proc.stdout, proc.stdout


def test_progress_in_a_script_draws_a_text_bar_and_blocks():
    proc = _run_python("""
        import time
        from jupyter_futures import Client, progress

        def nap(i):
            time.sleep(0.02)
            return i

        def bad(i):
            raise ValueError(i)

        if __name__ == "__main__":
            with Client(n_workers=2, threads_per_worker=1) as c:
                futures = c.map(nap, range(60))
                errs = [c.submit(bad, 1)]
                progress(futures, {"e": errs})
                print("DONE", sum(f.done() for f in futures), errs[0].status)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "DONE 60 error" in proc.stdout
    bar = proc.stderr.replace("\r", "\n").strip().splitlines()
    last = [line for line in bar if "Completed" in line][-1]
    assert last.startswith("[" + "#" * 40 + "] | 100% Completed |"), last
    assert "1 erred" in last
    assert len([line for line in bar if "Completed" in line]) >= 2  # redrawn while it ran


def test_plain_ipython_gets_text_and_html():
    proc = _run_python("""
        from IPython.core.interactiveshell import InteractiveShell
        from jupyter_futures import Client

        def might_fail(x):
            raise ValueError("Negative value")

        shell = InteractiveShell.instance()
        shell.run_line_magic("load_ext", "jupyter_futures")
        shell.run_line_magic("unload_ext", "jupyter_futures")  # %reload_ext: the displays come back
        shell.run_line_magic("load_ext", "jupyter_futures")
        with Client(n_workers=1, threads_per_worker=1) as c:
            ok = c.submit(pow, 2, 10)
            ok.result()
            bad = c.submit(might_fail, -1)
            bad.exception()
            fmt = shell.display_formatter
            data, _ = fmt.format(ok)
            assert "application/vnd.jupyter.widget-view+json" not in data
            print("OK:", data["text/plain"])
            data, _ = fmt.format(bad)
            print("BAD:", data["text/plain"])
            assert "<details" in data["text/html"] and "jf-traceback" in data["text/html"]
            many = c.map(pow, range(500), [2] * 500)
            c.gather(many)
            data, _ = fmt.format(many)
            print("MANY:", repr(data["text/plain"]))
            print("LIST:", fmt.format([1, 2])[0]["text/plain"])
    """)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "OK: Future pow (pow-" in out and "finished" in out and "-> int, " in out and " B" in out
    assert "BAD: Future might_fail" in out and "ValueError: Negative value" in out
    assert "Traceback (most recent call last)" in out
    assert "MANY: 'list of 500 futures\\npow [##############################] 500 / 500" in out
    assert "LIST: [1, 2]" in out


def test_kernel_without_widgets_displays_static_html():
    pytest.importorskip("ipykernel")
    from notebook_helpers import WIDGET_MIME, Kernel

    k = Kernel(env={"JUPYTER_FUTURES_WIDGETS": "0"})
    try:
        run = k.execute("%load_ext jupyter_futures\n%futures start -n 1 -t 1", timeout=90)
        assert run.ok, run.error()
        (client_bundle,) = run.data()
        assert WIDGET_MIME not in client_bundle and "jf-client" in client_bundle["text/html"]
        run = k.execute("from jupyter_futures import progress\n"
                        "def f(x):\n    return 1 / x\n"
                        "fs = client.map(f, [1, 2, 0]); client.gather(fs, errors='skip'); progress(fs)")
        (bundle,) = run.data()
        assert WIDGET_MIME not in bundle
        assert 'data-done="3"' in bundle["text/html"] and "1 erred" in bundle["text/html"]
        run = k.execute("fs[2]")
        (bundle,) = run.data()
        assert WIDGET_MIME not in bundle
        assert "ZeroDivisionError" in bundle["text/html"] and "return 1 / x" in bundle["text/html"]
        assert "ZeroDivisionError: division by zero" in bundle["text/plain"]
        run = k.execute("fs")
        (bundle,) = run.data()
        assert WIDGET_MIME not in bundle and "list of 3 futures" in bundle["text/plain"]
    finally:
        k.close()


@pytest.fixture(scope="module")
def client():
    with Client(n_workers=1, threads_per_worker=1) as c:
        yield c


def test_static_snapshot_says_the_same_things(client):
    from jupyter_futures.notebook.render import future_html, future_snapshot, future_text

    f = client.submit(divmod, 17, 5)
    assert f.result() == (3, 2)
    snap = future_snapshot(f.state)
    assert snap["status"] == "finished" and snap["type"] == "tuple" and snap["name"] == "divmod"
    html, text = future_html(snap), future_text(snap)
    for fact in ("divmod", "finished", "tuple"):
        assert fact in html and fact in text
    assert f.key in html and f.key in text


def test_unloading_gives_ipython_its_own_container_printers_back():
    """After register + unregister, a long list prints one item a line again, as IPython does by itself."""
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell

    from jupyter_futures.notebook.kernel import register_formatters, unregister_formatters

    shell = InteractiveShell()
    plain = shell.display_formatter.formatters["text/plain"]
    long_list = list(range(40))
    before = plain(long_list)
    assert before.count("\n") == 39  # one item a line
    register_formatters(shell)
    assert plain(long_list) == before  # no futures inside: shown as IPython shows it
    unregister_formatters(shell)
    assert plain(long_list) == before and plain((1, 2)) == "(1, 2)" and plain({"a": 1}) == "{'a': 1}"
