"""Profiling: the workers' stack sampler, ``Client.profile``, the flame graph page,
``get_task_stream`` and ``performance_report``.

Most tests share one real cluster (2 workers x 1 thread, the ``client`` fixture);
the sampler's own bookkeeping is tested without a cluster at the end.
"""
import asyncio
import json
import re
import threading
import time
import types

import pytest

from jupyter_futures import Client, performance_report
from jupyter_futures.client.profiling import merge, samples_of
from jupyter_futures.worker import profile as wprofile

from procs import wait_until

pytestmark = pytest.mark.timeout(60)

EXTERNAL = ("http://", "https://", "<script src", "<link", "@import")


# --------------------------------------------------------------------------- task functions
# Uniquely named, pure-Python CPU loops: the sampler sees their own frames.

def _spin(seconds):
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


def jf_prof_burn(seconds):
    return jf_prof_burn_inner(seconds)


def jf_prof_burn_inner(seconds):
    return _spin(seconds)


def _calls_spin(seconds):
    return _spin(seconds)


def _burner(name):
    """A module-level task function called ``name`` that calls ``_spin``: its frame (code name) is ``name``,
    so each test finds its own samples by function name. Bound as a module global, it pickles by reference."""
    code = _calls_spin.__code__.replace(co_name=name, co_qualname=name)
    fn = types.FunctionType(code, globals(), name)
    fn.__qualname__ = name
    globals()[name] = fn
    return fn


# jf_prof_burn_more starts with "jf_prof_burn": key="jf_prof_burn" must not match it.
(jf_prof_burn_more, jf_prof_window, jf_prof_pinned, jf_prof_page, jf_prof_toggle, jf_report_alpha,
 jf_report_beta, jf_prof_async, jf_report_async) = map(_burner, [
    "jf_prof_burn_more", "jf_prof_window", "jf_prof_pinned", "jf_prof_page", "jf_prof_toggle",
    "jf_report_alpha", "jf_report_beta", "jf_prof_async", "jf_report_async"])


def _names(tree):
    """Every function name in a tree."""
    out = {tree["description"]["name"]}
    for child in tree["children"].values():
        out |= _names(child)
    return out


def _check_node(node):
    assert set(node) == {"description", "identifier", "count", "children"}
    assert set(node["description"]) == {"filename", "line_number", "name", "line"}
    assert node["count"] >= sum(c["count"] for c in node["children"].values())
    for ident, child in node["children"].items():
        assert child["identifier"] == ident
        _check_node(child)


def _self_contained(text):
    for bad in EXTERNAL:
        assert bad not in text, f"{bad!r} in the page: it must open without a network"


@pytest.fixture(scope="module")
def burned(client):
    """One run of jf_prof_burn and of jf_prof_burn_more, with the time window around them."""
    t0 = time.time()
    a = client.submit(jf_prof_burn, 0.3, pure=False)
    b = client.submit(jf_prof_burn_more, 0.3, pure=False)
    client.gather([a, b])
    return {"start": t0, "stop": time.time(), "keys": (a.key, b.key)}


# --------------------------------------------------------------------------- Client.profile

def test_profile_shows_cpu_bound_task(client, burned):
    tree = client.profile()
    _check_node(tree)
    assert tree["identifier"] == "root" and tree["description"]["name"] == "root"
    assert tree["count"] > 0
    assert samples_of(tree, "jf_prof_burn") > 0
    # About one sample every 10 ms while the 0.3 s task runs: ~30 (the lower bound is loose for a busy machine).
    assert 5 <= samples_of(client.profile(key=burned["keys"][0]), "jf_prof_burn") <= 45
    # The tree starts at the task's function: the worker's frames above it are left out.
    top = {c["description"]["name"] for c in tree["children"].values()}
    assert "jf_prof_burn" in top and "_run_task" not in _names(tree) and "_execute" not in _names(tree)
    # Callees are children of their callers.
    burn = next(c for c in tree["children"].values() if c["description"]["name"] == "jf_prof_burn")
    inner = {c["description"]["name"]: c for c in burn["children"].values()}
    assert "jf_prof_burn_inner" in inner and "_spin" in _names(inner["jf_prof_burn_inner"])
    assert burn["description"]["line_number"] > 0


def test_profile_key_filter(client, burned):
    only = client.profile(key="jf_prof_burn")
    assert samples_of(only, "jf_prof_burn") > 0
    assert "jf_prof_burn_more" not in _names(only)  # a function whose name merely starts the same
    more = client.profile(key="jf_prof_burn_more")
    assert samples_of(more, "jf_prof_burn_more") > 0 and "jf_prof_burn" not in _names(more)
    # A full key selects that one task.
    one = client.profile(key=burned["keys"][0])
    assert samples_of(one, "jf_prof_burn") > 0 and "jf_prof_burn_more" not in _names(one)
    assert client.profile(key="no_such_function")["count"] == 0


def test_profile_time_window(client):
    before = time.time()
    t0 = time.time()
    client.submit(jf_prof_window, 0.3, pure=False).result()
    t1 = time.time()
    empty = client.profile(start=before - 30, stop=before, key="jf_prof_window")
    assert empty["count"] == 0 and empty["children"] == {}
    inside = client.profile(start=t0, stop=t1, key="jf_prof_window")
    assert samples_of(inside, "jf_prof_window") > 0
    since = client.profile(start=t0)  # stop defaults to now
    assert samples_of(since, "jf_prof_window") > 0
    later = client.profile(start=time.time() + 5, key="jf_prof_window")
    assert later["count"] == 0


def test_profile_workers_filter(client):
    a, b = sorted(client.scheduler_info()["workers"])
    client.submit(jf_prof_pinned, 0.3, workers=[a], pure=False).result()
    assert samples_of(client.profile(workers=[a]), "jf_prof_pinned") > 0
    assert samples_of(client.profile(workers=[b]), "jf_prof_pinned") == 0
    assert samples_of(client.profile(workers=a), "jf_prof_pinned") > 0  # one address as a string
    per_worker = client.profile(merge_workers=False)
    assert set(per_worker) == {a, b}
    assert samples_of(per_worker[a], "jf_prof_pinned") > 0
    assert samples_of(per_worker[b], "jf_prof_pinned") == 0
    assert merge(*per_worker.values())["count"] == sum(t["count"] for t in per_worker.values())
    with pytest.raises(Exception, match="no such workers"):
        client.profile(workers=["tcp://127.0.0.1:1"])


def test_profile_filename_writes_flame_graph(client, tmp_path):
    client.submit(jf_prof_page, 0.2, pure=False).result()
    path = tmp_path / "profile.html"
    tree = client.profile(key="jf_prof_page", filename=str(path))
    assert samples_of(tree, "jf_prof_page") > 0
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>")
    assert "jf_prof_page" in text and "jfFlame(" in text
    _self_contained(text)
    # The embedded data is the tree's, with counts.
    assert re.search(r'\["jf_prof_page","[^"]*",\d+,"[^"]*",' + str(samples_of(tree, "jf_prof_page")), text)


def test_profile_empty_page(client, tmp_path):
    path = tmp_path / "empty.html"
    tree = client.profile(start=0, stop=1, filename=str(path))
    assert tree["count"] == 0
    text = path.read_text(encoding="utf-8")
    assert "No samples" in text
    _self_contained(text)


# --------------------------------------------------------------------------- task stream, performance_report

def test_get_task_stream(client):
    t0 = time.time()
    futures = client.map(jf_report_beta, [0.01, 0.02, 0.03], pure=False)
    client.gather(futures)
    records = client.get_task_stream(start=t0)
    mine = {r["key"]: r for r in records if r["key"] in {f.key for f in futures}}
    assert len(mine) == 3
    workers = set(client.scheduler_info()["workers"])
    for r in mine.values():
        assert r["status"] == "finished" and r["worker"] in workers
        assert t0 - 1 <= r["start"] <= r["stop"] <= time.time() + 1
    assert not [r for r in client.get_task_stream(start=time.time() + 60)]


def test_performance_report(client, tmp_path):
    path = tmp_path / "report.html"
    with performance_report(filename=str(path)) as report:
        alpha = client.map(jf_report_alpha, [0.15, 0.15, 0.15], pure=False)
        beta = client.map(jf_report_beta, [0.05, 0.05], pure=False)
        client.gather(alpha + beta)
    text = path.read_text(encoding="utf-8")
    _self_contained(text)
    assert "jf_report_alpha" in text and "jf_report_beta" in text
    assert len(report.task_stream) == 5
    assert re.search(r'<div class="v">5</div><div class="k">Tasks</div>', text)
    # The per-function table: function, task count, total / mean / max time.
    row = re.search(r"jf_report_alpha</td><td>3</td><td>0</td><td>([\d.]+) ms</td><td>([\d.]+) ms</td>", text)
    assert row and float(row.group(1)) >= 400 and 140 <= float(row.group(2)) < 1000
    assert re.search(r"jf_report_beta</td><td>2</td>", text)
    assert "Task stream" in text and text.count("<title>jf_report_") == 5  # one tooltip per task
    assert "jfFlame(" in text and samples_of(report.profile, "jf_report_alpha") > 0


def test_performance_report_needs_a_client():
    from jupyter_futures.client import current

    saved = list(current.defaults)
    current.defaults.clear()
    try:
        with pytest.raises(ValueError, match="no jupyter_futures Client"):
            with performance_report(filename="unused.html"):
                pass
    finally:
        current.defaults[:] = saved


def test_async_profile_and_report(client, tmp_path):
    address = client.scheduler_info()["address"]
    path = tmp_path / "async-report.html"

    async def main():
        async with Client(address, asynchronous=True) as c:
            await c.submit(jf_prof_async, 0.3, pure=False)
            tree = await c.profile(key="jf_prof_async")
            assert samples_of(tree, "jf_prof_async") > 0
            async with performance_report(filename=str(path)):
                await c.gather(c.map(jf_report_async, [0.1, 0.1], pure=False))
            stream = await c.get_task_stream(start=0)
            assert any(r["key"].startswith("jf_report_async") for r in stream)

    asyncio.run(main())
    text = path.read_text(encoding="utf-8")
    assert "jf_report_async" in text and re.search(r'<div class="v">2</div><div class="k">Tasks</div>', text)
    _self_contained(text)


# --------------------------------------------------------------------------- the sampler alone

class _Task:
    def __init__(self, key):
        self.key = key


def _runner(fn, *args):  # plays Worker._execute: the frames below it are the task's
    return fn(*args)


def _unit_spin(stop_flag):
    while not stop_flag.is_set():
        sum(range(100))


def _run_in_thread(prof, executing, key, samples=5, seconds=None):
    """Run a spinning "task" under ``key`` in a thread until the profiler took ``samples`` more samples
    (bounded); with ``seconds``, for that long instead (to see that nothing is sampled)."""
    flag = threading.Event()
    before = prof.samples

    def body():
        executing[threading.get_ident()] = _Task(key)
        prof.wake()
        try:
            _runner(_unit_spin, flag)
        finally:
            executing.pop(threading.get_ident(), None)

    t = threading.Thread(target=body)
    t.start()
    try:
        if seconds is not None:
            t.join(seconds)
            assert t.is_alive(), "the spinning thread ended by itself"
        else:
            assert wait_until(lambda: prof.samples >= before + samples, timeout=10), \
                f"the sampler took {prof.samples - before} samples of {key} in 10 s"
    finally:
        flag.set()
        t.join()


def test_sampler_unit_buckets_keys_and_idle():
    executing = {}
    prof = wprofile.Profiler(executing, _runner.__code__, interval=0.005).start()
    try:
        time.sleep(0.05)
        assert prof.samples == 0  # idle: blocked, not sampling
        t0 = time.time()
        _run_in_thread(prof, executing, "unit_a-1")
        _run_in_thread(prof, executing, "unit_b-1")
        t1 = time.time()
        time.sleep(0.05)
        n = prof.samples
        time.sleep(0.05)
        assert prof.samples == n > 0  # idle again once no task runs
        tree = prof.get()
        assert tree["count"] == n
        assert [c["description"]["name"] for c in tree["children"].values()] == ["_unit_spin"]
        assert prof.get(key="unit_a")["count"] > 0 and prof.get(key="unit_b")["count"] > 0
        assert prof.get(key="unit_a")["count"] + prof.get(key="unit_b")["count"] == n
        assert prof.get(key="unit_a-1")["count"] == prof.get(key="unit_a")["count"]
        assert prof.get(key="unit_c")["count"] == 0
        assert prof.get(start=t0, stop=t1)["count"] == n
        assert prof.get(stop=t0 - 1)["count"] == 0 and prof.get(start=t1 + 1)["count"] == 0
        json.dumps(tree)  # plain data
    finally:
        prof.close()


def test_sampler_set_interval_turns_sampling_off_and_on():
    executing = {}
    prof = wprofile.Profiler(executing, _runner.__code__, interval=0.005).start()
    try:
        _run_in_thread(prof, executing, "unit_on-1")
        first = prof._thread
        n = prof.samples
        assert n > 0
        prof.set_interval(0)
        assert not prof.enabled and prof._thread is None
        _run_in_thread(prof, executing, "unit_off-1", seconds=0.1)
        assert prof.samples == n and prof.get(key="unit_off")["count"] == 0
        first.join(2)
        assert not first.is_alive()  # the old sampler thread ended
        prof.set_interval(0.005)
        _run_in_thread(prof, executing, "unit_again-1")
        assert prof.get(key="unit_again")["count"] > 0 and prof._thread.is_alive()
    finally:
        prof.close()
    prof._thread.join(2)
    assert not prof._thread.is_alive()


def _set_sampling(interval, dask_worker=None):
    dask_worker.profiler.set_interval(interval)


def test_sampling_off_on_a_running_cluster(client):
    client.run(_set_sampling, 0)
    try:
        t0 = time.time()
        client.submit(jf_prof_toggle, 0.2, pure=False).result()
        assert client.profile(start=t0)["count"] == 0
    finally:
        client.run(_set_sampling, 0.01)
    t1 = time.time()
    client.submit(jf_prof_toggle, 0.2, pure=False).result()
    assert samples_of(client.profile(start=t1), "jf_prof_toggle") > 0


def test_sampler_memory_bounds(monkeypatch):
    monkeypatch.setattr(wprofile, "MAX_NODES", 50)
    monkeypatch.setattr(wprofile, "MAX_KEYS", 3)
    prof = wprofile.Profiler({}, _runner.__code__, interval=0.01)
    codes = [compile(f"def f{i}(): pass", f"file{i}.py", "exec").co_consts[0] for i in range(40)]
    now = time.time() - 100
    for i in range(40):  # 40 seconds of samples, each a new 3-frame stack: 4 nodes
        prof._add([(f"k{i}-x", codes[i:i + 3])], now + i)
    info = prof.info()
    assert info["nodes"] <= 50 + 4 and info["buckets"] < 40 and info["keys"] == 3
    assert prof.get()["count"] == info["buckets"]  # one sample per kept bucket
    old = now - wprofile.HISTORY - 10
    prof2 = wprofile.Profiler({}, _runner.__code__, interval=0.01)
    prof2._add([("a-1", codes[:2])], old)
    prof2._add([("a-2", codes[:2])], now)
    assert prof2.info()["buckets"] == 1 and prof2.get()["count"] == 1  # an hour old: dropped


def test_sampler_interval_from_env(monkeypatch):
    monkeypatch.setenv(wprofile.INTERVAL_ENV, "0")
    prof = wprofile.Profiler({}, _runner.__code__).start()
    assert not prof.enabled and prof._thread is None
    prof.wake()  # a no-op
    assert prof.get()["count"] == 0
    monkeypatch.setenv(wprofile.INTERVAL_ENV, "0.02")
    assert wprofile.interval_from_env() == 0.02
    monkeypatch.setenv(wprofile.INTERVAL_ENV, "nonsense")
    assert wprofile.interval_from_env() == wprofile.DEFAULT_INTERVAL
    monkeypatch.delenv(wprofile.INTERVAL_ENV)
    assert wprofile.interval_from_env() == wprofile.DEFAULT_INTERVAL


def test_merge_sums_by_identifier():
    def node(name, count, *children):
        return {"description": {"filename": "f.py", "line_number": 1, "name": name, "line": ""},
                "identifier": f"{name};f.py;1", "count": count,
                "children": {c["identifier"]: c for c in children}}

    a = node("root", 3, node("x", 3, node("y", 2)))
    b = node("root", 4, node("x", 1), node("z", 3))
    m = merge(a, b)
    assert m["count"] == 7 and m["identifier"] == "root"
    assert m["children"]["x;f.py;1"]["count"] == 4 and m["children"]["z;f.py;1"]["count"] == 3
    assert m["children"]["x;f.py;1"]["children"]["y;f.py;1"]["count"] == 2
    assert a["count"] == 3  # inputs untouched
    assert merge()["count"] == 0


def test_exported():
    import jupyter_futures

    assert "performance_report" in jupyter_futures.__all__
    assert jupyter_futures.performance_report is performance_report
