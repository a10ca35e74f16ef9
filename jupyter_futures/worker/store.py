"""A worker's data: values by key, with their sizes, spilled to disk past a memory target."""
from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import threading
from collections import OrderedDict
from typing import Any

from ..protocol import serialize
from ..protocol.sizes import parse_memory  # noqa: F401 - where the cluster and the server extension find it

logger = logging.getLogger("jupyter_futures.worker")

SPILL_FRACTION = 0.6


def sizeof(value: Any, ser: serialize.Serialized | None = None) -> int:
    """Bytes a value takes: its pickled size when known, else a cheap estimate."""
    if ser is not None:
        return ser.nbytes
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    return sys.getsizeof(value)


class DataStore:
    """Values by key; least recently used values go to disk when memory passes the target."""

    def __init__(self, memory_limit: int = 0, spill_dir: str | None = None):
        self.memory_limit = memory_limit
        self.target = int(memory_limit * SPILL_FRACTION) if memory_limit else 0
        self.fast: OrderedDict[str, Any] = OrderedDict()
        self.sizes: dict[str, int] = {}
        self.spilled: dict[str, str] = {}
        self.fast_bytes = 0
        self.spilled_bytes = 0
        self._spill_dir = spill_dir
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
                self._spill_until_under_target(keep=key)

    def get(self, key: str) -> Any:
        """The value of ``key`` (read back from disk if it was spilled); KeyError if absent."""
        try:
            value = self.fast[key]
        except KeyError:
            with self._lock:
                return self._unspill(key)
        return value

    __getitem__ = get

    def pop(self, key: str) -> None:
        """Forget ``key``."""
        with self._lock:
            self._discard(key)

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

    def _spill_until_under_target(self, keep: str) -> None:
        for key in list(self.fast):
            if self.fast_bytes <= self.target:
                break
            if key == keep:
                continue
            value = self.fast[key]
            try:
                ser = serialize.dumps(value)
            except Exception:
                continue  # cannot be pickled: it stays in memory
            path = os.path.join(self._dir(), f"{abs(hash(key))}-{len(self.spilled)}")
            with open(path, "wb") as f:
                f.write(len(ser.header).to_bytes(8, "little"))
                f.write(ser.header)
                for buf in ser.buffers:
                    f.write(memoryview(buf).nbytes.to_bytes(8, "little"))
                    f.write(buf)
            del self.fast[key]
            self.fast_bytes -= self.sizes[key]
            self.spilled[key] = path
            self.spilled_bytes += self.sizes[key]
            logger.debug("spilled %s (%d bytes)", key, self.sizes[key])

    def _unspill(self, key: str) -> Any:
        if key in self.fast:
            return self.fast[key]
        path = self.spilled[key]
        with open(path, "rb") as f:
            blob = f.read()
        n = int.from_bytes(blob[:8], "little")
        header, pos, buffers = blob[8:8 + n], 8 + n, []
        while pos < len(blob):
            size = int.from_bytes(blob[pos:pos + 8], "little")
            buffers.append(bytearray(blob[pos + 8:pos + 8 + size]))
            pos += 8 + size
        value = serialize.loads(serialize.Serialized(header, buffers))
        nbytes = self.sizes[key]
        os.unlink(self.spilled.pop(key))
        self.spilled_bytes -= nbytes
        self.fast[key] = value
        self.fast_bytes += nbytes
        if self.target and self.fast_bytes > self.target:
            self._spill_until_under_target(keep=key)
        return value

    def _dir(self) -> str:
        if self._spill_dir is None:
            self._spill_dir = tempfile.mkdtemp(prefix="jupyter-futures-spill-")
        return self._spill_dir

    def close(self) -> None:
        """Remove spilled files."""
        if self._spill_dir and os.path.isdir(self._spill_dir):
            shutil.rmtree(self._spill_dir, ignore_errors=True)
