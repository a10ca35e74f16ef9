"""The notebook layer's integration with an IPython shell, found without making one (``kernel.integration``
makes it): the display bundles use it to register live displays and wire clients in."""
from __future__ import annotations

from typing import Any

_by_shell: dict[int, Any] = {}


def find(shell: Any) -> Any:
    """The integration of ``shell``, or None while it has none (or for no shell)."""
    if shell is None:
        return None
    it = _by_shell.get(id(shell))
    return it if it is not None and it.shell is shell else None


def keep(shell: Any, integration: Any) -> None:
    """``integration`` is the one of ``shell`` from now on."""
    _by_shell[id(shell)] = integration
