"""Jupyter's own auth guards every route of the extension: no token, a bad XSRF token or a foreign
Origin is refused (403) and logged, and nothing changes."""
from __future__ import annotations

import json
import logging
import urllib.parse

import pytest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def port(http_server_client, jp_http_port):
    """The port of the test server, listening (pytest-jupyter listens once its client fixture is used)."""
    return jp_http_port


def url(port, jp_base_url, path: str, scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{port}{jp_base_url}jupyter-futures/api/{path}"


async def status_of(request: HTTPRequest) -> int:
    try:
        reply = await AsyncHTTPClient().fetch(request)
        return reply.code
    except HTTPClientError as exc:
        return exc.code


@pytest.mark.parametrize("method, path, body", [
    ("GET", "status", None), ("GET", "clusters", None), ("POST", "clusters", "{}"),
    ("PATCH", "clusters/x", '{"workers": 1}'), ("DELETE", "clusters/x", None), ("GET", "profiles", None),
    ("PUT", "selection", '{"id": null}'), ("POST", "clusters/x/workers/w/kernel", "{}"),
])
async def test_requests_without_a_token_are_refused(jp_serverapp, port, jp_base_url, method, path, body):
    request = HTTPRequest(url(port, jp_base_url, path), method=method, body=body,
                          allow_nonstandard_methods=True)
    assert await status_of(request) == 403


async def browser_session(jp_serverapp, port, jp_base_url) -> dict:
    """Log in as a browser does (the login form with its _xsrf cookie, the token as password);
    returns the session's cookies."""
    base = f"http://127.0.0.1:{port}{jp_base_url}"
    client = AsyncHTTPClient()
    cookies = _cookies(await client.fetch(f"{base}login"))
    login = await status_of_with(client, HTTPRequest(
        f"{base}login", method="POST", follow_redirects=False,
        body=urllib.parse.urlencode({"password": jp_serverapp.identity_provider.token, "_xsrf": cookies["_xsrf"]}),
        headers={"Cookie": _cookie_header(cookies)}))
    cookies.update(_cookies(login))
    return cookies


async def test_a_cookie_session_without_the_right_xsrf_token_cannot_change_anything(
        jp_serverapp, port, jp_base_url, caplog):
    from jupyter_futures.protocol import registry

    cookies = await browser_session(jp_serverapp, port, jp_base_url)
    session = {"Cookie": _cookie_header(cookies)}
    # The session reads fine...
    reply = await AsyncHTTPClient().fetch(url(port, jp_base_url, "clusters"), headers=session)
    assert json.loads(reply.body) == []
    # ...but a change with a wrong or missing XSRF token is refused, and nothing is started.
    caplog.set_level(logging.WARNING)
    for headers in ({**session, "X-XSRFToken": "forged"}, session):
        request = HTTPRequest(url(port, jp_base_url, "clusters"), method="POST", body='{"workers": 0}',
                              headers=headers)
        assert await status_of(request) == 403
    assert registry.list_records() == []
    assert "XSRF" in caplog.text
    # With the right one it works: the sidebar's own requests pass.
    request = HTTPRequest(url(port, jp_base_url, "selection"), method="PUT", body='{"id": null}',
                          headers={**session, "X-XSRFToken": cookies["_xsrf"]})
    assert await status_of(request) == 200


async def status_of_with(client, request):
    try:
        return await client.fetch(request)
    except HTTPClientError as exc:
        return exc.response


def _cookies(reply) -> dict:
    out = {}
    for header in reply.headers.get_list("Set-Cookie"):
        name, _, rest = header.partition("=")
        out[name.strip()] = rest.split(";", 1)[0]
    return out


def _cookie_header(cookies: dict) -> str:
    return "; ".join(f"{k}={v}" for k, v in cookies.items())


async def test_the_feed_websocket_needs_a_token(jp_serverapp, port, jp_base_url):
    with pytest.raises(HTTPClientError) as refused:
        await websocket_connect(url(port, jp_base_url, "feed", "ws"))
    assert refused.value.code == 403


async def test_the_feed_websocket_refuses_a_foreign_origin_for_a_browser_session(jp_serverapp, port, jp_base_url):
    # A page elsewhere cannot ride on the user's Jupyter cookie (a token in a header it cannot know).
    cookie = _cookie_header(await browser_session(jp_serverapp, port, jp_base_url))
    foreign = HTTPRequest(url(port, jp_base_url, "feed", "ws"),
                          headers={"Cookie": cookie, "Origin": "http://evil.example"})
    with pytest.raises(HTTPClientError) as refused:
        await websocket_connect(foreign)
    assert refused.value.code == 403
    same = HTTPRequest(url(port, jp_base_url, "feed", "ws"),
                       headers={"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"})
    ws = await websocket_connect(same)
    assert json.loads(await ws.read_message())["op"] == "clusters"
    ws.close()


async def test_the_feed_websocket_with_a_token_lists_the_clusters(jp_serverapp, port, jp_base_url,
                                                                  jp_auth_header):
    request = HTTPRequest(url(port, jp_base_url, "feed", "ws"), headers=jp_auth_header)
    ws = await websocket_connect(request)
    try:
        first = json.loads(await ws.read_message())
        assert first == {"op": "clusters", "clusters": []}
        await ws.write_message("not json")
        error = json.loads(await ws.read_message())
        assert error["op"] == "error" and "Expecting value" in error["message"]
        await ws.write_message(json.dumps({"op": "subscribe", "cluster": "nope", "topics": ["tasks"]}))
        error = json.loads(await ws.read_message())
        assert error["op"] == "error" and "no running cluster 'nope'" in error["message"]
    finally:
        ws.close()
