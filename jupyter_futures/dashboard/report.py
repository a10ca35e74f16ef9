"""The performance report: one self-contained HTML page of what ran in a time window.

A summary (duration, tasks, per-function count / total / mean time), the task
stream (one lane per worker thread, colored by function) and the flame graph of
the profile. No network is needed to open it.
"""
from __future__ import annotations

import html
import time
from collections import defaultdict

from ..protocol.keys import key_split
from . import flamegraph

MAX_STREAM_TASKS = 20_000  # tasks drawn in the task stream (the longest ones when there are more)
PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac", "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#17becf"]
OTHER_COLOR = "#c7c7c7"


def per_function(stream: list[dict]) -> list[dict]:
    """Rows of {function, tasks, erred, total, mean, max} from task-stream records, most total time first."""
    acc: dict[str, dict] = defaultdict(lambda: {"tasks": 0, "erred": 0, "total": 0.0, "max": 0.0})
    for r in stream:
        row = acc[key_split(r["key"])]
        d = max(0.0, r["stop"] - r["start"])
        row["tasks"] += 1
        row["erred"] += r.get("status") == "erred"
        row["total"] += d
        row["max"] = max(row["max"], d)
    rows = [{"function": f, **v, "mean": v["total"] / v["tasks"]} for f, v in acc.items()]
    rows.sort(key=lambda r: (-r["total"], r["function"]))
    return rows


def colors(functions: list[str]) -> dict[str, str]:
    """A color per function, in the given order (the most time-consuming get the palette)."""
    return {f: PALETTE[i] if i < len(PALETTE) else OTHER_COLOR for i, f in enumerate(functions)}


def _fmt_s(seconds: float) -> str:
    if seconds >= 100:
        return f"{seconds:.0f} s"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def _fmt_tick(value: float, step: float) -> str:
    if value == 0:
        return "0"
    if step < 0.1:
        return f"{value * 1000:.6g} ms"
    return f"{value:.6g} s"


def _nice_step(span: float, ticks: int = 8) -> float:
    raw = span / ticks if span > 0 else 1.0
    mag = 10 ** int(f"{raw:e}".split("e")[1])
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def _lanes(tasks: list[dict]) -> list[list[dict]]:
    """Pack one worker's tasks into lanes of non-overlapping tasks (one lane per busy thread)."""
    lanes: list[list[dict]] = []
    ends: list[float] = []
    for t in sorted(tasks, key=lambda t: t["start"]):
        for i, end in enumerate(ends):
            if end <= t["start"] + 1e-6:
                lanes[i].append(t)
                ends[i] = t["stop"]
                break
        else:
            lanes.append([t])
            ends.append(t["stop"])
    return lanes


def task_stream_svg(stream: list[dict], start: float, stop: float, color_of: dict[str, str]) -> str:
    """An inline SVG: time left to right, one band per worker with a lane per thread; a tooltip per task."""
    if not stream:
        return '<p class="none">No task finished in this window.</p>'
    shown = stream
    note = ""
    if len(stream) > MAX_STREAM_TASKS:
        shown = sorted(stream, key=lambda r: r["start"] - r["stop"])[:MAX_STREAM_TASKS]
        note = f'<p class="none">Showing the {MAX_STREAM_TASKS:,} longest of {len(stream):,} tasks.</p>'
    t0 = min(start, min(r["start"] for r in shown))
    t1 = max(stop, max(r["stop"] for r in shown))
    span = max(t1 - t0, 1e-3)
    label_w, plot_w, lane_h, gap, axis_h = 180, 960, 14, 8, 22
    by_worker: dict[str, list[dict]] = defaultdict(list)
    for r in shown:
        by_worker[str(r["worker"])].append(r)
    backs, tasks, grid = [], [], []  # drawn in this order: bands, grid lines, tasks
    y = 4
    for worker in sorted(by_worker):
        lanes = _lanes(by_worker[worker])
        band_h = len(lanes) * lane_h
        backs.append(f'<rect x="{label_w}" y="{y - 2}" width="{plot_w}" height="{band_h + 4}" fill="#f3f3f3"/>')
        backs.append(f'<text x="{label_w - 6}" y="{y + band_h / 2 + 4:.1f}" text-anchor="end" class="lbl">'
                     f'{html.escape(worker)}</text>')
        for i, lane in enumerate(lanes):
            ly = y + i * lane_h
            for r in lane:
                x = label_w + (r["start"] - t0) / span * plot_w
                w = max((r["stop"] - r["start"]) / span * plot_w, 0.6)
                fn = key_split(r["key"])
                erred = r.get("status") == "erred"
                tip = (f'{r["key"]}\n{fn}: {_fmt_s(r["stop"] - r["start"])}'
                       f'{" (erred)" if erred else ""}\nworker {worker}\n'
                       f'start +{_fmt_s(r["start"] - t0)}')
                stroke = ' stroke="#000" stroke-width="1.2"' if erred else ""
                tasks.append(f'<rect x="{x:.2f}" y="{ly:.1f}" width="{w:.2f}" height="{lane_h - 2}" '
                             f'fill="{color_of.get(fn, OTHER_COLOR)}"{stroke}><title>{html.escape(tip)}</title></rect>')
        y += band_h + gap
    step = _nice_step(span)
    k = 0
    while k * step <= span + 1e-9:
        x = label_w + k * step / span * plot_w
        grid.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{y}" stroke="#dcdcdc"/>')
        grid.append(f'<text x="{x:.1f}" y="{y + 14}" text-anchor="middle" class="tick">'
                    f'{_fmt_tick(k * step, step)}</text>')
        k += 1
    height = y + axis_h
    width = label_w + plot_w + 20
    body = "".join(backs + grid + tasks)
    return (f'{note}<div class="stream"><svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img" aria-label="task stream">{body}</svg></div>')


def summary(stream: list[dict], tree: dict, start: float, stop: float) -> dict:
    """Headline figures of the window."""
    busy = sum(max(0.0, r["stop"] - r["start"]) for r in stream)
    duration = max(stop - start, 0.0)
    return {
        "duration": duration,
        "tasks": len(stream),
        "erred": sum(r.get("status") == "erred" for r in stream),
        "workers": len({r["worker"] for r in stream}),
        "busy": busy,
        "parallelism": busy / duration if duration > 0 else 0.0,
        "samples": int(tree.get("count", 0)),
    }


CSS = """
body{font:14px system-ui,sans-serif;margin:1.2em 1.8em;color:#222;max-width:1300px}
h1{font-size:22px;margin:0 0 .1em}
h2{font-size:17px;margin:1.6em 0 .5em;border-bottom:1px solid #e5e5e5;padding-bottom:.2em}
.sub{color:#666;margin:0 0 1em}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{border:1px solid #e3e3e3;border-radius:6px;padding:8px 14px;min-width:110px;background:#fafafa}
.card .v{font-size:20px;font-weight:600}.card .k{color:#666;font-size:12px}
table.fn{border-collapse:collapse}
table.fn td,table.fn th{padding:3px 12px;text-align:right;border-bottom:1px solid #eee}
table.fn th{background:#f4f4f4}table.fn td:first-child,table.fn th:first-child{text-align:left}
.sw{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:6px;vertical-align:-1px}
.stream{overflow-x:auto}.stream svg{font:11px system-ui,sans-serif}.stream .lbl{fill:#333}.stream .tick{fill:#777}
.none{color:#777}
"""


def page(stream: list[dict], tree: dict, start: float, stop: float,
         title: str = "jupyter_futures performance report") -> str:
    """The whole report page."""
    s = summary(stream, tree, start, stop)
    rows = per_function(stream)
    color_of = colors([r["function"] for r in rows])
    fmt = "%Y-%m-%d %H:%M:%S"
    when = (f"{time.strftime(fmt, time.localtime(start))} to {time.strftime(fmt, time.localtime(stop))}")
    cards = [("Duration", _fmt_s(s["duration"])), ("Tasks", f"{s['tasks']:,}"), ("Erred", f"{s['erred']:,}"),
             ("Workers used", str(s["workers"])), ("Task time", _fmt_s(s["busy"])),
             ("Parallelism", f"{s['parallelism']:.2f}"), ("Profile samples", f"{s['samples']:,}")]
    card_html = "".join(f'<div class="card"><div class="v">{html.escape(v)}</div><div class="k">{k}</div></div>'
                        for k, v in cards)
    if rows:
        total_busy = s["busy"] or 1.0
        table = ['<table class="fn"><tr><th>function</th><th>tasks</th><th>erred</th><th>total time</th>'
                 '<th>mean</th><th>max</th><th>share of task time</th></tr>']
        for r in rows:
            table.append(
                f'<tr><td><span class="sw" style="background:{color_of[r["function"]]}"></span>'
                f'{html.escape(r["function"])}</td><td>{r["tasks"]:,}</td><td>{r["erred"]:,}</td>'
                f'<td>{_fmt_s(r["total"])}</td><td>{_fmt_s(r["mean"])}</td><td>{_fmt_s(r["max"])}</td>'
                f'<td>{100 * r["total"] / total_busy:.1f}%</td></tr>')
        table.append("</table>")
        table_html = "".join(table)
    else:
        table_html = '<p class="none">No task finished in this window.</p>'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{CSS}{flamegraph.CSS}</style>
<script>{flamegraph.SCRIPT}</script></head>
<body>
<h1>{html.escape(title)}</h1>
<p class="sub">{html.escape(when)}</p>
<div class="cards">{card_html}</div>
<h2>Time per function</h2>
{table_html}
<h2>Task stream</h2>
<p class="sub">One band per worker, one lane per thread that ran tasks; hover a task for its key and duration.</p>
{task_stream_svg(stream, start, stop, color_of)}
<h2>Profile</h2>
<p class="sub">Where the task threads spent their time (sampled every ~10 ms).
Click a frame to zoom, Escape to zoom out.</p>
{flamegraph.fragment(tree, "jf-report-flamegraph")}
</body></html>
"""


def write(filename: str, stream: list[dict], tree: dict, start: float, stop: float) -> str:
    """Write the report page to ``filename``; returns the filename."""
    with open(filename, "w", encoding="utf-8") as f:
        f.write(page(stream, tree, start, stop))
    return filename
