"""Durations people write: ``"10 ms"``, ``"0.5s"``, ``"5 minutes"``, or a number of seconds."""
from __future__ import annotations

import datetime
from .settings import from_environment

_UNITS = {
    "us": 1e-6, "microsecond": 1e-6, "microseconds": 1e-6,
    "ms": 1e-3, "millisecond": 1e-3, "milliseconds": 1e-3,
    "": 1.0, "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
}


def parse_duration(value: str | float | int | datetime.timedelta | None) -> float | None:
    """Seconds from ``"10 ms"``, ``"0.5s"``, ``"2 minutes"``, a ``timedelta`` or a number (None stays None)."""
    if value is None or isinstance(value, (int, float)):
        return value
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    text = str(value).strip().lower()
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz ").strip()
    unit = text[len(number):].strip()
    try:
        return float(number) * _UNITS[unit]
    except (KeyError, ValueError):
        raise ValueError(f"bad duration {value!r}: use a number of seconds or e.g. '10 ms', '0.5s', "
                         f"'5 minutes'") from None


def duration_from_environment(name: str, default: float) -> float:
    """The duration in environment variable ``name`` (e.g. ``"30s"``), else ``default`` seconds."""
    return from_environment(name, parse_duration, default, "30s")
