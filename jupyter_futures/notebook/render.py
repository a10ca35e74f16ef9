"""HTML and text for futures, progress and clients: what widgets show, and the static fallback.

Pure functions of plain data (no Jupyter import), so the live widget, the static
HTML that nbconvert or a frontend without widgets shows, and the text a terminal
shows all say the same things.
"""
from __future__ import annotations

import html
import linecache
import re
import time
from typing import Any, Iterable

from ..client.future import DONE_STATES
from ..protocol.keys import key_split

COLORS = {
    "pending": "#8a8a8a",
    "running": "#1f77d0",
    "finished": "#2e8b3e",
    "error": "#d03b3b",
    "cancelled": "#d9822b",
    "lost": "#8e44ad",
    "released": "#8a8a8a",
}
# The ANSI colours of JupyterLab's output areas, so tracebacks look like IPython's there.
_GREEN, _RED, _CYAN, _BLUE, _YELLOW = "#00a250", "#e75c58", "#60c6c8", "#208ffb", "#b8860b"
_FONT = "font-family: var(--jp-ui-font-family, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif);"
_MONO = "font-family: var(--jp-code-font-family, SFMono-Regular, Menlo, Consolas, monospace);"
_BOX = (f"{_FONT} font-size: 13px; line-height: 1.45; color: var(--jp-content-font-color1, inherit); "
        f"padding: 3px 10px; margin: 2px 0;")
_MUTED = "color: var(--jp-content-font-color2, #666);"

_HEXISH = re.compile(r"^[0-9a-fA-F]{8,}$")
# Said of a future whose result existed before the cell that shows it asked for it (a re-run).
ALREADY_COMPUTED = "already computed"


def short_key(key: str, n: int = 8) -> str:
    """``inc-3f2a9c0d1e...`` -> ``inc-3f2a9c0d``: enough to tell keys apart in a table."""
    name, sep, tail = str(key).rpartition("-")
    if sep and _HEXISH.match(tail) and len(tail) > n:
        return f"{name}-{tail[:n]}"
    return str(key)


def format_bytes(n: float | int | None) -> str:
    """1234567 -> '1.18 MiB'."""
    if n is None:
        return "?"
    n = float(n)
    for unit in ("B", "kiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{int(n)} B" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} PiB"


def format_time(seconds: float | None) -> str:
    """0.0123 -> '12.3 ms', 75 -> '1 min 15 s'."""
    if seconds is None:
        return ""
    seconds = max(0.0, seconds)
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {sec} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def short_address(address: str | None) -> str:
    """'tcp://127.0.0.1:4000' -> '127.0.0.1:4000'."""
    if not address:
        return ""
    return str(address).split("://", 1)[-1]


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


# -- futures ---------------------------------------------------------------------------------------------


def is_released(state: Any, table: Any) -> bool:
    """True when the future's client no longer holds its key (``table``: the client's ``FutureTable``,
    None for a released handle) though it never finished here: nothing will tell the display how it ends."""
    return table is None or (not state.done() and not table.holds(state))


def future_snapshot(state: Any, released: bool = False, now: float | None = None) -> dict:
    """What a future's display shows, read from its FutureState (a plain dict, JSON-friendly)."""
    now = time.time() if now is None else now
    status = state.status
    if released and not state.done():
        status = "released"
    started = state.started
    if status in DONE_STATES and state.ran is not None:
        elapsed, clock = state.ran[1] - state.ran[0], "ran"  # its worker's own timing, however old
    elif status in DONE_STATES:
        end = state.stopped or now
        if started is not None and started <= end:
            elapsed, clock = end - started, "ran"
        else:
            elapsed, clock = end - state.submitted, "took"
    elif status == "running" and started is not None:
        elapsed, clock = now - started, "running for"
    else:
        elapsed, clock = now - state.submitted, "waiting for"
    snap = {
        "key": state.key,
        "name": key_split(state.key),
        "status": status,
        "elapsed": round(elapsed, 3),
        "clock": clock,
        "worker": short_address(state.worker or (state.who_has[0] if state.who_has else "")),
        "type": state.type_name or "",
        "nbytes": int(state.nbytes or 0),
        "exception": "",
        "traceback": None,
        "earlier": bool(state.earlier) and status in ("finished", "error"),
    }
    if status == "error":
        try:
            exc = state.error()
            snap["exception"] = format_exception_only(exc)
            snap["traceback"] = frames_of(state.tb_records or [])
        except Exception as err:  # never let a display fail
            snap["exception"] = f"(could not load the exception: {err})"
    elif status == "cancelled":
        snap["exception"] = "cancelled"
    elif status == "lost":
        snap["exception"] = "its data was lost with its worker (it was scattered)"
    return snap


def format_exception_only(exc: BaseException) -> str:
    """'ValueError: Negative value'."""
    name = type(exc).__qualname__
    module = type(exc).__module__
    if module not in ("builtins", "__main__", None):
        name = f"{module}.{name}"
    text = str(exc)
    return f"{name}: {text}" if text else name


# Set by the kernel integration: find the source of frames whose file was lost in pickling
# (cloudpickle names the code of notebook functions "<dynamic-code>"), and label cells "Cell In[3]".
SOURCE_HOOKS: dict[str, Any] = {"resolve": None, "label": None}


def frames_of(records: Iterable[tuple]) -> list[dict]:
    """Frame records (filename, lineno, name, line) with source context from this process's linecache."""
    resolve, label = SOURCE_HOOKS["resolve"], SOURCE_HOOKS["label"]
    frames = []
    for filename, lineno, name, line in records:
        if filename.replace("\\", "/").endswith("jupyter_futures/notebook/remote.py"):
            continue  # %%remote's runner: the cell's own frames follow
        if resolve is not None and not linecache.getline(filename, lineno).strip():
            try:
                filename = resolve(filename, lineno, name) or filename
            except Exception:
                pass
        where = None
        if label is not None:
            try:
                where = label(filename)
            except Exception:
                where = None
        where = f"{where[0]} {where[1]}, line {lineno}" if where else f"File {filename}:{lineno}"
        context = []
        first = max(1, lineno - 2)
        for n in range(first, lineno + 2):
            text = linecache.getline(filename, n)
            if not text and n != lineno:
                continue
            if n == lineno and not text.strip():
                text = line or ""
            context.append((n, text.rstrip("\n")))
        while context and context[-1][0] > lineno and not context[-1][1].strip():
            context.pop()
        frames.append({"filename": filename, "where": where, "lineno": lineno, "name": name, "context": context})
    return frames


def traceback_text(snap: dict) -> str:
    """Plain-text traceback, laid out like IPython's verbose one."""
    lines = ["-" * 75, f"{snap['exception'].split(':', 1)[0]:<42}Traceback (most recent call last)"]
    for fr in snap["traceback"] or []:
        lines.append(f"{fr['where']}, in {fr['name']}()")
        for n, text in fr["context"]:
            arrow = "---> " if n == fr["lineno"] else "     "
            lines.append(f"{arrow}{n:>4} {text}")
        lines.append("")
    lines.append(snap["exception"])
    return "\n".join(lines)


def traceback_html(snap: dict) -> str:
    """The traceback as IPython draws it in JupyterLab: coloured, the failing line of each frame highlighted."""
    exc_name, _, message = snap["exception"].partition(":")
    out = [f'<span style="color:{_RED}">{"-" * 75}</span>',
           f'<span style="color:{_RED}">{_e(exc_name):<42}</span>Traceback (most recent call last)']
    for fr in snap["traceback"] or []:
        kind, _, place = fr["where"].partition(" ")
        out.append(f'<span style="color:{_CYAN}">{_e(kind)} </span><span style="color:{_GREEN}">'
                   f'{_e(place)}</span>, in '
                   f'<span style="color:{_CYAN}">{_e(fr["name"])}</span><span style="color:{_BLUE}">()</span>')
        for n, text in fr["context"]:
            if n == fr["lineno"]:
                out.append(f'<span class="jf-failing-line" style="display:inline-block; min-width:100%; '
                           f'background: rgba(231,92,88,0.14); font-weight:600">'
                           f'<span style="color:{_GREEN}">---&gt; {n:>4}</span> {_e(text)}</span>')
            else:
                out.append(f'<span style="{_MUTED}">     {n:>4}</span> {_e(text)}')
        out.append("")
    out.append(f'<span style="color:{_RED}">{_e(exc_name)}</span>{":" if message else ""}{_e(message)}')
    return "\n".join(out)


def future_text(snap: dict) -> str:
    """One line (plus the traceback when erred) for terminals and text/plain."""
    parts = [f"Future {snap['name']} ({snap['key']}): {snap['status']}",
             f"{snap['clock']} {format_time(snap['elapsed'])}"]
    if snap["worker"]:
        parts.append(f"on {snap['worker']}")
    if snap["status"] == "finished" and snap["type"]:
        parts.append(f"-> {snap['type']}, {format_bytes(snap['nbytes'])}")
    if snap.get("earlier"):
        parts.append(ALREADY_COMPUTED)
    text = ", ".join(parts)
    if snap["status"] == "error":
        text += "\n" + (traceback_text(snap) if snap["traceback"] else snap["exception"])
    elif snap["exception"]:
        text += f" ({snap['exception']})"
    return text


def _badge(status: str) -> str:
    color = COLORS.get(status, "#888")
    return (f'<span class="jf-status" style="display:inline-block; padding:0 7px; border-radius:9px; '
            f'background:{color}; color:white; font-size:11.5px; font-weight:600">{_e(status)}</span>')


def future_html(snap: dict) -> str:
    """A future as HTML: name, key, status badge, elapsed, worker, result type/size or traceback."""
    color = COLORS.get(snap["status"], "#888")
    facts = [f"{_e(snap['clock'])} {_e(format_time(snap['elapsed']))}"]
    if snap["worker"]:
        facts.append(f"on <code>{_e(snap['worker'])}</code>")
    if snap["status"] == "finished" and snap["type"]:
        facts.append(f"result: <code>{_e(snap['type'])}</code>, {_e(format_bytes(snap['nbytes']))}")
    if snap.get("earlier"):
        facts.append(f'<span class="jf-earlier">{ALREADY_COMPUTED}</span>')
    head = (f'<b>{_e(snap["name"])}</b> <code title="{_e(snap["key"])}" style="{_MUTED}">'
            f'{_e(short_key(snap["key"]))}</code> {_badge(snap["status"])} '
            f'<span style="{_MUTED}">{" · ".join(facts)}</span>')
    body = ""
    if snap["status"] == "error":
        pre = (f'<pre class="jf-traceback" style="{_MONO} font-size:12px; line-height:1.4; margin:4px 0 2px; '
               f'padding:6px 8px; overflow-x:auto; background: var(--jp-layout-color2, #f5f5f5); '
               f'color: var(--jp-content-font-color1, #222); white-space:pre">'
               f'{traceback_html(snap) if snap["traceback"] else _e(snap["exception"])}</pre>')
        body = (f'<details class="jf-error" open>'
                f'<summary style="cursor:pointer; color:{_RED}; font-weight:600">{_e(snap["exception"])}</summary>'
                f'{pre}</details>')
    elif snap["exception"]:
        body = f'<div style="{_MUTED}">{_e(snap["exception"])}</div>'
    return (f'<div class="jf-future" data-status="{_e(snap["status"])}" data-key="{_e(snap["key"])}" '
            f'style="{_BOX} border-left: 3px solid {color}">{head}{body}</div>')


def not_live_html(html_text: str, reason: str) -> str:
    """A display's last HTML, marked as a record that no longer changes (``reason``: why)."""
    return (f'<div class="jf-not-live" data-reason="{_e(reason)}">'
            f'<div class="jf-not-live-note" style="{_FONT} font-size:11.5px; {_MUTED} padding:0 10px">'
            f'no longer live: {_e(reason)}</div>{html_text}</div>')


def not_live_text(text: str, reason: str) -> str:
    """A display's last text, marked as a record that no longer changes."""
    return f"(no longer live: {reason})\n{text}"


# -- progress --------------------------------------------------------------------------------------------


def progress_totals(groups: list[dict]) -> dict:
    """{total, finished, erred, cancelled, done} over all groups (done: finished, erred or cancelled)."""
    totals = {k: sum(g[k] for g in groups) for k in ("total", "finished", "erred", "cancelled")}
    totals["done"] = totals["finished"] + totals["erred"] + totals["cancelled"]
    return totals


def progress_html(groups: list[dict], elapsed: float, title: str = "", note: str = "") -> str:
    """One bar per function name: green done, red erred, grey cancelled; counts beside it."""
    rows = []
    for g in groups:
        total = max(g["total"], 1)
        done, erred, cancelled = g["finished"], g["erred"], g["cancelled"]
        pct = 100.0 * (done + erred + cancelled) / total
        seg = "".join(
            f'<div style="width:{100.0 * n / total:.3f}%; background:{c}; height:100%"></div>'
            for n, c in ((done, COLORS["finished"]), (erred, COLORS["error"]), (cancelled, COLORS["cancelled"])) if n)
        counts = f"{done} / {g['total']}"
        if erred:
            counts += f' <span style="color:{COLORS["error"]}">· {erred} erred</span>'
        if cancelled:
            counts += f' <span style="color:{COLORS["cancelled"]}">· {cancelled} cancelled</span>'
        rows.append(
            f'<tr class="jf-progress-row" data-name="{_e(g["name"])}">'
            f'<td style="padding:1px 8px 1px 0; text-align:right; white-space:nowrap"><b>{_e(g["name"])}</b></td>'
            f'<td style="padding:1px 0; width:100%"><div class="jf-progress-track" style="display:flex; height:14px; '
            f'min-width:160px; border-radius:3px; overflow:hidden; background: var(--jp-layout-color3, #e3e3e3)">'
            f'<div class="jf-progress-bar" data-pct="{pct:.1f}" style="display:flex; width:{pct:.3f}%; height:100%">'
            f'{seg}</div></div></td>'
            f'<td style="padding:1px 0 1px 8px; white-space:nowrap; {_MONO} font-size:12px">{counts}</td></tr>')
    totals = progress_totals(groups)
    total, done = totals["total"], totals["done"]
    state = "done" if done >= total else "running"
    summary = (f'<div style="{_MUTED} font-size:12px">{_e(title) + " · " if title else ""}{done} / {total} '
               f'tasks done · {_e(format_time(elapsed))}{" · " + _e(note) if note else ""}</div>')
    return (f'<div class="jf-progress" data-state="{state}" data-done="{done}" data-total="{total}" '
            f'style="{_BOX} border-left: 3px solid {COLORS["finished" if state == "done" else "running"]}">'
            f'<table style="border-collapse:collapse; table-layout:auto; margin:0; width:100%; max-width:720px">'
            f'{"".join(rows)}</table>'
            f'{summary}</div>')


def progress_text(groups: list[dict], elapsed: float, title: str = "", note: str = "") -> str:
    """Text lines for text/plain: 'inc  [#####     ] 50 / 100, 2 erred'."""
    lines = [title] if title else []
    width = max((len(g["name"]) for g in groups), default=0)
    for g in groups:
        total = max(g["total"], 1)
        done = g["finished"] + g["erred"] + g["cancelled"]
        bar = "#" * int(30 * done / total)
        line = f"{g['name']:>{width}} [{bar:<30}] {g['finished']} / {g['total']}"
        if g["erred"]:
            line += f", {g['erred']} erred"
        if g["cancelled"]:
            line += f", {g['cancelled']} cancelled"
        lines.append(line)
    lines.append(f"{format_time(elapsed)}" + (f", {note}" if note else ""))
    return "\n".join(lines)


# -- client ----------------------------------------------------------------------------------------------


def client_snapshot(client: Any, info: dict | None) -> dict:
    """What a client's display shows: scheduler, workers (threads, memory, tasks), dashboard link."""
    info = info or {}
    workers = []
    for address, w in sorted((info.get("workers") or {}).items()):
        metrics = w.get("metrics") or {}
        workers.append({
            "address": short_address(address),
            "name": str(w.get("name") or ""),
            "nthreads": int(w.get("nthreads") or 0),
            "memory": int(metrics.get("memory") or 0),
            "memory_limit": int(w.get("memory_limit") or 0),
            "managed": int(metrics.get("managed_bytes") or w.get("nbytes") or 0),
            "cpu": float(metrics.get("cpu") or 0.0),
            "processing": int(w.get("processing") or 0),
            "in_memory": int(w.get("in_memory") or 0),
        })
    return {
        "address": getattr(client, "scheduler_address", "") or info.get("address", ""),
        "status": getattr(client, "status", "?"),
        "dashboard": getattr(client, "dashboard_link", "") if getattr(client, "status", "") == "running" else "",
        "workers": workers,
        "threads": sum(w["nthreads"] for w in workers),
        "memory": sum(w["memory"] for w in workers),
        "memory_limit": sum(w["memory_limit"] for w in workers),
        "processing": sum(w["processing"] for w in workers),
        "in_memory": sum(w["in_memory"] for w in workers),
        "tasks": dict(info.get("tasks") or {}),
        "cluster": type(getattr(client, "cluster", None)).__name__ if getattr(client, "cluster", None) else "",
    }


def _membar(used: int, limit: int) -> str:
    if not limit:
        return _e(format_bytes(used))
    pct = min(100.0, 100.0 * used / limit)
    color = COLORS["finished"] if pct < 60 else ("#d9a21b" if pct < 85 else COLORS["error"])
    return (f'<div style="display:flex; align-items:center; gap:6px"><div style="width:90px; height:9px; '
            f'border-radius:2px; background: var(--jp-layout-color3, #e3e3e3); overflow:hidden">'
            f'<div style="width:{pct:.1f}%; height:100%; background:{color}"></div></div>'
            f'<span>{_e(format_bytes(used))} / {_e(format_bytes(limit))}</span></div>')


def client_html(snap: dict) -> str:
    """A client as HTML: a summary line, a dashboard link, a table of workers."""
    status = snap["status"]
    color = COLORS["finished"] if status == "running" else COLORS["error"] if status == "closed" else COLORS["pending"]
    if snap["dashboard"]:
        link = (f'<a class="jf-dashboard-link" href="{_e(snap["dashboard"])}" target="_blank" rel="noopener" '
                f'style="color: var(--jp-content-link-color, #1a73e8)">dashboard: {_e(snap["dashboard"])}</a>')
    else:
        link = f'<span style="{_MUTED}">no dashboard (start the cluster with dashboard_address=0 for one)</span>'
    head = (f'<div><b>Client</b> <code>{_e(snap["address"])}</code> {_badge(status)} '
            f'<span style="{_MUTED}">{_e(snap["cluster"])}</span></div>'
            f'<div style="{_MUTED}">{len(snap["workers"])} workers · {snap["threads"]} threads · memory '
            f'{_e(format_bytes(snap["memory"]))}'
            f'{" / " + _e(format_bytes(snap["memory_limit"])) if snap["memory_limit"] else ""} · '
            f'tasks: {snap["processing"]} processing, {snap["in_memory"]} in memory</div><div>{link}</div>')
    rows = "".join(
        f'<tr><td style="padding:1px 10px 1px 0"><code>{_e(w["address"])}</code></td>'
        f'<td style="padding:1px 10px; text-align:right">{w["nthreads"]}</td>'
        f'<td style="padding:1px 10px">{_membar(w["memory"], w["memory_limit"])}</td>'
        f'<td style="padding:1px 10px; text-align:right">{w["cpu"]:.0f}%</td>'
        f'<td style="padding:1px 10px; text-align:right">{w["processing"]}</td>'
        f'<td style="padding:1px 10px; text-align:right">{w["in_memory"]}</td></tr>'
        for w in snap["workers"])
    table = ""
    if snap["workers"]:
        th = 'style="padding:1px 10px; text-align:left; font-weight:600"'
        table = (f'<table class="jf-workers" style="border-collapse:collapse; margin-top:4px; font-size:12px">'
                 f'<thead><tr><th {th}>worker</th><th {th}>threads</th><th {th}>memory</th><th {th}>cpu</th>'
                 f'<th {th}>processing</th><th {th}>in memory</th></tr></thead><tbody>{rows}</tbody></table>')
    return (f'<div class="jf-client" data-status="{_e(status)}" style="{_BOX} border-left: 3px solid {color}">'
            f'{head}{table}</div>')


def client_text(snap: dict) -> str:
    """Plain text: summary, dashboard, one line per worker."""
    lines = [f"Client {snap['address']} ({snap['status']}): {len(snap['workers'])} workers, "
             f"{snap['threads']} threads, memory {format_bytes(snap['memory'])}"
             + (f" / {format_bytes(snap['memory_limit'])}" if snap["memory_limit"] else "")
             + f", tasks: {snap['processing']} processing, {snap['in_memory']} in memory",
             f"dashboard: {snap['dashboard']}" if snap["dashboard"] else "no dashboard"]
    for w in snap["workers"]:
        mem = format_bytes(w["memory"]) + (f" / {format_bytes(w['memory_limit'])}" if w["memory_limit"] else "")
        lines.append(f"  {w['address']}: {w['nthreads']} threads, memory {mem}, "
                     f"{w['processing']} processing, {w['in_memory']} in memory")
    return "\n".join(lines)
