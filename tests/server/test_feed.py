"""The live feed through the Jupyter server's own websocket: a real server, a real cluster, real tasks."""
from __future__ import annotations

import asyncio
import json
import time

import pytest

from jupyter_futures import Client, LocalCluster

pytestmark = pytest.mark.timeout(120)


def inc(x):
    return x + 1


class Feed:
    """A browser's end of the feed websocket."""

    def __init__(self, ws):
        self.ws = ws
        self.seen: list[dict] = []

    async def send(self, **message) -> None:
        await self.ws.write_message(json.dumps(message))

    async def until(self, predicate, timeout: float = 60.0) -> dict:
        """The first message (from now on) for which ``predicate`` is true."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    text = await self.ws.read_message()
                    assert text is not None, "the feed closed"
                    message = json.loads(text)
                    self.seen.append(message)
                    if predicate(message):
                        return message
        except TimeoutError:
            raise AssertionError(f"not seen within {timeout} s; the last messages: {self.seen[-5:]}") from None


@pytest.fixture
def open_feed(jp_ws_fetch, jp_asyncio_loop):
    """Connect a feed websocket (closed after the test, on the server's loop)."""
    sockets = []

    async def connect() -> Feed:
        ws = await jp_ws_fetch("jupyter-futures", "api", "feed")
        sockets.append(ws)
        return Feed(ws)
    yield connect

    async def close_all() -> None:
        for ws in sockets:
            ws.close()
    jp_asyncio_loop.run_until_complete(close_all())


def topic(name, cluster_id):
    return lambda m: m.get("op") == "delta" and m["topic"] == name and m["cluster"] == cluster_id


async def test_the_feed_delivers_task_events_progress_and_workers_while_a_map_runs(open_feed):
    feed = await open_feed()
    with LocalCluster(n_workers=2, memory_limit="2GB") as cluster, Client(cluster, set_as_default=False) as client:
        listed = await feed.until(lambda m: m["op"] == "clusters" and m["clusters"])
        assert [c["id"] for c in listed["clusters"]] == [cluster.id]
        await feed.send(op="subscribe", cluster=cluster.id, topics=["tasks", "progress", "workers"])
        workers = await feed.until(topic("workers", cluster.id))
        assert len(workers["data"]) == 2
        w = workers["data"][0]
        assert w["memory_limit"] == 2 * 10**9 and set(w["thresholds"]) == {"spill", "pause", "terminate"}
        assert {"managed", "spilled", "unmanaged", "cpu", "memory"} <= set(w)

        futures = client.map(inc, range(500))
        tasks = await feed.until(lambda m: topic("tasks", cluster.id)(m)
                                 and any(r["prefix"] == "inc" for r in m["data"]))
        record = next(r for r in tasks["data"] if r["prefix"] == "inc")
        assert record["worker"] in cluster_workers(client) and record["stop"] >= record["start"] > time.time() - 60
        assert record["status"] == "finished"
        done = await feed.until(lambda m: topic("progress", cluster.id)(m)
                                and m["data"].get("inc", {}).get("memory") == 500)
        assert done["data"]["inc"]["total"] == 500 and done["data"]["inc"]["erred"] == 0
        assert await asyncio.to_thread(client.gather, futures) == list(range(1, 501))


def cluster_workers(client) -> set[str]:
    return set(client.scheduler_info()["workers"])


async def test_the_feed_answers_profile_and_logs_requests_and_says_when_a_cluster_is_gone(open_feed):
    feed = await open_feed()
    cluster = LocalCluster(n_workers=1, memory_limit=None)
    try:
        await feed.until(lambda m: m["op"] == "clusters" and m["clusters"])
        await feed.send(op="subscribe", cluster=cluster.id, topics=["tasks"])
        with Client(cluster, set_as_default=False) as client:
            def busy(n):
                total = 0
                for i in range(n):
                    total += i * i
                return total

            await asyncio.to_thread(lambda: client.gather(client.map(busy, [2_000_000] * 4)))
        await feed.send(op="request", id=7, cluster=cluster.id, what="profile", args={})
        reply = await feed.until(lambda m: m["op"] == "reply" and m["id"] == 7)
        assert "error" not in reply, reply
        assert reply["data"]["count"] > 0 and reply["data"]["children"]
        await feed.send(op="request", id=8, cluster=cluster.id, what="logs", args={})
        reply = await feed.until(lambda m: m["op"] == "reply" and m["id"] == 8)
        assert isinstance(reply["data"], list)
        await feed.send(op="request", id=9, cluster=cluster.id, what="secrets", args={})
        reply = await feed.until(lambda m: m["op"] == "reply" and m["id"] == 9)
        assert "unknown request 'secrets'" in reply["error"]
    finally:
        cluster.close()
    gone = await feed.until(lambda m: m["op"] == "gone")
    assert gone["cluster"] == cluster.id


async def test_the_futures_of_each_kernel_are_listed_with_their_bytes(api):
    with LocalCluster(n_workers=1, memory_limit=None) as cluster, Client(cluster, set_as_default=False) as client:
        held = client.scatter([b"x" * 10_000, b"y" * 20_000])
        await asyncio.to_thread(client.gather, held)
        _, holdings = await api("GET", f"clusters/{cluster.id}/futures", expect=200)
        (mine,) = [h for h in holdings if h["client"] == client.id]
        assert mine["held"] == 2 and mine["bytes"] >= 30_000
        assert {f["key"] for f in mine["futures"]} == {f.key for f in held}


async def test_a_second_pane_on_a_live_topic_gets_the_current_state_at_once(open_feed):
    with LocalCluster(n_workers=1, memory_limit=None) as cluster, Client(cluster, set_as_default=False) as client:
        held = client.map(inc, range(20))  # held: they stay in memory, so the counts stay as they are
        await asyncio.to_thread(client.gather, held)
        first, second = await open_feed(), await open_feed()
        for feed in (first, second):
            await feed.until(lambda m: m["op"] == "clusters" and m["clusters"])
        await first.send(op="subscribe", cluster=cluster.id, topics=["progress"])
        await first.until(lambda m: topic("progress", cluster.id)(m) and m["data"].get("inc", {}).get("memory") == 20)
        # Nothing changes any more, so the scheduler sends nothing new: the hub answers the late pane itself.
        await second.send(op="subscribe", cluster=cluster.id, topics=["progress"])
        late = await second.until(topic("progress", cluster.id), timeout=10)
        assert late["data"]["inc"]["total"] == 20 and late["data"]["inc"]["memory"] == 20
