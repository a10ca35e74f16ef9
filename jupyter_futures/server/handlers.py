"""REST handlers and the feed websocket, under ``{base_url}/jupyter-futures/api/``.

Every handler is authenticated and authorized (resource ``jupyter_futures``) by Jupyter's own
machinery, so it works behind JupyterHub, a path prefix and HTTPS unchanged; nothing changes
state on GET; errors are JSON with a message a person can act on.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, Iterator
from urllib.parse import unquote

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web, websocket

from .hub import FeedHub
from .manager import ClusterError, ClusterManager
from .profiles import cluster_options, schema_for

logger = logging.getLogger("jupyter_futures.server")

AUTH_RESOURCE = "jupyter_futures"


class BaseHandler(ExtensionHandlerMixin, APIHandler):
    """JSON in and out; ClusterError and ValueError become error answers with their message."""

    auth_resource = AUTH_RESOURCE

    @property
    def manager(self) -> ClusterManager:
        return self.settings["jupyter_futures_manager"]

    def json_body(self) -> Any:
        """The request's JSON body (400 with what is wrong if it is not JSON)."""
        if not self.request.body:
            return {}
        try:
            return json.loads(self.request.body)
        except ValueError as exc:
            raise web.HTTPError(400, f"the request body is not JSON: {exc}") from None

    def answer(self, value: Any, status: int = 200) -> None:
        """Finish with ``value`` as JSON."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(value, default=str))

    @contextlib.contextmanager
    def refusals(self) -> Iterator[None]:
        """A ClusterError or ValueError inside becomes a logged JSON error answer with its message."""
        try:
            yield
        except (ClusterError, ValueError) as exc:
            status = exc.status if isinstance(exc, ClusterError) else 400
            self.log.warning("jupyter_futures: %s %s refused (%d): %s", self.request.method, self.request.path,
                             status, exc)
            raise web.HTTPError(status, str(exc)) from None


class StatusHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        """The extension's version and what may be wrong."""
        self.answer(self.manager.status())


class ClustersHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Every running cluster."""
        self.answer(await self.manager.list())

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Start a cluster from a profile and options."""
        profiles = self.settings["jupyter_futures_profiles"]()
        with self.refusals():
            options = cluster_options(self.json_body(), profiles)
            self.answer(await self.manager.create(options), 201)


class ClusterHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self, cluster_id: str) -> None:
        """One cluster."""
        with self.refusals():
            self.answer(await self.manager.get(cluster_id))

    @web.authenticated
    @authorized
    async def patch(self, cluster_id: str) -> None:
        """``{"workers": n}`` scales; ``{"adapt": {"minimum", "maximum"}}`` adapts (null: stop adapting)."""
        body = self.json_body()
        if not isinstance(body, dict) or len(set(body) & {"workers", "adapt"}) != 1 or set(body) - {"workers", "adapt"}:
            raise web.HTTPError(400, 'give {"workers": n} to scale, or {"adapt": {"minimum": a, "maximum": b}} '
                                     'to adapt ({"adapt": null} stops adapting)')
        with self.refusals():
            if "workers" in body:
                self.answer(await self.manager.scale(cluster_id, body["workers"]))
            else:
                self.answer(await self.manager.adapt(cluster_id, body["adapt"]))

    @web.authenticated
    @authorized
    async def delete(self, cluster_id: str) -> None:
        """Stop the cluster."""
        with self.refusals():
            await self.manager.stop(cluster_id)
        self.set_status(204)
        self.finish()


class RestartHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def post(self, cluster_id: str) -> None:
        """Restart every worker process of the cluster."""
        with self.refusals():
            self.answer(await self.manager.restart(cluster_id))


class SelectionHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        """The cluster ``Client()`` joins in new kernels (null: none, they start their own)."""
        from ..protocol import registry

        self.answer({"id": registry.selected_id()})

    @web.authenticated
    @authorized
    async def put(self) -> None:
        """Select a cluster for ``Client()`` in kernels (``{"id": null}`` clears it)."""
        body = self.json_body()
        if not isinstance(body, dict) or "id" not in body or not (body["id"] is None or isinstance(body["id"], str)):
            raise web.HTTPError(400, 'give {"id": "<cluster id>"} or {"id": null}')
        with self.refusals():
            self.answer({"id": self.manager.select(body["id"])})


class ProfilesHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        """The named option sets for new clusters, and the schema of the options."""
        profiles = self.settings["jupyter_futures_profiles"]()
        self.answer({"profiles": profiles, "schema": schema_for(profiles)})


class FuturesHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self, cluster_id: str) -> None:
        """Per client (kernel): the futures it holds, their state, bytes, worker and cell."""
        with self.refusals():
            self.answer(await self.manager.ask(cluster_id, "dashboard_query", "clients", {}))


class WorkerKernelHandler(BaseHandler):
    """A worker's kernel: open (POST), interrupt (POST .../interrupt), stop (DELETE)."""

    @web.authenticated
    @authorized
    async def post(self, cluster_id: str, worker: str, action: str | None = None) -> None:
        """Open the worker's kernel, or interrupt it."""
        kernels = self.settings["jupyter_futures_worker_kernels"]
        with self.refusals():
            if action == "interrupt":
                await kernels.interrupt(cluster_id, unquote(worker))
                self.answer({})
            else:
                self.answer(await kernels.open(cluster_id, unquote(worker)))

    @web.authenticated
    @authorized
    async def delete(self, cluster_id: str, worker: str, action: str | None = None) -> None:
        """Stop the worker's kernel (the worker goes on)."""
        if action is not None:
            raise web.HTTPError(405, "DELETE takes clusters/{id}/workers/{worker}/kernel")
        with self.refusals():
            await self.settings["jupyter_futures_worker_kernels"].close(cluster_id, unquote(worker))
        self.set_status(204)
        self.finish()


MAX_BUFFERED = 4 * 2**20  # bytes a slow browser may have pending before deltas to it are dropped


class FeedSocket(ExtensionHandlerMixin, WebSocketMixin, JupyterHandler, websocket.WebSocketHandler):
    """The live feed of docs/jupyter-api.md: subscribe/unsubscribe/request in, deltas and replies out.

    The upgrade is authenticated (token or cookie) and authorized like the REST, and its Origin is
    checked by Jupyter's rules (``allow_origin``). Jupyter's pings find a browser that vanished."""

    auth_resource = AUTH_RESOURCE
    _tasks: set

    @property
    def hub(self) -> FeedHub:
        return self.settings["jupyter_futures_hub"]

    async def pre_get(self) -> None:
        """Refuse users not allowed to use jupyter_futures (403, logged by Jupyter)."""
        allowed = await ensure_async(self.authorizer.is_authorized(self, self.current_user, "execute",
                                                                   AUTH_RESOURCE))
        if not allowed:
            self.log.warning("jupyter_futures feed: user %s is not authorized", self.current_user)
            raise web.HTTPError(403)

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        """Upgrade to a websocket after the checks."""
        await self.pre_get()
        await super().get(*args, **kwargs)

    def open(self, *args: Any, **kwargs: Any) -> None:
        super().open(*args, **kwargs)
        self._tasks = set()
        self.hub.add(self)

    def send_json(self, message: dict) -> None:
        """Send one message: dropped if the browser has gone, and a delta is dropped while the browser
        is MAX_BUFFERED behind (a sleeping laptop must not grow the server's memory)."""
        if message.get("op") == "delta" and self._buffered() > MAX_BUFFERED:
            return
        try:
            self.write_message(json.dumps(message, default=str))
        except websocket.WebSocketClosedError:
            self.hub.remove(self)

    def _buffered(self) -> int:
        stream = getattr(self.ws_connection, "stream", None)
        return getattr(stream, "_write_buffer_size", 0)  # tornado's count of bytes not yet sent

    async def on_message(self, text: str | bytes) -> None:
        try:
            message = json.loads(text)
            if not isinstance(message, dict):
                raise ValueError("a message is a JSON object")
            op = message.get("op")
            if op == "subscribe":
                await self.hub.subscribe(self, str(message["cluster"]), list(message.get("topics") or []))
            elif op == "unsubscribe":
                self.hub.unsubscribe(self, str(message["cluster"]), message.get("topics"))
            elif op == "request":
                task = asyncio.ensure_future(self._answer(message))
                self._tasks.add(task)  # held until done (a bare task may be collected while pending)
                task.add_done_callback(self._tasks.discard)
            else:
                raise ValueError(f"unknown op {op!r}; use subscribe, unsubscribe or request")
        except Exception as exc:  # noqa: BLE001 - a bad message or an unreachable scheduler: said, never fatal
            self.log.warning("jupyter_futures feed: refused %r: %s", str(text)[:200], exc)
            self.send_json({"op": "error", "message": f"{exc}", "request": str(text)[:200]})

    async def _answer(self, message: dict) -> None:
        rid = message.get("id")
        try:
            data = await self.hub.request(str(message["cluster"]), str(message["what"]), message.get("args") or {})
            self.send_json({"op": "reply", "id": rid, "data": data})
        except Exception as exc:  # noqa: BLE001 - every failure is the pane's answer, never a hang
            self.send_json({"op": "reply", "id": rid, "error": str(exc)})

    def on_close(self) -> None:
        super().on_close()
        self.hub.remove(self)


def handlers() -> list[tuple[str, type]]:
    """The routes, relative to the server's base_url."""
    api = r"/jupyter-futures/api"
    cid = r"(?P<cluster_id>[A-Za-z0-9_.\-]+)"
    return [
        (rf"{api}/status", StatusHandler),
        (rf"{api}/clusters", ClustersHandler),
        (rf"{api}/clusters/{cid}", ClusterHandler),
        (rf"{api}/clusters/{cid}/restart", RestartHandler),
        (rf"{api}/clusters/{cid}/futures", FuturesHandler),
        (rf"{api}/clusters/{cid}/workers/(?P<worker>[^/]+)/kernel(?:/(?P<action>interrupt))?", WorkerKernelHandler),
        (rf"{api}/selection", SelectionHandler),
        (rf"{api}/profiles", ProfilesHandler),
        (rf"{api}/feed", FeedSocket),
    ]
