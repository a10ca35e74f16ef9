"""``Client.get_versions``: what each process of the cluster runs, and a clear error when they differ."""
import sys

import pytest

from jupyter_futures.client.versions import mismatches, versions_here


def test_versions_cover_the_client_the_scheduler_and_every_worker(client):
    versions = client.get_versions(packages=["pytest"])
    assert set(versions) == {"client", "scheduler", "workers"}
    assert set(versions["workers"]) == set(client.scheduler_info()["workers"])
    for part in [versions["client"], versions["scheduler"], *versions["workers"].values()]:
        assert part["packages"]["python"] == ".".join(map(str, sys.version_info))
        assert part["packages"]["jupyter_futures"] and part["packages"]["pytest"] == pytest.__version__
        assert part["host"]["python-bits"] in (32, 64)
    assert client.get_versions(check=True)["client"]["packages"]["cloudpickle"]


def test_a_version_that_differs_is_named_with_each_sides_version():
    here = versions_here()
    other = {"host": here["host"], "packages": {**here["packages"], "cloudpickle": "0.0.1"}}
    assert mismatches(here, here, {"tcp://w:1": other}) == [
        ("cloudpickle", here["packages"]["cloudpickle"], here["packages"]["cloudpickle"], "0.0.1")]
    assert mismatches(here, here, {"tcp://w:1": here}) == []

