"""A worker's data: values by key, with their sizes, spilled to disk past a memory target.

Values in memory (``fast``) are kept under ``target`` bytes, least recently used first to disk.
Reading a spilled value back makes room first (it spills others before loading it), and a value
read only to be sent (``serialized``) is sent from its file's bytes, never loaded back: reading
does not push the process past its memory limit.
"""
from __future__ import annotations

import itertools
import logging
import os
import pickle
import sys
import threading
from collections import OrderedDict
from typing import Any

from ..protocol import serialize
from ..protocol.sizes import parse_memory  # noqa: F401 - where the cluster and the server extension find it
from .folders import WorkerFolder, local_directory
from .memory import DEFAULT_THRESHOLDS, trim_memory

logger = logging.getLogger("jupyter_futures.worker")

SPILL_FRACTION = DEFAULT_THRESHOLDS["spill"]
TRIM_AFTER_BYTES = 16 * 2**20  # freed by spilling since the last trim: give it back to the system


def sizeof(value: Any, ser: serialize.Serialized | None = None) -> int:
    """Bytes a value takes: its pickled size when known, else a cheap estimate."""
    if ser is not None:
        return ser.nbytes
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    return sys.getsizeof(value)


_RAW = b"B"  # a spill file of a bytes value: its bytes
_PICKLED = b"P"  # any other value: header length, header, then each buffer's length and bytes


def _load(path: str) -> Any:
    """The value in a spill file."""
    with open(path, "rb") as f:
        if f.read(1) == _RAW:
            return f.read()
    return serialize.loads(DataStore._read(path))


class DataStore:
    """Values by key; least recently used values go to disk when memory passes the target.

    ``spill_dir``: the folder for spilled values (a worker's nanny makes it and removes it); without
    one, the store makes its own under ``local_dir`` on first spill and removes it on ``close``.
    """

    def __init__(self, memory_limit: int = 0, spill_dir: str | None = None, spill_fraction: float | None = None,
                 local_dir: str | None = None):
        self.memory_limit = memory_limit
        fraction = SPILL_FRACTION if spill_fraction is None else spill_fraction
        self.target = int(memory_limit * fraction) if memory_limit and fraction else 0
        self.fast: OrderedDict[str, Any] = OrderedDict()
        self.sizes: dict[str, int] = {}
        self.spilled: dict[str, str] = {}
        self.fast_bytes = 0
        self.spilled_bytes = 0
        self._spill_dir = spill_dir
        self._local_dir = local_dir
        self._own_folder: WorkerFolder | None = None
        self._names = itertools.count()
        self._freed = 0
        self._lock = threading.RLock()

    def __contains__(self, key: str) -> bool:
        return key in self.fast or key in self.spilled

    def __len__(self) -> int:
        return len(self.fast) + len(self.spilled)

    def __iter__(self):
        return iter(self.keys())

    def keys(self) -> list[str]:
        """All keys held, in memory or on disk."""
        return list(self.fast) + list(self.spilled)

    @property
    def nbytes(self) -> int:
        """Bytes of all values, in memory or on disk."""
        return sum(self.sizes.values())

    def put(self, key: str, value: Any, nbytes: int) -> None:
        """Store a value of known size."""
        with self._lock:
            self._discard(key)
            self.fast[key] = value
            self.sizes[key] = nbytes
            self.fast_bytes += nbytes
            if self.target and self.fast_bytes > self.target:
                # The new value stays in memory (it is about to be used), unless it alone is over the target.
                self._spill_until(self.target, keep=key if nbytes <= self.target else None)

    def get(self, key: str) -> Any:
        """The value of ``key`` (read back from disk if it was spilled); KeyError if absent."""
        with self._lock:
            try:
                value = self.fast[key]
            except KeyError:
                return self._unspill(key)
            self.fast.move_to_end(key)
            return value

    __getitem__ = get

    def serialized(self, key: str) -> serialize.Serialized:
        """``key``'s value pickled, to send it: a spilled value is read from its file as it is, and stays
        on disk (sending it must not bring it back into memory for good); KeyError if absent."""
        with self._lock:
            if key in self.fast:
                value = self.fast[key]
            else:
                return self._read(self.spilled[key])
        return serialize.dumps(value)

    def pop(self, key: str) -> None:
        """Forget ``key``."""
        with self._lock:
            self._discard(key)

    def spill_oldest(self) -> int:
        """Spill the least recently used value held in memory; returns its size (0: nothing could go)."""
        with self._lock:
            before = self.fast_bytes
            self._spill_until(max(self.fast_bytes - 1, 0), keep=None, at_most=1)
            return before - self.fast_bytes

    def _discard(self, key: str) -> None:
        if key in self.fast:
            del self.fast[key]
            self.fast_bytes -= self.sizes.get(key, 0)
        path = self.spilled.pop(key, None)
        if path is not None:
            self.spilled_bytes -= self.sizes.get(key, 0)
            try:
                os.unlink(path)
            except OSError:
                pass
        self.sizes.pop(key, None)

    def _spill_until(self, limit: int, keep: str | None, at_most: int | None = None) -> None:
        """Spill values, least recently used first, until ``fast_bytes <= limit``."""
        spilled = 0
        for key in list(self.fast):
            if self.fast_bytes <= limit or (at_most is not None and spilled >= at_most):
                break
            if key == keep:
                continue
            if self._spill(key):
                spilled += 1
        if self._freed >= TRIM_AFTER_BYTES:
            self._freed = 0
            trim_memory()

    def _spill(self, key: str) -> bool:
        value = self.fast[key]
        path = os.path.join(self._dir(), str(next(self._names)))
        if type(value) is bytes:  # written as it is: pickling would copy it first
            with open(path, "wb") as f:
                f.write(_RAW)
                f.write(value)
        else:
            try:
                ser = serialize.dumps(value)
            except Exception:
                return False  # cannot be pickled: it stays in memory
            with open(path, "wb") as f:
                f.write(_PICKLED)
                f.write(len(ser.header).to_bytes(8, "little"))
                f.write(ser.header)
                for buf in ser.buffers:
                    f.write(memoryview(buf).nbytes.to_bytes(8, "little"))
                    f.write(buf)
            del ser
        del value
        del self.fast[key]
        nbytes = self.sizes[key]
        self.fast_bytes -= nbytes
        self.spilled[key] = path
        self.spilled_bytes += nbytes
        self._freed += nbytes
        logger.debug("spilled %s (%d bytes)", key, nbytes)
        return True

    @staticmethod
    def _read(path: str) -> serialize.Serialized:
        with open(path, "rb") as f:
            if f.read(1) == _RAW:
                buf = bytearray(os.fstat(f.fileno()).st_size - 1)
                f.readinto(buf)
                buffers: list = []
                # Unpickles to bytes(buf): sent from this buffer as it is, no pickled copy of it made here.
                header = pickle.dumps(serialize.BytesOf(buf), protocol=serialize.PROTOCOL,
                                      buffer_callback=buffers.append)
                return serialize.Serialized(header, [b.raw() for b in buffers])
            n = int.from_bytes(f.read(8), "little")
            header = f.read(n)
            buffers = []
            while True:
                size = f.read(8)
                if not size:
                    break
                buf = bytearray(int.from_bytes(size, "little"))
                f.readinto(buf)
                buffers.append(buf)
        return serialize.Serialized(header, buffers)

    def _unspill(self, key: str) -> Any:
        nbytes = self.sizes[key]
        path = self.spilled[key]
        room = bool(self.target) and nbytes <= self.target
        if room and self.fast_bytes + nbytes > self.target:
            self._spill_until(self.target - nbytes, keep=None)  # room first, then load
            room = self.fast_bytes + nbytes <= self.target
        value = _load(path)
        if room or not self.target:
            os.unlink(self.spilled.pop(key))
            self.spilled_bytes -= nbytes
            self.fast[key] = value
            self.fast_bytes += nbytes
        # else: no room for it in memory; it stays on disk and is read again when needed
        return value

    def _dir(self) -> str:
        if self._spill_dir is None:
            self._own_folder = WorkerFolder(local_directory(self._local_dir))
            self._spill_dir = self._own_folder.path
        return self._spill_dir

    def close(self) -> None:
        """Remove spilled files (and the folder, if the store made it)."""
        with self._lock:
            for path in self.spilled.values():
                try:
                    os.unlink(path)
                except OSError:
                    pass
            self.spilled.clear()
            self.spilled_bytes = 0
            if self._own_folder is not None:
                self._own_folder.remove()
