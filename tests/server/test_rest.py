"""The server extension's REST API against a real Jupyter server and real clusters (processes, TCP)."""
from __future__ import annotations

import asyncio
import os
import signal

import psutil
import pytest

from jupyter_futures import Client, LocalCluster
from jupyter_futures.protocol import registry

from procs import JF, kill_tree, start_process, wait_gone

pytestmark = pytest.mark.timeout(120)


async def wait_for(predicate, timeout: float = 30.0):
    """Await (bounded) until ``await predicate()`` is true; returns its last value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(0.1)


async def test_the_extension_is_loaded_and_reports_its_version(api, jp_serverapp):
    from jupyter_futures import __version__

    _, status = await api("GET", "status", expect=200)
    assert status["version"] == __version__
    assert status["clusters"] == 0 and status["problems"] == []
    assert "jupyter_futures" in jp_serverapp.extension_manager.extension_apps


async def test_a_cluster_is_created_scaled_adapted_restarted_and_stopped(api, registry_dir):
    _, created = await api("POST", "clusters", {"name": "analysis", "workers": 1, "memory_limit": "1GB"}, expect=201)
    cid = created["id"]
    assert created["name"] == "analysis" and created["workers"] == 1 and created["made_by"] == "jupyter-server"
    assert created["managed"] and created["scalable"] and created["memory_limit"] == 10**9
    record = registry.get(cid)
    assert oct(os.stat(registry_dir / f"{cid}.json").st_mode & 0o777) == "0o600"
    # The scheduler is not a process of the Jupyter server.
    assert record["pid"] != os.getpid() and record["manager_pid"] != os.getpid()

    _, listed = await api("GET", "clusters", expect=200)
    assert [c["id"] for c in listed] == [cid]
    _, one = await api("GET", f"clusters/{cid}", expect=200)
    assert {"id", "name", "address", "workers", "threads", "memory", "made_by"} <= set(one)

    _, scaled = await api("PATCH", f"clusters/{cid}", {"workers": 2}, expect=200)
    assert scaled["workers"] == 2 and len(scaled["worker_list"]) == 2

    _, adapting = await api("PATCH", f"clusters/{cid}", {"adapt": {"minimum": 1, "maximum": 2}}, expect=200)
    assert adapting["adapt"] == {"minimum": 1, "maximum": 2}
    # Nothing to do: adaptive scaling goes down to the minimum after a few idle checks.
    down = await wait_for(lambda: _workers_now(api, cid, 1))
    assert down
    _, stopped_adapting = await api("PATCH", f"clusters/{cid}", {"adapt": None}, expect=200)
    assert stopped_adapting["adapt"] is None

    old_pids = {w["pid"] for w in (await api("GET", f"clusters/{cid}"))[1]["worker_list"]}
    _, restarted = await api("POST", f"clusters/{cid}/restart", expect=200)
    new_pids = {w["pid"] for w in restarted["worker_list"]}
    assert restarted["workers"] == 1 and not old_pids & new_pids

    await api("DELETE", f"clusters/{cid}", expect=204)
    assert registry.get(cid) is None
    assert wait_gone([record["pid"], record["manager_pid"]]) == []
    await api("GET", f"clusters/{cid}", expect=404)


async def _workers_now(api, cid, n):
    _, cluster = await api("GET", f"clusters/{cid}")
    return cluster["workers"] == n


@pytest.mark.parametrize("body, words", [
    ({"workers": "two"}, "workers='two'"),
    ({"threads_per_worker": 0}, "threads_per_worker=0"),
    ({"memory_limit": "lots"}, "memory_limit='lots'"),
    ({"gpus": 1}, "unknown options ['gpus']"),
    ({"profile": "huge"}, "no profile named 'huge'"),
    ({"env": {"A": 1}}, "env:"),
    ("not json", "not JSON"),
    ([1, 2], "JSON object"),
])
async def test_a_bad_creation_request_is_refused_with_what_to_fix(api, body, words):
    status, error = await api("POST", "clusters", body)
    assert status == 400 and words in error["message"], error
    _, listed = await api("GET", "clusters")
    assert listed == []


async def test_requests_about_unknown_clusters_or_with_bad_bodies_are_refused(api):
    status, error = await api("PATCH", "clusters/nope", {"workers": 1})
    assert status == 404 and "no running cluster 'nope'" in error["message"]
    status, error = await api("DELETE", "clusters/nope")
    assert status == 404
    with LocalCluster(n_workers=1, memory_limit=None) as cluster:
        status, error = await api("PATCH", f"clusters/{cluster.id}", {"workers": 1, "adapt": None})
        assert status == 400 and "give {\"workers\": n}" in error["message"]
        status, error = await api("PATCH", f"clusters/{cluster.id}", {"adapt": {"minimum": 3, "maximum": 1}})
        assert status == 400 and "minimum 3 is above maximum 1" in error["message"]
        status, error = await api("PATCH", f"clusters/{cluster.id}", {"workers": True})
        assert status == 400
        status, error = await api("PUT", "selection", {"id": 5})
        assert status == 400


async def test_clusters_made_by_a_script_a_kernel_and_the_cli_are_all_listed(api, tmp_path):
    from jupyter_client.manager import start_new_async_kernel

    script_cluster = LocalCluster(n_workers=1, memory_limit=None, name="from a script")
    km, kc = await start_new_async_kernel(kernel_name="python3", env=dict(os.environ))
    cli, lines = start_process([JF, "scheduler", "--port", "0", "--name", "from the cli"],
                               env=dict(os.environ), stderr_path=str(tmp_path / "cli.log"))
    try:
        lines.json_line(30)
        reply = await kc.execute_interactive(
            "from jupyter_futures import LocalCluster\ncluster = LocalCluster(n_workers=1, memory_limit=None, "
            "name='from a kernel')", timeout=60)
        assert reply["content"]["status"] == "ok"
        _, listed = await api("GET", "clusters", expect=200)
        made_by = {c["name"]: c["made_by"] for c in listed}
        assert made_by == {"from a script": "script", "from a kernel": "kernel", "from the cli": "cli"}
        assert all(c["status"] == "running" and not c["managed"] for c in listed)

        by_name = {c["name"]: c for c in listed}
        # A kernel's cluster can be scaled from Jupyter: its kernel owns the nannies and answers.
        _, scaled = await api("PATCH", f"clusters/{by_name['from a kernel']['id']}", {"workers": 2}, expect=200)
        assert scaled["workers"] == 2
        # A CLI scheduler's workers are started by hand: scaling it says so.
        status, error = await api("PATCH", f"clusters/{by_name['from the cli']['id']}", {"workers": 2})
        assert status == 409 and "started by hand" in error["message"]
        # The server's exit never stops clusters it did not make (checked in test_lifecycle); DELETE does.
        await api("DELETE", f"clusters/{by_name['from the cli']['id']}", expect=204)
        assert cli.wait(15) == 0
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)
        script_cluster.close()
        kill_tree(cli)


async def test_a_dead_clusters_record_is_dropped_from_the_list(api, tmp_path):
    cli, lines = start_process([JF, "scheduler", "--port", "0"], env=dict(os.environ),
                               stderr_path=str(tmp_path / "cli.log"))
    try:
        lines.json_line(30)
        _, listed = await api("GET", "clusters")
        assert len(listed) == 1
        cli.send_signal(signal.SIGKILL)
        cli.wait(10)
        _, listed = await api("GET", "clusters")
        assert listed == []
        assert list(registry.registry_dir().glob("scheduler-*.json")) == []
    finally:
        kill_tree(cli)


async def test_the_selected_cluster_is_the_one_Client_joins_in_a_kernel(api, jp_serverapp):
    from jupyter_client.manager import start_new_async_kernel

    with LocalCluster(n_workers=1, memory_limit=None) as cluster:
        _, selection = await api("GET", "selection", expect=200)
        assert selection == {"id": None}
        await api("PUT", "selection", {"id": cluster.id}, expect=200)
        _, listed = await api("GET", "clusters")
        assert listed[0]["selected"]
        # A kernel of this server inherits the extension's environment, so Client() joins the selection.
        km, kc = await start_new_async_kernel(kernel_name="python3", env=dict(os.environ))
        try:
            outputs = []
            reply = await kc.execute_interactive(
                "from jupyter_futures import Client\nc = Client()\nprint(c.scheduler_address, c.cluster)",
                timeout=60, output_hook=lambda m: outputs.append(m["content"].get("text", "")))
            assert reply["content"]["status"] == "ok"
            assert "".join(outputs).split() == [cluster.scheduler_address, "None"]
            # %futures connect with no address joins it too.
            outputs.clear()
            reply = await kc.execute_interactive(
                "c.close()\n%load_ext jupyter_futures\n%futures connect\nprint(client.scheduler_address)",
                timeout=60, output_hook=lambda m: outputs.append(m["content"].get("text", "")))
            assert reply["content"]["status"] == "ok"
            assert cluster.scheduler_address in "".join(outputs).split()
        finally:
            kc.stop_channels()
            await km.shutdown_kernel(now=True)
        await api("PUT", "selection", {"id": None}, expect=200)
        assert registry.selected_id() is None


def test_Client_outside_a_jupyter_server_never_follows_the_selection(monkeypatch, registry_dir):
    monkeypatch.delenv(registry.FOLLOW_SELECTION_ENV, raising=False)
    with LocalCluster(n_workers=1, memory_limit=None) as cluster:
        registry.select(cluster.id)
        assert registry.selected_for_new_clients() is None
        monkeypatch.setenv(registry.FOLLOW_SELECTION_ENV, "1")
        assert registry.selected_for_new_clients()["address"] == cluster.scheduler_address
        # Any process of this user finds the token of a registered scheduler by its address.
        with Client(cluster.scheduler_address) as c:
            assert c.submit(sum, [1, 2]).result() == 3


async def test_profiles_give_a_schema_the_form_is_drawn_from(api):
    _, answer = await api("GET", "profiles", expect=200)
    names = [p["name"] for p in answer["profiles"]]
    assert names[0] == "default"
    props = answer["schema"]["properties"]
    assert {"name", "workers", "threads_per_worker", "memory_limit", "env", "profile"} <= set(props)
    assert props["profile"]["enum"] == names


async def test_the_server_reports_activity_while_its_clusters_run(api, jp_serverapp):
    app = jp_serverapp.extension_manager.extension_apps["jupyter_futures"]
    (ext,) = app
    assert not jp_serverapp.extension_manager.any_activity()
    _, created = await api("POST", "clusters", {"workers": 0}, expect=201)
    assert ext.current_activity() == [created["id"]]
    assert jp_serverapp.extension_manager.any_activity()
    await api("DELETE", f"clusters/{created['id']}", expect=204)
    assert not jp_serverapp.extension_manager.any_activity()


async def test_a_cluster_still_starting_when_the_server_stops_is_stopped_too(api, jp_serverapp):
    (ext,) = jp_serverapp.extension_manager.extension_apps["jupyter_futures"]
    creating = asyncio.ensure_future(api("POST", "clusters", {"workers": 1}))

    async def started() -> list:
        return list(ext.manager.processes.values())
    (proc,) = await wait_for(started)
    family = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
    await ext.manager.close(stop_clusters=True)
    assert wait_gone(family) == []
    status, _ = await creating
    assert status in (201, 500)  # it answers (made just in time, or "could not start"), never hangs
    assert registry.list_records() == []


async def test_environment_variables_for_the_workers_reach_them_but_not_the_command_line(api):
    _, created = await api("POST", "clusters", {"workers": 1, "env": {"JF_TEST_SECRET": "s3cret"}}, expect=201)
    record = registry.get(created["id"])
    assert "s3cret" not in " ".join(psutil.Process(record["manager_pid"]).cmdline())
    with Client(created["address"], set_as_default=False) as client:
        seen = client.run(lambda: __import__("os").environ.get("JF_TEST_SECRET"))
        assert list(seen.values()) == ["s3cret"]
    await api("DELETE", f"clusters/{created['id']}", expect=204)


def test_a_record_being_written_is_never_listed_or_removed(registry_dir):
    registry_dir.mkdir(parents=True, exist_ok=True)
    half_written = registry_dir / ".tmp-abc.json"
    half_written.write_text('{"id": "x", "pid"')
    assert registry.list_records() == []
    assert half_written.exists()
