"""Lists, tuples, sets and dicts of futures display as one aggregate: a progress widget in a kernel,
summary text elsewhere. Registered with IPython's formatters while the notebook layer is open."""
from __future__ import annotations

import logging
from typing import Any

from .env import kernel_shell
from .reprs import container_bundle, container_text

logger = logging.getLogger("jupyter_futures.notebook")

_CONTAINERS = (list, tuple, set, frozenset, dict)
_saved_plain: dict[type, Any] = {}


def _container_mimebundle(obj: Any) -> Any:
    if kernel_shell() is None:
        return None
    try:
        return container_bundle(obj)
    except Exception:  # never break the display of a list
        logger.exception("could not display a container of futures")
        return None


def _plain_printer(original: Any):
    def printer(obj: Any, p: Any, cycle: bool) -> None:
        text = None
        if not cycle:
            try:
                text = container_text(obj)
            except Exception:
                text = None
        if text is not None:
            p.text(text)
        elif original is not None:
            original(obj, p, cycle)
        else:
            p.text(repr(obj))
    printer._jupyter_futures = True
    return printer


def _formatters(shell: Any) -> tuple[Any, Any] | None:
    """(the shell's display formatter, its text/plain formatter or None), or None without one."""
    fmt = getattr(shell, "display_formatter", None)
    return None if fmt is None else (fmt, fmt.formatters.get("text/plain"))


def register_formatters(shell: Any) -> None:
    """Containers of futures display as one aggregate (widget in a kernel, summary text elsewhere)."""
    found = _formatters(shell)
    if found is None:
        return
    from IPython.lib import pretty

    fmt, plain = found
    for t in _CONTAINERS:
        fmt.mimebundle_formatter.for_type(t, _container_mimebundle)
        if plain is None:
            continue
        try:
            original = plain.lookup_by_type(t)
        except KeyError:
            original = pretty._type_pprinters.get(t)
        if getattr(original, "_jupyter_futures", False):
            continue
        _saved_plain[t] = original
        plain.for_type(t, _plain_printer(original))


def unregister_formatters(shell: Any) -> None:
    """Undo ``register_formatters``: containers display as IPython shows them by itself."""
    found = _formatters(shell)
    if found is None:
        return
    fmt, plain = found
    for t in _CONTAINERS:
        fmt.mimebundle_formatter.pop(t, None)
        if plain is None or t not in _saved_plain:
            continue
        original = _saved_plain.pop(t)
        if original is not None:
            plain.for_type(t, original)  # IPython's own printer (one item a line for long lists) again
        else:
            plain.pop(t, None)
