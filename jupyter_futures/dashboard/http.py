"""The scheduler's dashboard server (tornado): JSON endpoints, a websocket feed, one HTML page.

Read-only: it shows state and accepts no commands, so it needs no token.
"""
from __future__ import annotations

import json
import logging
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web
import tornado.websocket

from . import snapshot

logger = logging.getLogger("jupyter_futures.dashboard")

FEED_INTERVAL = 0.5

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>jupyter_futures dashboard</title>
<style>body{font:14px system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse}
td,th{padding:2px 10px;text-align:right;border-bottom:1px solid #ddd}th{background:#f4f4f4}</style></head>
<body><h2>jupyter_futures scheduler <span id="addr"></span></h2>
<h3>Tasks</h3><div id="tasks"></div><h3>Workers</h3><div id="workers"></div>
<script>
function table(rows, cols){return '<table><tr>'+cols.map(c=>'<th>'+c+'</th>').join('')+'</tr>'+
 rows.map(r=>'<tr>'+cols.map(c=>'<td>'+(r[c]??'')+'</td>').join('')+'</tr>').join('')+'</table>';}
function show(s){document.getElementById('addr').textContent=s.address;
 const fn=Object.entries(s.by_function).map(([k,v])=>Object.assign({function:k},v));
 const states=[...new Set(fn.flatMap(Object.keys))];
 document.getElementById('tasks').innerHTML=table(fn,states);
 document.getElementById('workers').innerHTML=table(s.workers.map(w=>({address:w.address,threads:w.nthreads,
  processing:w.processing,'in memory':w.in_memory,'MB':(w.nbytes/1e6).toFixed(1)})),
  ['address','threads','processing','in memory','MB']);}
const ws=new WebSocket((location.protocol==='https:'?'wss://':'ws://')+location.host+'/ws');
ws.onmessage=e=>show(JSON.parse(e.data));
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
        self.finish(PAGE)


class FeedHandler(tornado.websocket.WebSocketHandler):
    """Pushes a status snapshot every FEED_INTERVAL seconds while connected."""

    def initialize(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        self._timer = None

    def open(self) -> None:
        self._push()

    def _push(self) -> None:
        try:
            self.write_message(json.dumps(snapshot.status(self.scheduler), default=str))
        except tornado.websocket.WebSocketClosedError:
            return
        import asyncio

        self._timer = asyncio.get_running_loop().call_later(FEED_INTERVAL, self._push)

    def on_close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


class Dashboard:
    """A running dashboard server."""

    def __init__(self, server: Any, host: str, port: int):
        self.server = server
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        """Where to open it."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}/"

    def stop(self) -> None:
        """Stop serving."""
        self.server.stop()


def start_dashboard(scheduler: Any, host: str, port: int) -> Dashboard:
    """Serve ``scheduler``'s dashboard on (host, port); port 0 picks a free one."""
    args = {"scheduler": scheduler}
    app = tornado.web.Application([
        (r"/", PageHandler, args),
        (r"/api/status", StatusHandler, args),
        (r"/api/task-stream", TaskStreamHandler, args),
        (r"/ws", FeedHandler, args),
    ])
    sockets = tornado.netutil.bind_sockets(port, address=host or None)
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    actual = sockets[0].getsockname()[1]
    logger.info("dashboard at http://%s:%d/", host, actual)
    return Dashboard(server, host, actual)
