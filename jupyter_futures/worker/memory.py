"""A worker's memory thresholds (as dask's), and giving freed memory back to the system.

Shares of the worker's memory limit:

* ``spill`` (0.6): values held in memory (managed bytes) are spilled to disk, least recently used
  first, to stay under it;
* ``pause`` (0.8): when the process's memory (RSS) passes it, the worker spills values until it is back
  under ``spill``; if that is not enough, it starts no new task (running ones go on, data is still
  served) until memory is freed;
* ``terminate`` (0.95): above it the nanny kills the worker process and starts a new one.

A worker also answers a request for data (a client's gather, a peer's fetch) with at most
``reply_bytes`` of values at once, a tenth of its memory limit as dask's ``transfer`` share, and the
asker asks again for the rest: a reply built in memory never pushes the worker past ``terminate``.

Any of them may be ``None`` (or False) to turn that step off. Give them to ``LocalCluster(...,
memory_thresholds={"pause": 0.85})`` or ``jupyter-futures worker --memory-thresholds '{"pause": 0.85}'``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import json
import sys

DEFAULT_THRESHOLDS: dict[str, float | None] = {"spill": 0.6, "pause": 0.8, "terminate": 0.95}
TRANSFER_SHARE = 0.1  # of the memory limit: the most a reply to a data request holds
UNLIMITED_REPLY_BYTES = 64 * 2**20  # the same for a worker without a memory limit


def reply_bytes(memory_limit: int) -> int:
    """The most bytes of values a worker puts in one reply to a data request (it always sends one)."""
    return int(memory_limit * TRANSFER_SHARE) if memory_limit else UNLIMITED_REPLY_BYTES


def memory_thresholds(given: dict | str | None = None) -> dict[str, float | None]:
    """The thresholds with ``given`` (a dict, or its JSON text) over the defaults; ValueError names a bad one."""
    if isinstance(given, str):
        try:
            given = json.loads(given)
        except ValueError:
            given = None if not given else "not JSON"
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise ValueError(f"memory thresholds {given!r}: give a dict of shares of the memory limit, "
                         f"e.g. {{\"pause\": 0.85}}; the keys are {sorted(DEFAULT_THRESHOLDS)}")
    unknown = set(given) - set(DEFAULT_THRESHOLDS)
    if unknown:
        raise ValueError(f"unknown memory thresholds {sorted(unknown)}: the keys are {list(DEFAULT_THRESHOLDS)}")
    out = dict(DEFAULT_THRESHOLDS)
    for name, value in given.items():
        if value is None or value is False:
            out[name] = None
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
            raise ValueError(f"memory threshold {name}={value!r}: give a share of the memory limit between "
                             f"0 and 1 (e.g. 0.8 for 80 %), or None to turn it off")
        else:
            out[name] = float(value)
    return out


def _load_malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_malloc_trim = _load_malloc_trim()


def trim_memory() -> None:
    """Ask glibc to give freed memory back to the system: after large values are freed, the process's
    RSS (what the nanny watches) would otherwise stay up."""
    if _malloc_trim is not None:
        _malloc_trim(0)


# In the worker's environment (set by its nanny, as dask does): large blocks are freed straight back to
# the system instead of being kept for reuse, so RSS follows the memory actually in use.
MALLOC_ENV = {"MALLOC_TRIM_THRESHOLD_": "65536"}
