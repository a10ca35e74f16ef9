"""Tracebacks that cross processes.

A worker turns a traceback into plain frame records; the client rebuilds a real
``types.TracebackType`` chain from them, so ``traceback.format_tb`` and IPython
show the remote frames (file, line, function name and source line where the
file exists locally), and ``raise exc.with_traceback(tb)`` works as usual.
"""
from __future__ import annotations

import linecache
import traceback
import types

FrameRecord = tuple  # (filename, lineno, name, source line)


def dump_traceback(tb: types.TracebackType | None, skip: int = 0) -> list[FrameRecord]:
    """Frame records of ``tb``, dropping the first ``skip`` frames (the worker's own)."""
    records = [(f.filename, f.lineno or 0, f.name, f.line or "") for f in traceback.extract_tb(tb)]
    return records[skip:]


def _frame_raising_at(filename: str, lineno: int, name: str) -> types.TracebackType:
    """A traceback entry whose frame reports ``filename:lineno`` in function ``name``."""
    code = compile("raise __exc__", filename, "exec")
    code = code.replace(co_name=name, co_qualname=name, co_firstlineno=max(lineno, 1),
                        co_linetable=_line_only_table(len(code.co_code) // 2))
    try:
        exec(code, {"__exc__": _Marker(), "__name__": "jupyter_futures_remote"})
    except _Marker as marker:
        return marker.__traceback__.tb_next
    raise AssertionError("unreachable")


def _line_only_table(units: int) -> bytes:
    """A location table with line numbers and no columns, so no misplaced ``^^^`` markers are drawn."""
    table = bytearray()
    while units > 0:
        n = min(units, 8)
        table += bytes([0x80 | (13 << 3) | (n - 1), 0])  # kind 13: "line only", line delta 0
        units -= n
    return bytes(table)


class _Marker(Exception):
    pass


def rebuild_traceback(records: list[FrameRecord], remote_lines: dict | None = None) -> types.TracebackType | None:
    """A real traceback chain showing ``records`` (innermost last)."""
    tb_next = None
    for filename, lineno, name, line in reversed(records):
        if line and not linecache.getline(filename, lineno).strip():
            # The file is not on this machine: let formatting show the worker's source line.
            linecache.cache[filename] = (0, None, [""] * (lineno - 1) + [line + "\n"], filename)
        entry = _frame_raising_at(filename, lineno, name)
        tb_next = types.TracebackType(tb_next, entry.tb_frame, entry.tb_lasti, lineno)
    return tb_next
