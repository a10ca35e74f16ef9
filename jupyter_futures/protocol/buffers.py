"""Memory for large incoming message parts: mapped before the data arrives, reused after.

Receiving 100 MB costs more in page faults than in copying on a VM: every fresh page
is a fault in the guest, and often one in the host. So a large part is received into
memory that is already mapped (huge pages, populated in one call), and that memory is
kept once the objects built on it (a NumPy array, say) are gone, to receive the next
large part. A buffer is free again when nothing but the pool refers to it: every
memoryview, PickleBuffer or array over it holds a reference to it, so its reference
count tells. Free buffers are unmapped after ``IDLE_SECONDS`` without use, and
whenever they hold more than the pool's byte limit.

A very large part is mapped without populating (``lazy``): its pages are populated in steps as the
data arrives (``populate``), so a peer that declares a large part and sends little of it reserves
address space, not memory.
"""
from __future__ import annotations

import asyncio
import mmap
import os
import sys
import threading
import time

from .eventloop import running_loop

MIB = 1 << 20
MIN_POOLED = MIB  # smaller parts are plain bytearrays: faults don't matter there
IDLE_SECONDS = 5.0
_DEFAULT_LIMIT = 512 * MIB
_MADV_HUGEPAGE = getattr(mmap, "MADV_HUGEPAGE", None)
_MADV_POPULATE_WRITE = 23  # Linux >= 5.14; the mmap module of Python 3.11 has no name for it
_MAP_POPULATE = getattr(mmap, "MAP_POPULATE", 0)
POPULATE_STEP = 32 * MIB  # a lazily mapped part is populated this far ahead of its data


def map_lazy(size: int):
    """Anonymous memory of ``size`` bytes whose pages are mapped when first written (or by ``populate``)."""
    if not _MAP_POPULATE:
        return bytearray(size)
    buf = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if _MADV_HUGEPAGE is not None:
        try:
            buf.madvise(_MADV_HUGEPAGE)
        except OSError:
            pass
    return buf


def populate(buf, start: int, length: int) -> None:
    """Map the pages of ``buf[start:start + length]`` now, in one call rather than a fault each (best
    effort: where the kernel cannot, pages are mapped as they are written)."""
    if not isinstance(buf, mmap.mmap):
        return
    start -= start % mmap.PAGESIZE
    length = min(length, len(buf) - start)
    if length > 0:
        try:
            buf.madvise(_MADV_POPULATE_WRITE, start, length)
        except (OSError, ValueError):
            pass


def map_populated(size: int):
    """Anonymous memory of ``size`` bytes with every page already mapped (huge pages where
    the kernel has them, a 2 MiB page being one fault instead of 512); a bytearray where
    the platform cannot map memory that way."""
    if not _MAP_POPULATE:
        return bytearray(size)
    if _MADV_HUGEPAGE is not None:
        try:
            buf = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
            buf.madvise(_MADV_HUGEPAGE)
            buf.madvise(_MADV_POPULATE_WRITE)
            return buf
        except OSError:
            pass
    try:
        return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_POPULATE)
    except OSError:
        return bytearray(size)


class BufferPool:
    """Large receive buffers of one process, handed out and taken back when unused."""

    def __init__(self, limit: int = _DEFAULT_LIMIT, idle_seconds: float = IDLE_SECONDS):
        self.limit = limit
        self.idle_seconds = idle_seconds
        self._lock = threading.Lock()
        self._buffers: dict[int, mmap.mmap] = {}  # id -> every buffer handed out and still mapped
        self._free_since: dict[int, float] = {}  # id -> when a scan first saw it unused
        self._trim_handle: asyncio.TimerHandle | None = None
        self._trim_loop: asyncio.AbstractEventLoop | None = None
        self.reused = 0

    def take(self, size: int, lazy: bool = False):
        """A writable buffer of exactly ``size`` bytes, reused when an unused one is big enough; a new
        one is populated at once unless ``lazy`` (then see ``populate``)."""
        if size < MIN_POOLED:
            return bytearray(size)
        with self._lock:
            free = self._scan_free()
            fitting = [i for i in free if size <= len(self._buffers[i]) <= 2 * size]
            if fitting:
                best = min(fitting, key=lambda i: len(self._buffers[i]))
                self._free_since.pop(best)
                self.reused += 1
                buf = self._buffers[best]
            else:
                self._unmap_over_limit(free, size)
                buf = map_lazy(size) if lazy else map_populated(size)
                if isinstance(buf, mmap.mmap):
                    self._buffers[id(buf)] = buf
        self._arm_trim()
        return buf if len(buf) == size else memoryview(buf)[:size]

    def _unused(self, ident: int) -> bool:
        # References: the dict's and getrefcount's argument; anything more is a live user.
        return sys.getrefcount(self._buffers[ident]) <= 2

    def _scan_free(self) -> list[int]:
        now = time.monotonic()
        free = []
        for ident in self._buffers:
            if self._unused(ident):
                self._free_since.setdefault(ident, now)
                free.append(ident)
            else:
                self._free_since.pop(ident, None)
        return free

    def _unmap(self, ident: int) -> None:
        buf = self._buffers.pop(ident)
        self._free_since.pop(ident, None)
        try:
            buf.close()
        except BufferError:  # someone took a view after all: keep it out of the pool, let GC unmap it
            pass

    def _unmap_over_limit(self, free: list[int], incoming: int) -> None:
        """Unmap free buffers, oldest first, until they and an incoming part fit the limit."""
        free.sort(key=lambda i: self._free_since[i])
        held = sum(len(self._buffers[i]) for i in free)
        while free and held + incoming > self.limit:
            ident = free.pop(0)
            held -= len(self._buffers[ident])
            self._unmap(ident)

    def trim(self, max_idle: float | None = None) -> int:
        """Unmap buffers unused for ``max_idle`` seconds (default: the pool's idle time); return
        how many bytes went back to the system."""
        max_idle = self.idle_seconds if max_idle is None else max_idle
        released = 0
        with self._lock:
            now = time.monotonic()
            for ident in self._scan_free():
                if now - self._free_since[ident] >= max_idle:
                    released += len(self._buffers[ident])
                    self._unmap(ident)
        return released

    def _arm_trim(self) -> None:
        """Trim from the running event loop every ``idle_seconds`` while buffers are mapped."""
        loop = running_loop()
        if loop is None:
            return
        if self._trim_handle is not None and not self._trim_loop.is_closed():
            return
        self._trim_loop = loop
        self._trim_handle = loop.call_later(self.idle_seconds, self._periodic_trim)

    def _periodic_trim(self) -> None:
        self._trim_handle = None
        self.trim()
        if self._buffers:
            self._arm_trim()

    def stats(self) -> dict:
        """Buffers mapped, how many of them are unused, their bytes, and how often one was reused."""
        with self._lock:
            free = self._scan_free()
            return {"mapped": len(self._buffers), "free": len(free),
                    "mapped_bytes": sum(len(b) for b in self._buffers.values()),
                    "free_bytes": sum(len(self._buffers[i]) for i in free), "reused": self.reused}


def limit_from_environment() -> int:
    """The pool's byte limit: ``$JUPYTER_FUTURES_BUFFER_POOL_BYTES``, or 512 MiB."""
    value = os.environ.get("JUPYTER_FUTURES_BUFFER_POOL_BYTES")
    if value is None:
        return _DEFAULT_LIMIT
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"JUPYTER_FUTURES_BUFFER_POOL_BYTES={value!r} is not a number of bytes; "
                         f"set it to an integer such as {_DEFAULT_LIMIT}, or 0 to keep no buffers") from None


pool = BufferPool(limit_from_environment())
