"""A real Jupyter kernel for tests: run code, see every message it publishes (outputs, widget updates)."""
from __future__ import annotations

import os
import queue
import time
from dataclasses import dataclass, field
from typing import Any

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@dataclass
class Run:
    """What one execute request produced."""

    reply: dict
    outputs: list = field(default_factory=list)  # iopub messages whose parent is this request
    messages: list = field(default_factory=list)  # every iopub message seen meanwhile (widget updates too)

    @property
    def ok(self) -> bool:
        return self.reply["content"]["status"] == "ok"

    def stream(self, name: str | None = None) -> str:
        return "".join(m["content"]["text"] for m in self.outputs
                       if m["msg_type"] == "stream" and (name is None or m["content"]["name"] == name))

    def data(self) -> list[dict]:
        """The data bundles of display_data / execute_result outputs, in order."""
        return [m["content"]["data"] for m in self.outputs if m["msg_type"] in ("display_data", "execute_result")]

    def display_ids(self) -> list[str]:
        """The ids of the displays this request made, in order."""
        return [m["content"]["transient"]["display_id"] for m in self.outputs
                if m["msg_type"] == "display_data" and (m["content"].get("transient") or {}).get("display_id")]

    def widget_ids(self) -> list[str]:
        return [d[WIDGET_MIME]["model_id"] for d in self.data() if WIDGET_MIME in d]

    def value(self) -> str:
        """text/plain of the execute_result."""
        for m in self.outputs:
            if m["msg_type"] == "execute_result":
                return m["content"]["data"]["text/plain"]
        raise AssertionError(f"no result; outputs: {self.outputs}")

    def error(self) -> str:
        return "\n".join(f"{m['content']['ename']}: {m['content']['evalue']}" for m in self.outputs
                         if m["msg_type"] == "error")


class Kernel:
    """An IPython kernel (the venv's python3) with a client; widget states are tracked from comm messages."""

    def __init__(self, env: dict | None = None):
        from jupyter_client.manager import start_new_kernel

        kernel_env = dict(os.environ)
        kernel_env.update(env or {})
        self.km, self.kc = start_new_kernel(kernel_name="python3", startup_timeout=60, env=kernel_env)
        self.widgets: dict[str, dict] = {}  # model id -> latest state
        self.updates: dict[str, list[dict]] = {}  # model id -> every state update, in order
        self.log: list[dict] = []  # every iopub message, in order
        self.displays: dict[str, dict] = {}  # display id -> its latest content (data, metadata), as a frontend keeps it

    @property
    def pid(self) -> int:
        """The kernel process's id."""
        return self.km.provisioner.process.pid

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)

    def _track(self, msg: dict) -> None:
        self.log.append(msg)
        t = msg["msg_type"]
        display_id = (msg["content"].get("transient") or {}).get("display_id")
        if display_id and (t == "display_data" or (t == "update_display_data" and display_id in self.displays)):
            self.displays[display_id] = msg["content"]
        if t == "comm_open":
            data = msg["content"].get("data", {})
            self.widgets[msg["content"]["comm_id"]] = dict(data.get("state", {}))
            self.updates[msg["content"]["comm_id"]] = []
        elif t == "comm_msg":
            data = msg["content"].get("data", {})
            cid = msg["content"]["comm_id"]
            if data.get("method") == "update" and cid in self.widgets:
                self.widgets[cid].update(data.get("state", {}))
                self.updates[cid].append(dict(data.get("state", {})))

    def execute(self, code: str, timeout: float = 60, wait: bool = True) -> Run | str:
        """Run ``code``; returns its Run (or, with wait=False, the request's msg_id)."""
        msg_id = self.kc.execute(code)
        if not wait:
            return msg_id
        return self.collect(msg_id, timeout)

    def collect(self, msg_id: str, timeout: float = 60) -> Run:
        """Messages of request ``msg_id`` until the kernel is idle after it, then its reply."""
        deadline = time.monotonic() + timeout
        run = Run(reply={})
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"kernel did not finish {msg_id} in {timeout} s")
            try:
                msg = self.kc.get_iopub_msg(timeout=remaining)
            except queue.Empty:
                continue
            self._track(msg)
            run.messages.append(msg)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status":
                if msg["content"]["execution_state"] == "idle":
                    break
                continue
            if msg["msg_type"] not in ("execute_input", "comm_open", "comm_msg"):
                run.outputs.append(msg)
        while True:
            reply = self.kc.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                run.reply = reply
                return run

    def drain(self, seconds: float) -> list[dict]:
        """Read what the kernel publishes for ``seconds`` while no cell runs (widget updates, late output)."""
        deadline = time.monotonic() + seconds
        msgs = []
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                msg = self.kc.get_iopub_msg(timeout=remaining)
            except queue.Empty:
                break
            self._track(msg)
            msgs.append(msg)
        return msgs

    def display_ids_of(self, msg_id: str) -> list[str]:
        """The ids of the displays request ``msg_id`` made (also those read while waiting for something)."""
        return [m["content"]["transient"]["display_id"] for m in self.log
                if m["msg_type"] == "display_data" and m["parent_header"].get("msg_id") == msg_id
                and (m["content"].get("transient") or {}).get("display_id")]

    def shown(self, display_id: str) -> dict:
        """What a person sees of a display now: {"text", "html", "live", "widget"}."""
        content = self.displays[display_id]
        data = content["data"]
        return {"text": data.get("text/plain", ""), "html": data.get("text/html", ""),
                "live": (content.get("metadata") or {}).get("jupyter_futures", {}).get("live"),
                "widget": WIDGET_MIME in data}

    def facts(self, display_id: str) -> dict:
        """A display's facts now: its widget's state while live, its record's state once ended
        (``value``: the HTML shown)."""
        content = self.displays[display_id]
        data = content["data"]
        if WIDGET_MIME in data:
            return self.widgets[data[WIDGET_MIME]["model_id"]]
        return {**content["metadata"]["jupyter_futures"]["state"], "value": data["text/html"]}

    def wait_for(self, predicate: Any, timeout: float = 30) -> None:
        """Drain until ``predicate()`` holds."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not reached")
            self.drain(0.1)
