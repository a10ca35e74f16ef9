"""What a task key says: the name of its function, the part every view groups tasks by."""
from __future__ import annotations

import re

_HEXISH = re.compile(r"[0-9a-fA-F]{8,}")


def key_split(key) -> str:
    """The readable part of a key: ``inc-3f2a...`` -> ``inc``, ``load-7`` -> ``load``, ``('x', 3)`` -> ``x``,
    ``my-task-name`` -> ``my-task-name`` (only trailing hashes and numbers go)."""
    if isinstance(key, tuple):
        key = key[0] if key else ""
    key = str(key)
    name = key
    while True:
        head, sep, tail = name.rpartition("-")
        if not head or not (tail.isdigit() or _HEXISH.fullmatch(tail)):
            return name
        name = head
