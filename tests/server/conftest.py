"""A real Jupyter server (pytest-jupyter, in this process) with the jupyter_futures extension enabled.

Each test gets its own server, runtime folder and cluster registry; the clusters the server starts
are stopped when it stops (the extension's default)."""
from __future__ import annotations

import json
import os

import pytest

from pytest_jupyter.jupyter_server import *  # noqa: F401,F403 - the jp_* fixtures, for this folder only


@pytest.fixture
def registry_dir(tmp_path, monkeypatch):
    """A cluster registry of the test's own (the server and every process it starts use it)."""
    path = tmp_path / "registry"
    monkeypatch.setenv("JUPYTER_FUTURES_REGISTRY", str(path))
    return path


@pytest.fixture
def restore_environ():
    """The extension tells future kernels where the registry is through os.environ: undo that."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def jp_server_config(registry_dir, restore_environ):
    return {"ServerApp": {"jpserver_extensions": {"jupyter_futures": True}}}


@pytest.fixture
def api(jp_fetch, jp_serverapp):
    """Call the extension's REST API: ``await api("GET", "clusters")`` -> (status, JSON or None)."""
    async def call(method: str, path: str, body=None, expect: int | None = None):
        from tornado.httpclient import HTTPClientError

        kwargs = {"method": method, "request_timeout": 120}  # starting a cluster on a loaded machine takes a while
        if body is not None:
            kwargs["body"] = json.dumps(body) if not isinstance(body, str) else body
        elif method in ("POST", "PUT", "PATCH"):
            kwargs["body"] = "{}"
        try:
            reply = await jp_fetch("jupyter-futures", "api", *path.split("/"), **kwargs)
            status, text = reply.code, reply.body
        except HTTPClientError as exc:
            status, text = exc.code, exc.response.body if exc.response is not None else b""
        value = json.loads(text) if text else None
        if expect is not None:
            assert status == expect, (status, value)
        return status, value
    return call
