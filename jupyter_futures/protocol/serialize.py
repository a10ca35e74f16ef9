"""Serialization of user objects (cloudpickle, pickle protocol 5, out-of-band buffers).

User payloads (functions, arguments, results) travel as ``Serialized`` blobs that
the scheduler never opens; only workers and clients turn them back into objects.
Large buffers (NumPy arrays, bytes) stay out of band: they are sent from their own
memory and received into memory of their own, never copied into one pickle blob.
"""
from __future__ import annotations

import hashlib
import pickle
from typing import Any, Callable

from . import codefiles

PROTOCOL = 5


class Serialized:
    """A pickled object: the pickle stream plus its out-of-band buffers."""

    __slots__ = ("header", "buffers")

    def __init__(self, header: bytes, buffers: list | tuple = ()):
        self.header = header
        self.buffers = list(buffers) if buffers else ()  # the shared empty tuple: no list per small object

    @property
    def nbytes(self) -> int:
        """Total size in bytes of the header and every buffer."""
        return len(self.header) + sum(memoryview(b).nbytes for b in self.buffers)

    def __reduce_ex__(self, protocol):
        # Inside a message pickled with a buffer_callback, the buffers go out of band.
        return (Serialized, (self.header, [pickle.PickleBuffer(b) for b in self.buffers]))

    def __repr__(self) -> str:
        return f"<Serialized {self.nbytes} bytes>"


# Builtins that plain pickle handles exactly like cloudpickle, only faster.
_PLAIN_TYPES = frozenset({int, float, str, bytes, bool, type(None), complex})
OUT_OF_BAND_BYTES = 64 * 1024  # a bytes value this large is sent from its own memory, not copied into a pickle


class BytesOf:
    """Pickles as ``bytes(buf)`` with ``buf`` out of band: sent as it is, one copy made on arrival."""

    __slots__ = ("buf",)

    def __init__(self, buf: bytes | bytearray):
        self.buf = buf

    def __reduce_ex__(self, protocol):
        return (bytes, (pickle.PickleBuffer(self.buf),))


class SerializationError(TypeError):
    """An object could not be pickled to send it to the cluster."""


def dumps(obj: Any, persistent_id: Callable[[Any], Any] | None = None) -> Serialized:
    """Pickle ``obj`` with cloudpickle, keeping large buffers out of band."""
    buffers: list = []
    if type(obj) is bytes and len(obj) >= OUT_OF_BAND_BYTES:
        header = pickle.dumps(BytesOf(obj), protocol=PROTOCOL, buffer_callback=buffers.append)
    elif type(obj) in _PLAIN_TYPES:
        header = pickle.dumps(obj, protocol=PROTOCOL)
    else:
        import io

        stream = io.BytesIO()
        pickler = codefiles.Pickler(stream, protocol=PROTOCOL, buffer_callback=buffers.append)
        if persistent_id is not None:
            pickler.persistent_id = persistent_id
        pickler.dump(obj)
        header = stream.getvalue()
    return Serialized(header, [b.raw() for b in buffers])


class _RefPickler(pickle.Pickler):
    """Plain pickler that writes instances of ``ref_type`` as persistent ids (their ``key``)."""

    ref_type: type = type(None)
    refs: list

    def persistent_id(self, obj: Any):
        if type(obj) is self.ref_type:
            self.refs.append(obj.key)
            return obj.key
        return None


def dumps_with_refs(obj: Any, ref_type: type, refs: list) -> Serialized:
    """Fast path of ``dumps`` for builtins-only data holding references: no cloudpickle needed."""
    import io

    stream = io.BytesIO()
    pickler = _RefPickler(stream, protocol=PROTOCOL)
    pickler.ref_type, pickler.refs = ref_type, refs
    pickler.dump(obj)
    return Serialized(stream.getvalue())


def loads(ser: Serialized, persistent_load: Callable[[Any], Any] | None = None) -> Any:
    """Turn a ``Serialized`` back into the object it was made from."""
    if persistent_load is None:
        return pickle.loads(ser.header, buffers=ser.buffers)
    import io

    unpickler = pickle.Unpickler(io.BytesIO(ser.header), buffers=ser.buffers)
    unpickler.persistent_load = persistent_load
    return unpickler.load()


def to_bytes(ser: Serialized) -> Serialized:
    """A copy of ``ser`` whose buffers are ``bytes`` (safe to keep after the source changes)."""
    return Serialized(ser.header, [bytes(b) for b in ser.buffers])


def token_of(data: bytes | memoryview) -> str:
    """A short stable hash of some bytes."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()
