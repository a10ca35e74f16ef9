"""Sizes people write: ``"4GB"``, ``"512MiB"``."""
from __future__ import annotations


def parse_memory(text: str | int | None) -> int:
    """``"4GB"``, ``"512MiB"``, ``"1e9"`` or an int -> bytes (0 means no limit)."""
    if text in (None, "", 0, "0", "none", "None"):
        return 0
    if isinstance(text, (int, float)):
        return int(text)
    units = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
             "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
    s = text.strip().lower().replace(" ", "")
    num = s.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = s[len(num):]
    if unit not in units or not num:
        raise ValueError(f"bad memory size {text!r}: use a number of bytes or e.g. '4GB', '512MiB'")
    return int(float(num) * units[unit])
