"""Settings read from the environment, each with a parser and a clear error for a bad value."""
from __future__ import annotations

import os
from typing import Callable, TypeVar

T = TypeVar("T")


def from_environment(name: str, parse: Callable[[str], T], default: T, example: str) -> T:
    """Environment variable ``name`` read with ``parse`` (which raises ValueError for a bad value),
    else ``default``; a bad value raises a ValueError that names the variable and ``example``."""
    text = os.environ.get(name)
    if not text:
        return default
    try:
        return parse(text)
    except ValueError as exc:
        raise ValueError(f"{name}={text!r} is not usable ({exc}): set it to e.g. {name}={example}") from None


def count(text: str) -> int:
    """A number of records, items...: an int of 0 or more."""
    value = int(text)
    if value < 0:
        raise ValueError("a count cannot be negative")
    return value
