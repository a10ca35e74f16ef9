"""Tracebacks of task errors raised here without the client's own frames (as dask's ``shorten_traceback``).

A task's error raised by ``Future.result()`` would show, between the caller's line and the task's
remote frames, the client's frames that waited for it and raised it. As dask, the first frame (the
public method the user called) and the last are kept, and frames of this package in between dropped.
"""
from __future__ import annotations

import os
import types

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def shorten(tb: types.TracebackType) -> types.TracebackType:
    """``tb`` without the entries of this package's code, but for its first and last entry."""
    kept = tb
    entry = tb.tb_next
    while entry is not None:
        if entry.tb_next is None or not entry.tb_frame.f_code.co_filename.startswith(_PACKAGE):
            kept.tb_next = entry
            kept = entry
        entry = entry.tb_next
    kept.tb_next = None
    return tb
