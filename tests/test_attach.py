"""A second process of the same user attaches to a local cluster with its address alone (the futures docs'
"retrieve results from a different process", and a second notebook joining the cluster); the token it
finds is in files only this user can read."""
from __future__ import annotations

import os
import stat
import subprocess
import textwrap

from jupyter_futures import Client, LocalCluster
from jupyter_futures.protocol import registry

from procs import PYTHON, TIMEOUT, clean_env


def inc(x):
    return x + 1


def test_a_second_process_of_the_same_user_attaches_with_the_address_alone_and_reads_published_results():
    with LocalCluster(n_workers=1, threads_per_worker=1) as cluster, Client(cluster, set_as_default=False) as client:
        future = client.submit(inc, 41)
        client.publish_dataset(answer=future)
        script = textwrap.dedent(f"""
            from jupyter_futures import Client
            with Client({cluster.scheduler_address!r}) as other:  # no token given, none in the environment
                print(other.get_dataset("answer").result(), other.submit(pow, 2, 10).result())
        """)
        done = subprocess.run([PYTHON, "-c", script], env=clean_env(), capture_output=True, text=True,
                              timeout=2 * TIMEOUT)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["42", "1024"]


def test_the_token_a_second_process_finds_is_readable_by_this_user_only():
    with LocalCluster(n_workers=0) as cluster:
        record = registry.find_by_address(cluster.scheduler_address)
        assert record is not None and record["token"] == cluster.token
        folder = registry.registry_dir()
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
        files = [folder / name for name in os.listdir(folder) if cluster.token in (folder / name).read_text()]
        assert files and all(stat.S_IMODE(os.stat(f).st_mode) == 0o600 for f in files)
