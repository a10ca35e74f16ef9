"""A self-contained, interactive flame graph of a profile tree, as HTML.

The page needs no network: CSS, script and data are inline, and the graph is
drawn with plain ``div`` elements. Click a frame to zoom into it (click a frame
above it, or press Escape, to zoom out); hovering shows the function, its
file:line, its sample count and its share; the search box highlights matching
functions and sums their share.

Input is a tree in dask's format (what ``Client.profile()`` returns): nodes with
``description`` (``name``, ``filename``, ``line_number``, ``line``), ``count``
and ``children``.
"""
from __future__ import annotations

import html
import json
import time
from typing import Any

MIN_SHARE = 1e-5  # frames with a smaller share of all samples are left out of the page

CSS = """
.jf-flame{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:#222}
.jf-flame .jf-bar{display:flex;gap:.8em;align-items:center;margin:.3em 0 .6em;flex-wrap:wrap;
  font-family:system-ui,sans-serif;font-size:13px}
.jf-flame .jf-bar input{font:inherit;padding:2px 6px;width:16em}
.jf-flame .jf-bar button{font:inherit;padding:2px 10px;cursor:pointer}
.jf-flame .jf-info{color:#555}
.jf-flame .jf-graph{position:relative;width:100%;overflow:hidden;border:1px solid #e3e3e3;background:#fcfcfc}
.jf-flame .jf-f{position:absolute;height:17px;line-height:17px;box-sizing:border-box;padding:0 3px;
  border-right:1px solid #fff;border-bottom:1px solid #fff;overflow:hidden;white-space:nowrap;
  text-overflow:ellipsis;cursor:pointer}
.jf-flame .jf-f:hover{filter:brightness(.88)}
.jf-flame .jf-f.jf-anc{opacity:.55}
.jf-flame .jf-f.jf-hit{background:#e14ccf !important;color:#fff}
.jf-flame .jf-empty{padding:2em;text-align:center;color:#777;font-family:system-ui,sans-serif}
.jf-tip{position:fixed;z-index:10;pointer-events:none;display:none;max-width:46em;background:#fffff4;
  border:1px solid #bbb;box-shadow:0 2px 6px rgba(0,0,0,.15);padding:6px 8px;
  font:12px system-ui,sans-serif;color:#111;white-space:normal;word-break:break-all}
.jf-tip b{font-family:ui-monospace,Menlo,Consolas,monospace}
.jf-tip code{display:block;margin-top:3px;color:#444;white-space:pre-wrap}
"""

# jfFlame(container, tree): tree nodes are [name, filename, line, source line, count, [children]].
SCRIPT = r"""
function jfFlame(box, data) {
  var ROW = 18;
  function esc(s) { return String(s).replace(/[&<>"']/g, function (c) {
    return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c]; }); }
  var nodes = [];
  function build(a, parent, depth) {
    var n = {name: a[0], file: a[1], line: a[2], src: a[3], count: a[4], parent: parent, depth: depth,
             kids: [], i: nodes.length};
    nodes.push(n);
    for (var k = 0; k < a[5].length; k++) n.kids.push(build(a[5][k], n, depth + 1));
    return n;
  }
  var root = build(data, null, 0), total = root.count, focus = root, query = '';
  function hash(s) { var h = 0; for (var k = 0; k < s.length; k++) h = (h * 31 + s.charCodeAt(k)) | 0; return h; }
  function color(n) {
    if (n === root) return 'hsl(220,10%,82%)';
    var h = hash(n.file), g = hash(n.name);
    return 'hsl(' + (8 + Math.abs(h) % 42) + ',' + (68 + Math.abs(g) % 22) + '%,' + (60 + Math.abs(g >> 3) % 14) + '%)';
  }
  function pct(x, of) { return of ? (100 * x / of).toFixed(x / of < 0.1 ? 2 : 1) + '%' : '0%'; }
  box.className = 'jf-flame';
  box.innerHTML = '<div class="jf-bar"><input type="search" placeholder="search functions / files">' +
    '<button type="button">reset zoom</button><span class="jf-info"></span></div><div class="jf-graph"></div>';
  var input = box.querySelector('input'), reset = box.querySelector('button');
  var info = box.querySelector('.jf-info'), graph = box.querySelector('.jf-graph');
  var tip = document.createElement('div');
  tip.className = 'jf-tip';
  document.body.appendChild(tip);
  function matches(n) {
    if (!query || n === root) return false;
    return n.name.toLowerCase().indexOf(query) >= 0 || n.file.toLowerCase().indexOf(query) >= 0;
  }
  function matchedCount(n) {  // samples under matching frames, each sample counted once
    if (matches(n)) return n.count;
    var s = 0;
    for (var k = 0; k < n.kids.length; k++) s += matchedCount(n.kids[k]);
    return s;
  }
  function render() {
    if (!total) {
      graph.innerHTML = '<div class="jf-empty">No samples: no task ran in this window ' +
        '(or profiling is off: JUPYTER_FUTURES_PROFILE_INTERVAL=0).</div>';
      info.textContent = '0 samples';
      return;
    }
    var width = graph.clientWidth || 1000, out = [], maxDepth = 0;
    var chain = [];
    for (var a = focus.parent; a; a = a.parent) chain.unshift(a);
    function bar(n, x, w, row, extra) {
      maxDepth = Math.max(maxDepth, row);
      out.push('<div class="jf-f' + extra + (matches(n) ? ' jf-hit' : '') + '" data-i="' + n.i +
        '" style="left:' + (x * 100) + '%;width:' + (w * 100) + '%;top:' + (row * ROW) + 'px;background:' +
        color(n) + '">' + (w * width > 28 ? esc(n.name) : '') + '</div>');
    }
    for (var c = 0; c < chain.length; c++) bar(chain[c], 0, 1, c, ' jf-anc');
    (function lay(n, x, w, row) {
      bar(n, x, w, row, '');
      var off = x;
      for (var k = 0; k < n.kids.length; k++) {
        var kid = n.kids[k], kw = w * kid.count / n.count;
        if (kw * width >= 0.6) lay(kid, off, kw, row + 1);
        off += kw;
      }
    })(focus, 0, 1, chain.length);
    graph.style.height = ((maxDepth + 1) * ROW + 2) + 'px';
    graph.innerHTML = out.join('');
    var text = total + ' samples';
    if (focus !== root) text += '; zoomed into ' + focus.name + ' (' + pct(focus.count, total) + ')';
    if (query) text += '; matched: ' + pct(matchedCount(root), total);
    info.textContent = text;
  }
  function nodeOf(ev) {
    var t = ev.target.closest ? ev.target.closest('.jf-f') : null;
    return t ? nodes[+t.getAttribute('data-i')] : null;
  }
  graph.addEventListener('click', function (ev) { var n = nodeOf(ev); if (n) { focus = n; render(); } });
  graph.addEventListener('mousemove', function (ev) {
    var n = nodeOf(ev);
    if (!n) { tip.style.display = 'none'; return; }
    var where = n === root ? 'all sampled tasks' : esc(n.file) + ':' + n.line;
    tip.innerHTML = '<b>' + esc(n.name) + '</b><br>' + where + '<br>' + n.count + ' samples, ' +
      pct(n.count, total) + ' of all' + (focus !== root ? ', ' + pct(n.count, focus.count) + ' of zoomed' : '') +
      (n.src ? '<code>' + esc(n.src) + '</code>' : '');
    tip.style.display = 'block';
    var x = ev.clientX + 14, y = ev.clientY + 14;
    if (x + tip.offsetWidth > window.innerWidth - 4) x = Math.max(4, ev.clientX - tip.offsetWidth - 14);
    if (y + tip.offsetHeight > window.innerHeight - 4) y = Math.max(4, ev.clientY - tip.offsetHeight - 14);
    tip.style.left = x + 'px'; tip.style.top = y + 'px';
  });
  graph.addEventListener('mouseleave', function () { tip.style.display = 'none'; });
  reset.addEventListener('click', function () { focus = root; render(); });
  input.addEventListener('input', function () { query = input.value.trim().toLowerCase(); render(); });
  document.addEventListener('keydown', function (ev) {
    if (ev.key === 'Escape' && focus.parent) { focus = focus.parent; render(); }
  });
  var pending = null;
  window.addEventListener('resize', function () { clearTimeout(pending); pending = setTimeout(render, 100); });
  render();
}
"""


def compact(tree: dict, min_share: float = MIN_SHARE) -> list:
    """``[name, filename, line, source line, count, [children]]`` of a dask-format tree, children by
    count (largest first), frames under ``min_share`` of all samples left out."""
    total = tree.get("count", 0)
    floor = total * min_share

    def walk(node: dict) -> list:
        d = node.get("description") or {}
        kids = sorted((c for c in node.get("children", {}).values() if c.get("count", 0) >= floor and c.get("count")),
                      key=lambda c: -c["count"])
        return [str(d.get("name", "")), str(d.get("filename", "")), int(d.get("line_number") or 0),
                str(d.get("line", "")), int(node.get("count", 0)), [walk(k) for k in kids]]

    return walk(tree)


def script_json(data: Any) -> str:
    """JSON safe to put inside a ``<script>`` element."""
    return (json.dumps(data, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def fragment(tree: dict, element_id: str = "jf-flamegraph") -> str:
    """The flame graph's container and the call that draws it (``CSS`` and ``SCRIPT`` must be on the page)."""
    eid = html.escape(element_id, quote=True)
    return (f'<div id="{eid}"></div>\n<script>jfFlame(document.getElementById({script_json(element_id)}), '
            f'{script_json(compact(tree))});</script>\n')


def page(tree: dict, title: str = "jupyter_futures profile", subtitle: str = "") -> str:
    """A whole HTML page showing ``tree`` as a flame graph."""
    sub = f'<p class="sub">{html.escape(subtitle)}</p>' if subtitle else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:14px system-ui,sans-serif;margin:1.2em 1.5em;color:#222}}h1{{font-size:20px;margin:0 0 .2em}}
.sub{{color:#666;margin:0 0 .6em}}{CSS}</style>
<script>{SCRIPT}</script></head>
<body><h1>{html.escape(title)}</h1>{sub}
{fragment(tree)}
</body></html>
"""


def describe_window(start: float | None, stop: float | None, key: str | None = None, workers: Any = None,
                    samples: int = 0) -> str:
    """One line saying what a profile covers."""
    def fmt(t):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if t is not None else None
    parts = [f"{samples} samples"]
    if start is not None or stop is not None:
        parts.append(f"from {fmt(start) or 'the start'} to {fmt(stop) or 'now'}")
    if key:
        parts.append(f"tasks {key!r}")
    if workers:
        parts.append(f"workers {', '.join(map(str, workers))}")
    parts.append(f"made {fmt(time.time())}")
    return "; ".join(parts)


def write(tree: dict, filename: str, title: str = "jupyter_futures profile", subtitle: str = "") -> str:
    """Write ``page(tree)`` to ``filename``; returns the filename."""
    with open(filename, "w", encoding="utf-8") as f:
        f.write(page(tree, title, subtitle))
    return filename
