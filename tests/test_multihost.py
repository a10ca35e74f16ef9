"""Two "hosts": network namespaces joined by a veth pair, one worker in each.

Namespace A holds the scheduler, worker ``wA`` and the client; namespace B
holds worker ``wB``. The only way between them is the veth link, so every
byte that moves from one worker to the other crosses a real network interface.
Needs root and ``ip`` (iproute2); skipped, with the reason, when namespaces
cannot be created.
"""
import json
import os
import secrets
import shutil
import subprocess
import sys
import textwrap

import psutil
import pytest

from procs import JF, PYTHON, TIMEOUT, clean_env, kill_tree, start_process, start_scheduler, stop, wait_gone


def ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=TIMEOUT, check=check)


class TwoHosts:
    """Namespaces ``a`` and ``b``, addresses ``ip_a``/``ip_b`` on one /24, loopback up in each."""

    def __init__(self):
        tag = secrets.token_hex(4)
        self.a, self.b = f"jft-a-{tag}", f"jft-b-{tag}"
        self.veth_a, self.veth_b = f"jfa{tag}", f"jfb{tag}"  # interface names: at most 15 characters
        net = f"10.213.{secrets.randbelow(254) + 1}"
        self.ip_a, self.ip_b = f"{net}.1", f"{net}.2"
        self.created: list[str] = []

    def setup(self):
        for ns in (self.a, self.b):
            r = ip("netns", "add", ns, check=False)
            if r.returncode != 0:
                if not self.created:
                    pytest.skip(f"cannot create network namespaces: `ip netns add` says {r.stderr.strip()!r}")
                raise RuntimeError(f"ip netns add {ns}: {r.stderr}")
            self.created.append(ns)
        ip("link", "add", self.veth_a, "type", "veth", "peer", "name", self.veth_b)
        ip("link", "set", self.veth_a, "netns", self.a)
        ip("link", "set", self.veth_b, "netns", self.b)
        for ns, dev, addr in ((self.a, self.veth_a, self.ip_a), (self.b, self.veth_b, self.ip_b)):
            ip("-n", ns, "addr", "add", f"{addr}/24", "dev", dev)
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "link", "set", dev, "up")

    def exec_in(self, ns):
        return ["ip", "netns", "exec", ns]

    def netns_id(self, ns):
        """What ``readlink /proc/self/ns/net`` shows for a process inside ``ns``."""
        return f"net:[{os.stat(f'/run/netns/{ns}').st_ino}]"

    def teardown(self):
        for ns in self.created:
            ip("netns", "del", ns, check=False)
        ip("link", "del", self.veth_a, check=False)  # only if it never moved into its namespace
        listed = ip("netns", "list", check=False).stdout
        assert not any(ns in listed for ns in self.created), listed


@pytest.fixture
def two_hosts():
    if sys.platform != "linux":
        pytest.skip("network namespaces are a Linux feature")
    if shutil.which("ip") is None:
        pytest.skip("the `ip` command (iproute2) is not installed")
    if os.geteuid() != 0:
        pytest.skip("creating network namespaces needs root")
    hosts = TwoHosts()
    try:
        hosts.setup()
        yield hosts
    finally:
        hosts.teardown()


CLIENT = textwrap.dedent("""
    import json, os, sys
    from jupyter_futures import Client

    def netns():
        return os.readlink("/proc/self/ns/net")

    def summarize(xs):
        return sum(xs), len(xs), netns()

    def block(n):
        return bytes(range(256)) * n

    def count(data):
        return len(data), data.count(b"\\xff"), netns()

    address = sys.argv[1]
    with Client(address, timeout=10) as client:  # the token comes from $JUPYTER_FUTURES_TOKEN
        client.wait_for_workers(2, timeout=30)
        workers = client.scheduler_info()["workers"]
        by_name = {w["name"]: a for a, w in workers.items()}
        a, b = by_name["wA"], by_name["wB"]

        # Data scattered to B; a task pinned to A needs it.
        [x] = client.scatter([list(range(200_000))], workers=[b])
        who_has_x = client.who_has(x)
        y = client.submit(summarize, x, workers=[a])
        y_result = y.result(timeout=30)

        # The other way: a 4 MB result made on A, read by a task on B.
        big = client.submit(block, 16_384, workers=[a])
        n = client.submit(count, big, workers=[b])
        n_result = n.result(timeout=30)

        # The client (in A) fetches a large value held by B straight from B.
        far = client.submit(block, 8_192, workers=[b])
        far_value = far.result(timeout=30)

        print(json.dumps({
            "client_netns": netns(),
            "workers": {w["name"]: {"address": addr, "host": w["host"]} for addr, w in workers.items()},
            "who_has_x": who_has_x[x.key],
            "who_has_x_after": client.who_has(x)[x.key],
            "who_has_y": client.who_has(y)[y.key],
            "y": y_result,
            "who_has_big": client.who_has(big)[big.key],
            "who_has_n": client.who_has(n)[n.key],
            "n": n_result,
            "who_has_far": client.who_has(far)[far.key],
            "far_ok": far_value == bytes(range(256)) * 8_192,
        }), flush=True)
""")


def test_tasks_share_data_across_two_hosts(two_hosts, tmp_path):
    h = two_hosts
    token_file = tmp_path / "token"
    procs = []
    try:
        scheduler, info = start_scheduler(tmp_path, "--token-file", str(token_file), "--log-level", "INFO",
                                          prefix=h.exec_in(h.a), host=h.ip_a, env=clean_env(HOME=str(tmp_path)))
        procs.append(scheduler)
        address = info["address"]
        assert address.startswith(f"tcp://{h.ip_a}:")
        token = token_file.read_text().strip()
        env = clean_env(HOME=str(tmp_path), JUPYTER_FUTURES_TOKEN=token)
        workers = {}
        for name, ns, host in (("wA", h.a, h.ip_a), ("wB", h.b, h.ip_b)):
            cmd = [*h.exec_in(ns), JF, "worker", address, "--nthreads", "1", "--name", name, "--host", host]
            workers[name], _ = start_process(cmd, env=env, stderr_path=str(tmp_path / f"{name}.log"), name=name)
            procs.append(workers[name])

        script = tmp_path / "client.py"
        script.write_text(CLIENT)
        r = subprocess.run([*h.exec_in(h.a), PYTHON, str(script), address], env=env, capture_output=True,
                           text=True, timeout=90, stdin=subprocess.DEVNULL)
        logs = {n: (tmp_path / f"{n}.log").read_text() for n in ("scheduler", "wA", "wB")}
        assert r.returncode == 0, f"client failed:\n{r.stderr}\nlogs: {logs}"
        out = json.loads(r.stdout.strip().splitlines()[-1])

        # Each worker serves on its own host's address.
        a, b = out["workers"]["wA"]["address"], out["workers"]["wB"]["address"]
        assert out["workers"]["wA"]["host"] == h.ip_a and a.startswith(f"tcp://{h.ip_a}:")
        assert out["workers"]["wB"]["host"] == h.ip_b and b.startswith(f"tcp://{h.ip_b}:")
        assert out["client_netns"] == h.netns_id(h.a)

        # x lived on B only; y ran in namespace A on it: x crossed the veth link.
        assert out["who_has_x"] == [b]
        assert out["y"] == [sum(range(200_000)), 200_000, h.netns_id(h.a)]
        assert out["who_has_y"] == [a]
        assert b in out["who_has_x_after"]

        # 4 MB made on A were read on B.
        assert out["who_has_big"] == [a] and out["who_has_n"] == [b]
        assert out["n"] == [256 * 16_384, 16_384, h.netns_id(h.b)]

        # The client in A fetched a value that only B held.
        assert out["who_has_far"] == [b] and out["far_ok"]

        # Clean stop: workers first, then the scheduler; nothing is left running.
        family = [p.pid for proc in procs for p in psutil.Process(proc.pid).children(recursive=True)]
        for name in ("wA", "wB"):
            assert stop(workers[name]) == 0, logs[name]
        assert stop(scheduler) == 0, logs["scheduler"]
        assert wait_gone([p.pid for p in procs] + family, timeout=10) == []
    finally:
        for proc in reversed(procs):
            kill_tree(proc)
