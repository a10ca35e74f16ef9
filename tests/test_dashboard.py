"""The scheduler's dashboard: JSON status, task stream and the websocket feed, from a real cluster."""
import asyncio
import json
import urllib.request

import pytest
import tornado.websocket

from jupyter_futures import Client, LocalCluster


def inc(x):
    return x + 1


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=0) as cl:
        yield cl


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def test_status_shows_workers_and_held_tasks(cluster):
    with Client(cluster) as client:
        futures = client.map(inc, range(10))
        client.gather(futures)
        status = get_json(cluster.dashboard_link + "api/status")
        assert status["address"] == cluster.scheduler_address
        assert [w["nthreads"] for w in status["workers"]] == [1]
        assert status["tasks"] == {"memory": 10}
        assert status["by_function"] == {"inc": {"memory": 10}}


def test_task_stream_lists_finished_tasks(cluster):
    with Client(cluster) as client:
        client.gather(client.map(inc, range(5), pure=False))
        rows = get_json(cluster.dashboard_link + "api/task-stream")
        inc_rows = [r for r in rows if r["key"].startswith("inc-")]
        assert len(inc_rows) >= 5
        assert all(r["stop"] >= r["start"] and r["status"] == "finished" for r in inc_rows)
    with pytest.raises(urllib.error.HTTPError) as err:
        get_json(cluster.dashboard_link + "api/task-stream?since=yesterday")
    assert err.value.code == 400


def test_page_and_websocket_feed(cluster):
    with urllib.request.urlopen(cluster.dashboard_link, timeout=10) as r:
        assert "jupyter_futures dashboard" in r.read().decode()

    async def first_message():
        url = cluster.dashboard_link.replace("http://", "ws://") + "ws"
        ws = await tornado.websocket.websocket_connect(url)
        msg = json.loads(await asyncio.wait_for(ws.read_message(), 10))
        ws.close()
        return msg

    msg = asyncio.run(first_message())
    assert msg["op"] == "clusters"
    [info] = msg["clusters"]
    assert info["address"] == cluster.scheduler_address and len(info["worker_list"]) == 1


def test_the_dashboard_is_only_served_under_its_key():
    import urllib.error

    with LocalCluster(n_workers=1, dashboard_address=0, memory_limit=None) as cluster:
        base = cluster.dashboard_link.rsplit("/", 2)[0] + "/"
        for path in ("", "api/status", "ws", "static/dashboard.js"):
            try:
                urllib.request.urlopen(base + path, timeout=10)
                raise AssertionError(f"{path!r} was served without the key")
            except urllib.error.HTTPError as exc:
                assert exc.code == 403 and "client.dashboard_link" in exc.read().decode()
        with urllib.request.urlopen(cluster.dashboard_link + "api/status", timeout=10) as r:
            assert json.load(r)["address"] == cluster.scheduler_address


def test_a_request_for_a_host_name_the_dashboard_does_not_serve_is_refused(cluster):
    """DNS rebinding: a page of evil.example whose name now points at 127.0.0.1 cannot read it."""
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(cluster.dashboard_link)
    answers = {}
    for host in ("evil.example", "localhost", "127.0.0.1"):
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        conn.request("GET", url.path + "api/status", headers={"Host": f"{host}:{url.port}"})
        response = conn.getresponse()
        answers[host] = (response.status, response.read().decode())
        conn.close()
    assert answers["evil.example"][0] == 403
    assert "answers only for 127.0.0.1, localhost" in answers["evil.example"][1]
    assert cluster.scheduler_address not in answers["evil.example"][1]
    assert answers["localhost"][0] == answers["127.0.0.1"][0] == 200
