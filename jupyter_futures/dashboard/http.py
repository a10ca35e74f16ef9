"""The scheduler's dashboard server (tornado): the live feed over a websocket, JSON endpoints, the page.

* ``/ws``: the browser protocol of docs/jupyter-api.md ("Live feed"), for this one cluster
  (its id is the scheduler's id), fed by the scheduler's ``Feed`` like any subscriber;
  requests are answered by ``dashboard_query``.
* ``GET /api/status``, ``GET /api/task-stream?since=``: JSON snapshots.
* ``/`` and ``/static/*``: the page built into ``static/`` when there is one, else a minimal page.

Read-only: nothing here changes the cluster. It shows what tasks print and the workers' logs,
so every route lives under a random key of this dashboard (``/{key}/...``, in ``Dashboard.url``,
which ``client.dashboard_link`` gives): another user of the machine, or a page in the browser,
cannot guess it. It listens on the scheduler's host (127.0.0.1 unless told otherwise), answers only
``Host:`` names it serves (``served_hosts``: no DNS rebinding), and tornado refuses websockets
opened by pages of other origins.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets
import socket
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web
import tornado.websocket

from ..scheduler.queries import dashboard_query
from . import snapshot

logger = logging.getLogger("jupyter_futures.dashboard")

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>jupyter_futures dashboard</title>
<style>body{font:14px system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse;margin-bottom:1em}
td,th{padding:2px 10px;text-align:right;border-bottom:1px solid #ddd}th{background:#f4f4f4}
pre{max-height:20em;overflow:auto;background:#f8f8f8;padding:.5em}</style></head>
<body><h2>jupyter_futures scheduler <span id="addr"></span></h2>
<h3>Progress</h3><div id="progress"></div><h3>Workers</h3><div id="workers"></div><h3>Log</h3><pre id="logs"></pre>
<script>
"use strict";
const progress = {};
function table(id, cols, rows) {  // text only: worker-supplied strings never become markup
  const t = document.createElement('table'), head = t.insertRow();
  for (const c of cols) { const th = document.createElement('th'); th.textContent = c; head.appendChild(th); }
  for (const r of rows) { const tr = t.insertRow(); for (const v of r) tr.insertCell().textContent = String(v); }
  document.getElementById(id).replaceChildren(t);
}
const mb = b => (b / 1e6).toFixed(1);
const handlers = {
  clusters(m) { const c = m.clusters[0]; document.getElementById('addr').textContent = c.address;
    ws.send(JSON.stringify({op: 'subscribe', cluster: c.id, topics: ['progress', 'workers', 'logs']})); },
  delta(m) {
    if (m.topic === 'progress') { Object.assign(progress, m.data);
      table('progress', ['function', 'total', 'waiting', 'processing', 'memory', 'erred', 'released'],
        Object.entries(progress).map(([p, c]) => [p, c.total, c.waiting, c.processing, c.memory, c.erred, c.released]));
    } else if (m.topic === 'workers') {
      table('workers', ['address', 'threads', 'cpu %', 'memory MB', 'managed MB', 'spilled MB', 'processing', 'paused'],
        m.data.map(w => [w.address, w.nthreads, w.cpu, mb(w.memory), mb(w.managed), mb(w.spilled), w.processing, w.paused]));
    } else if (m.topic === 'logs') {
      const pre = document.getElementById('logs');
      for (const r of m.data) pre.append(`${new Date(r.time * 1000).toLocaleTimeString()} ${r.worker} ` +
        `${r.kind === 'log' ? r.level + ' ' + r.name : r.kind + ' ' + r.key}: ${r.text.replace(/\\n$/, '')}\\n`);
      pre.scrollTop = pre.scrollHeight;
    }
  },
};
const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
ws.onmessage = e => { const m = JSON.parse(e.data); (handlers[m.op] || (() => {}))(m); };
</script></body></html>"""


class _Handler(tornado.web.RequestHandler):
    def initialize(self, scheduler: Any) -> None:
        self.scheduler = scheduler

    def write_json(self, value: Any) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(value, default=str))


class StatusHandler(_Handler):
    def get(self) -> None:
        self.write_json(snapshot.status(self.scheduler))


class TaskStreamHandler(_Handler):
    def get(self) -> None:
        try:
            since = float(self.get_argument("since", "0"))
        except ValueError:
            raise tornado.web.HTTPError(400, "since must be a number of seconds since the epoch")
        self.write_json(snapshot.task_stream(self.scheduler, since))


class PageHandler(_Handler):
    def get(self) -> None:
        index = os.path.join(STATIC, "index.html")
        if os.path.isfile(index):
            with open(index, "rb") as f:
                self.set_header("Content-Type", "text/html; charset=utf-8")
                self.finish(f.read())
        else:
            self.finish(PAGE)


class FeedSocket(tornado.websocket.WebSocketHandler):
    """One browser: its subscriptions go to the scheduler's feed with this socket as the sink."""

    def initialize(self, scheduler: Any, sockets: set) -> None:
        self.scheduler = scheduler
        self.sockets = sockets

    def open(self) -> None:
        self.sockets.add(self)
        self._write({"op": "clusters", "clusters": [snapshot.cluster(self.scheduler)]})

    def on_message(self, message: str | bytes) -> None:
        try:
            msg = json.loads(message)
            op = msg["op"]
        except (ValueError, TypeError, KeyError):
            logger.info("dashboard: ignoring a websocket message that is not a JSON object with an 'op'")
            return
        feed = self.scheduler.feed
        if op in ("subscribe", "unsubscribe") and msg.get("cluster") not in (None, self.scheduler.id):
            self._write({"op": "gone", "cluster": msg.get("cluster")})  # no such cluster here
        elif op == "subscribe":
            feed.subscribe(self, self._delta, msg.get("topics"))
        elif op == "unsubscribe":
            feed.unsubscribe(self, msg.get("topics"))
        elif op == "request":
            asyncio.ensure_future(self._answer(msg))
        else:
            logger.info("dashboard: ignoring websocket op %r", op)

    async def _answer(self, msg: dict) -> None:
        rid = msg.get("id")
        try:
            if msg.get("cluster") not in (None, self.scheduler.id):
                raise ValueError(f"no cluster {msg.get('cluster')!r} here; this one is {self.scheduler.id!r}")
            data = await dashboard_query(self.scheduler, msg.get("what"), msg.get("args") or {})
            reply = {"op": "reply", "id": rid, "data": data}
        except Exception as exc:  # the browser shows the message
            reply = {"op": "reply", "id": rid, "error": f"{type(exc).__name__}: {exc}"}
        self._write(reply)

    def _delta(self, topic: str, data: Any) -> None:
        self._write({"op": "delta", "cluster": self.scheduler.id, "topic": topic, "data": data})

    def _write(self, value: dict) -> None:
        try:
            self.write_message(json.dumps(value, default=str))
        except tornado.websocket.WebSocketClosedError:
            pass

    def gone(self) -> None:
        """The scheduler stops: say so, and close."""
        self._write({"op": "gone", "cluster": self.scheduler.id})
        self.close()

    def on_close(self) -> None:
        self.sockets.discard(self)
        self.scheduler.feed.remove(self)


class NeedsKeyHandler(tornado.web.RequestHandler):
    """Any path without the dashboard's key: say how to get the link."""

    def get(self, *args: Any) -> None:
        self.set_status(403)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish("This jupyter_futures dashboard is opened with its link, which carries its key: "
                    "print(client.dashboard_link) where the cluster runs.\n")


class ForeignHostHandler(tornado.web.RequestHandler):
    """A request whose ``Host:`` this dashboard does not serve (a web page reaching it through DNS
    rebinding, or a name nobody configured): refused, and logged once per name."""

    logged: set = set()

    def prepare(self) -> None:
        name = self.request.host_name
        if name not in self.logged and len(self.logged) < 100:
            self.logged.add(name)
            logger.warning("dashboard: refused a request for host %r (served: %s)", name,
                           ", ".join(self.settings["served_hosts"]))
        self.set_status(403)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"This jupyter_futures dashboard answers only for {', '.join(self.settings['served_hosts'])}; "
                    f"open it with the link print(client.dashboard_link) gives.\n")


def served_hosts(host: str) -> list[str]:
    """The ``Host:`` names the dashboard answers: loopback names, plus the host it was told to listen on
    (and, listening on every interface, this machine's names)."""
    names = ["127.0.0.1", "localhost", "::1"]
    if host in ("", "0.0.0.0", "::"):
        names += [socket.gethostname(), socket.getfqdn()]
    elif host:
        names.append(host)
    return list(dict.fromkeys(n.lower() for n in names if n))


class Dashboard:
    """A running dashboard server."""

    def __init__(self, server: Any, host: str, port: int, sockets: set, key: str):
        self.server = server
        self.host = host
        self.port = port
        self.sockets = sockets
        self.key = key

    @property
    def url(self) -> str:
        """Where to open it (with its key)."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}/{self.key}/"

    def stop(self) -> None:
        """Tell the open pages the cluster is gone, and stop serving."""
        for sock in list(self.sockets):
            sock.gone()
        self.server.stop()


def start_dashboard(scheduler: Any, host: str, port: int) -> Dashboard:
    """Serve ``scheduler``'s dashboard on (host, port); port 0 picks a free one."""
    args = {"scheduler": scheduler}
    sockets: set = set()
    key = secrets.token_urlsafe(18)
    hosts = served_hosts(host)
    # Requests for other Host names fall through to the catch-all: no page of another site can
    # read the dashboard by pointing a name of its own at this address.
    app = tornado.web.Application([(r"/(.*)", ForeignHostHandler)], served_hosts=hosts)
    app.add_handlers("(" + "|".join(re.escape(h) for h in hosts) + ")$", [
        (rf"/{key}/", PageHandler, args),
        (rf"/{key}/api/status", StatusHandler, args),
        (rf"/{key}/api/task-stream", TaskStreamHandler, args),
        (rf"/{key}/ws", FeedSocket, {"scheduler": scheduler, "sockets": sockets}),
        (rf"/{key}/static/(.*)", tornado.web.StaticFileHandler, {"path": STATIC}),
        (r"/(.*)", NeedsKeyHandler),
    ])
    sockets_bound = tornado.netutil.bind_sockets(port, address=host or "127.0.0.1")
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets_bound)
    actual = sockets_bound[0].getsockname()[1]
    dashboard = Dashboard(server, host, actual, sockets, key)
    logger.info("dashboard at %s", dashboard.url)
    return dashboard
