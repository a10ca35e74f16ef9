"""``print`` and ``warn`` as dask's ``distributed.print`` / ``distributed.warn``: in a task, what they write
reaches the client that submitted it; elsewhere they are the builtin ``print`` and ``warnings.warn``.

Inside a task ``sys.stdout`` and ``sys.stderr`` are the worker's task streams (worker/output.py), which
already send what any code of the task prints to its client: these functions only add dask's checks.
"""
from __future__ import annotations

import builtins
import sys
import warnings
from typing import Any, TextIO

from ..protocol.context import current_task


def print(*args: Any, sep: str | None = " ", end: str | None = "\n", file: TextIO | None = None,
          flush: bool = False) -> None:
    """The builtin ``print``; in a task, the text also appears on the client that submitted it.
    There ``file`` must be None, ``sys.stdout`` or ``sys.stderr``, as in dask."""
    if current_task() is not None and file not in (None, sys.stdout, sys.stderr):
        raise TypeError(f"print(file={file!r}) in a task: the text goes to the client only from sys.stdout or "
                        f"sys.stderr; pass file=None, sys.stdout or sys.stderr")
    builtins.print(*args, sep=sep, end=end, file=file, flush=flush)


def warn(message: str | Warning, category: type[Warning] | None = UserWarning, stacklevel: int = 1,
         source: Any = None) -> None:
    """``warnings.warn``; in a task, the warning appears on the client that submitted it, every time (the
    worker's filters, which show a warning once per place, do not hide the next ones)."""
    if current_task() is None:
        warnings.warn(message, category, stacklevel + 1, source)
        return
    if isinstance(message, Warning):
        category = type(message)
    try:
        caller = sys._getframe(stacklevel)
    except ValueError:  # a stacklevel beyond the task's outermost frame
        caller = sys._getframe(1)
    sys.stderr.write(warnings.formatwarning(message, category or UserWarning, caller.f_code.co_filename,
                                            caller.f_lineno))
