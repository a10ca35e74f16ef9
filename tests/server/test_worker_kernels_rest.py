"""Worker kernels through the server extension: opened from the REST API, listed by the Jupyter
server as external kernels, run code in the worker, interrupted and stopped through the REST."""
from __future__ import annotations

import asyncio
import json
import os
import urllib.parse

import pytest

from jupyter_futures import Client, LocalCluster

pytestmark = pytest.mark.timeout(120)


async def test_a_worker_kernel_opens_runs_code_in_the_worker_and_stops(api, jp_fetch):
    from jupyter_client.asynchronous import AsyncKernelClient

    with LocalCluster(n_workers=1, memory_limit=None) as cluster, Client(cluster, set_as_default=False) as client:
        (worker,) = client.scheduler_info()["workers"]
        held = client.scatter([41], workers=[worker])[0]
        path = f"clusters/{cluster.id}/workers/{urllib.parse.quote(worker, safe='')}/kernel"
        _, opened = await api("POST", path, expect=200)
        assert os.path.exists(opened["connection_file"])
        # The Jupyter server lists it among its kernels (JupyterLab's Running panel; "New console").
        reply = await jp_fetch("api", "kernels")
        ids = [k["id"] for k in json.loads(reply.body)]
        assert opened["kernel_id"] in ids

        kc = AsyncKernelClient(connection_file=opened["connection_file"])
        kc.load_connection_file()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=30)
            results = []
            reply = await kc.execute_interactive(
                f"import os\n1 + 1, os.getpid(), data[{held.key!r}]", timeout=30,
                output_hook=lambda m: results.append(m["content"]["data"]["text/plain"])
                if m["msg_type"] == "execute_result" else None)
            assert reply["content"]["status"] == "ok"
            worker_pid = client.scheduler_info()["workers"][worker]["pid"]
            assert results == [f"(2, {worker_pid}, 41)"]

            # Interrupt through the REST: a long cell ends with KeyboardInterrupt.
            started = asyncio.Event()
            busy = asyncio.ensure_future(kc.execute_interactive(
                "import time; print('sleeping', flush=True); time.sleep(60)", timeout=60,
                output_hook=lambda m: started.set() if m["msg_type"] == "stream" else None))
            await asyncio.wait_for(started.wait(), 20)
            await api("POST", f"{path}/interrupt", expect=200)
            interrupted = await asyncio.wait_for(busy, 20)
            assert interrupted["content"]["status"] == "error"
            assert interrupted["content"]["ename"] == "KeyboardInterrupt"
        finally:
            kc.stop_channels()
        await api("DELETE", path, expect=204)
        assert not os.path.exists(opened["connection_file"])
        reply = await jp_fetch("api", "kernels")
        assert opened["kernel_id"] not in [k["id"] for k in json.loads(reply.body)]


async def test_a_kernel_for_an_unknown_worker_is_refused(api):
    with LocalCluster(n_workers=1, memory_limit=None) as cluster:
        status, error = await api("POST", f"clusters/{cluster.id}/workers/tcp%3A%2F%2F127.0.0.1%3A1/kernel")
        assert status == 404 and "no such worker" in error["message"]
