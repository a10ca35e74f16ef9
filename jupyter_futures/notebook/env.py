"""Where are we running: a Jupyter kernel (widgets possible), plain IPython, or no IPython at all."""
from __future__ import annotations

import os
import sys
from typing import Any

_widgets_ok: bool | None = None


def ipython_shell() -> Any:
    """The running IPython shell (terminal or kernel), or None. Never imports IPython itself."""
    mod = sys.modules.get("IPython")
    if mod is None:
        return None
    try:
        return mod.get_ipython()
    except Exception:
        return None


def kernel_shell() -> Any:
    """The shell of the Jupyter kernel we run in, or None (a script, plain IPython, a worker: also one
    with a worker kernel open, whose clients belong to the worker, not to the console)."""
    from ..protocol.context import process_worker

    if process_worker() is not None:
        return None
    shell = ipython_shell()
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    return shell


def widgets_available() -> bool:
    """True in a Jupyter kernel where ipywidgets imports (set JUPYTER_FUTURES_WIDGETS=0 to turn widgets off:
    every display is then static HTML and text)."""
    global _widgets_ok
    if os.environ.get("JUPYTER_FUTURES_WIDGETS", "1").lower() in ("0", "false", "no", "off"):
        return False
    if kernel_shell() is None:
        return False
    if _widgets_ok is None:
        try:
            import ipywidgets  # noqa: F401

            _widgets_ok = True
        except Exception:
            _widgets_ok = False
    return _widgets_ok
