"""TLS: clusters whose every connection (client, scheduler, worker, worker to worker) is encrypted,
with certificates this test makes (a CA, certificates it signed, and one it did not)."""
import asyncio
import os
import shutil
import subprocess

import numpy as np
import pytest

from jupyter_futures import Client
from jupyter_futures.cluster.local import LocalCluster
from jupyter_futures.protocol import auth
from jupyter_futures.protocol.connect import connect
from jupyter_futures.protocol.security import Security

from procs import JF, TIMEOUT, clean_env, kill_tree, start_process, start_scheduler

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make certificates")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=TIMEOUT)


def make_certificates(folder) -> dict:
    """A CA; scheduler, worker and client certificates it signed; a "rogue" certificate it did not."""
    folder = str(folder)
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *key, "-days", "2", "-subj", "/CN=test-ca", "-keyout", "ca.key", "-out", "ca.pem",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign", cwd=folder)
    with open(os.path.join(folder, "leaf.cnf"), "w") as f:
        f.write("extendedKeyUsage = serverAuth,clientAuth\nsubjectAltName = IP:127.0.0.1\n")
    paths = {"ca": os.path.join(folder, "ca.pem")}
    for name in ("scheduler", "worker", "client"):
        openssl("req", "-new", *key, "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                cwd=folder)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-extfile", "leaf.cnf", "-out", f"{name}.pem", cwd=folder)
        paths[name] = (os.path.join(folder, f"{name}.pem"), os.path.join(folder, f"{name}.key"))
    openssl("req", "-x509", *key, "-days", "2", "-subj", "/CN=rogue", "-keyout", "rogue.key", "-out", "rogue.pem",
            cwd=folder)
    paths["rogue"] = (os.path.join(folder, "rogue.pem"), os.path.join(folder, "rogue.key"))
    return paths


def cluster_security(certs) -> Security:
    return Security(tls_ca_file=certs["ca"], tls_scheduler_cert=certs["scheduler"][0],
                    tls_scheduler_key=certs["scheduler"][1], tls_worker_cert=certs["worker"][0],
                    tls_worker_key=certs["worker"][1], tls_client_cert=certs["client"][0],
                    tls_client_key=certs["client"][1], require_encryption=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def cluster(certs):
    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=0, security=cluster_security(certs)) as c:
        yield c


def inc(x):
    return x + 1


def add(a, b):
    return a + b


def total(a, b):
    return float(a.sum() + b.sum())


def try_connect(address, token, security=None):
    async def go():
        comm = await connect(address, token, timeout=TIMEOUT, security=security)
        comm.close()
    asyncio.run(go())


def test_a_tls_cluster_computes_and_moves_data_between_workers_over_tls(cluster):
    with Client(cluster, set_as_default=False) as client:
        client.wait_for_workers(2)
        a, b = sorted(client.scheduler_info()["workers"])
        assert cluster.scheduler_address.startswith("tls://") and a.startswith("tls://") and b.startswith("tls://")
        x = client.submit(inc, 1, workers=[a])
        y = client.submit(inc, 10, workers=[b])
        z = client.submit(add, x, y, workers=[a])  # y moves from b to a
        big_a = client.submit(np.ones, 2_000_000, workers=[a])  # 16 MB: the large-part receive path
        big_b = client.submit(np.ones, 2_000_000, workers=[b])
        s = client.submit(total, big_a, big_b, workers=[b])
        assert z.result(TIMEOUT) == 13
        assert s.result(TIMEOUT) == 4_000_000.0
        assert client.gather([x, y]) == [2, 11]
        assert client.gather(big_a).sum() == 2_000_000.0
        # The workers' own ports speak TLS only.
        with pytest.raises(auth.AuthenticationError, match="uses TLS"):
            try_connect(a.replace("tls://", "tcp://"), cluster.token)


def test_a_feed_monitor_watches_a_tls_cluster(cluster, certs):
    from jupyter_futures.client.monitor import FeedMonitor

    async def go():
        monitor = await FeedMonitor(cluster.scheduler_address, cluster.token, timeout=TIMEOUT,
                                    security=cluster_security(certs)).start()
        try:
            return await monitor.request("identity")
        finally:
            monitor.comm.close()
    identity = asyncio.run(go())
    assert len(identity["workers"]) == 2 and all(a.startswith("tls://") for a in identity["workers"])


def test_a_plain_tcp_client_is_refused_with_a_clear_error(cluster):
    plain = cluster.scheduler_address.replace("tls://", "tcp://")
    with pytest.raises(auth.AuthenticationError, match="uses TLS: connect to its tls://"):
        Client(plain, token=cluster.token, set_as_default=False, timeout=TIMEOUT)


def test_a_tls_client_refuses_a_plain_server():
    with LocalCluster(n_workers=0, memory_limit=0) as plain:
        tls_address = plain.scheduler_address.replace("tcp://", "tls://")
        with pytest.raises(auth.AuthenticationError, match="does not use TLS"):
            try_connect(tls_address, plain.token)


def test_a_client_certificate_the_ca_did_not_sign_is_refused(cluster, certs):
    rogue = Security(tls_ca_file=certs["ca"], tls_client_cert=certs["rogue"][0], tls_client_key=certs["rogue"][1])
    with pytest.raises(auth.AuthenticationError, match="refused this connection's TLS certificate"):
        try_connect(cluster.scheduler_address, cluster.token, rogue)
    no_certificate = Security(tls_ca_file=certs["ca"])
    with pytest.raises(auth.AuthenticationError, match="refused this connection's TLS certificate"):
        try_connect(cluster.scheduler_address, cluster.token, no_certificate)


def test_a_server_the_client_ca_did_not_sign_is_not_trusted(cluster, certs):
    other_ca = Security(tls_ca_file=certs["rogue"][0], tls_client_cert=certs["client"][0],
                        tls_client_key=certs["client"][1])
    with pytest.raises(auth.AuthenticationError, match="TLS certificate is not trusted"):
        try_connect(cluster.scheduler_address, cluster.token, other_ca)


def test_a_wrong_token_over_tls_is_refused(cluster, certs):
    with pytest.raises(auth.AuthenticationError, match="token"):
        try_connect(cluster.scheduler_address, "0" * 64, cluster_security(certs))
    # And the right token with the right certificate gets in.
    try_connect(cluster.scheduler_address, cluster.token, cluster_security(certs))


def test_require_encryption_refuses_a_tcp_address(certs):
    with pytest.raises(ValueError, match="requires encryption"):
        try_connect("tcp://127.0.0.1:9", "t", cluster_security(certs))


def test_temporary_certificates_make_a_tls_cluster():
    with Client(n_workers=1, threads_per_worker=1, memory_limit=0, security=True, set_as_default=False) as client:
        assert client.scheduler_address.startswith("tls://")
        assert client.submit(inc, 41).result(TIMEOUT) == 42
        assert os.path.isfile(client.security.tls_ca_file)


def test_cli_scheduler_and_workers_with_tls_flags(tmp_path, certs):
    token_file = tmp_path / "token"
    env = clean_env(HOME=str(tmp_path))
    scheduler, info = start_scheduler(tmp_path, "--token-file", str(token_file), "--tls-ca", certs["ca"],
                                      "--tls-cert", certs["scheduler"][0], "--tls-key", certs["scheduler"][1],
                                      env=env)
    procs = [scheduler]
    try:
        address, token = info["address"], token_file.read_text().strip()
        assert address.startswith("tls://")
        for name in ("w1", "w2"):
            proc, _ = start_process([JF, "worker", address, "--nthreads", "1", "--name", name,
                                     "--tls-ca", certs["ca"], "--tls-cert", certs["worker"][0],
                                     "--tls-key", certs["worker"][1]],
                                    env=clean_env(HOME=str(tmp_path), JUPYTER_FUTURES_TOKEN=token,
                                                  PYTHONPATH=os.path.dirname(os.path.abspath(__file__))),
                                    stderr_path=str(tmp_path / f"{name}.log"), name=name)
            procs.append(proc)
        security = Security(tls_ca_file=certs["ca"], tls_client_cert=certs["client"][0],
                            tls_client_key=certs["client"][1])
        with Client(address, token=token, security=security, set_as_default=False, timeout=TIMEOUT) as client:
            client.wait_for_workers(2, timeout=TIMEOUT)
            a, b = sorted(client.scheduler_info()["workers"])
            assert a.startswith("tls://") and b.startswith("tls://")
            x = client.submit(inc, 1, workers=[a])
            y = client.submit(add, x, 5, workers=[b])  # x moves from a to b
            assert y.result(TIMEOUT) == 7
        with pytest.raises(auth.AuthenticationError, match="uses TLS"):
            Client(address.replace("tls://", "tcp://"), token=token, set_as_default=False, timeout=TIMEOUT)
        # A worker pointed at a tls:// scheduler without a certificate says what it needs.
        r = subprocess.run([JF, "worker", address, "--nthreads", "1"], capture_output=True, text=True,
                           timeout=TIMEOUT, env=clean_env(HOME=str(tmp_path), JUPYTER_FUTURES_TOKEN=token))
        assert r.returncode != 0 and "--tls-cert" in r.stderr
    finally:
        for proc in reversed(procs):
            kill_tree(proc)
