"""Task keys: readable ``funcname-<hash>`` names, equal for equal pure calls."""
from __future__ import annotations

import functools
import hashlib
import os
import pickle
from typing import Any

from ..protocol import serialize


def funcname(func: Any) -> str:
    """A short readable name for a callable (``functools.partial`` and methods unwrapped)."""
    while isinstance(func, functools.partial):
        func = func.func
    name = getattr(func, "__name__", None) or type(func).__name__
    if name == "<lambda>":
        return "lambda"
    return name.replace("-", "_")


def random_key(name: str) -> str:
    """A key no other call gets: ``name-<32 random hex digits>``."""
    return f"{name}-{os.urandom(16).hex()}"


def key_for(name: str, func_token: str, args: serialize.Serialized) -> str:
    """The key of a pure call: the same for the same function and arguments."""
    h = hashlib.sha1(func_token.encode(), usedforsecurity=False)
    h.update(args.header)
    for buf in args.buffers:
        h.update(buf)
    return f"{name}-{h.hexdigest()}"


_PLAIN = (int, float, str, bytes, bool, type(None), complex)


def canonical_form(args: tuple, kwargs: dict, ser: serialize.Serialized) -> serialize.Serialized:
    """What the key of a pure call hashes: the payload, or, when the arguments hold dicts of plain
    data, a form with dict items sorted (dask's tokenize ignores insertion order too)."""
    if not _has_dict(args) and not _has_dict(kwargs.values()):
        return ser
    try:
        return serialize.Serialized(pickle.dumps(_sorted_dicts((args, kwargs)), protocol=5))
    except _NotPlain:
        return ser


def _has_dict(values: Any) -> bool:
    for value in values:  # a loop, not any(<generator>): a third of the time, once per submitted task
        if isinstance(value, dict):
            return True
    return False


class _NotPlain(Exception):
    pass


def _sorted_dicts(obj: Any) -> Any:
    if isinstance(obj, _PLAIN):
        return obj
    if type(obj) in (list, tuple):
        return (type(obj).__name__, [_sorted_dicts(x) for x in obj])
    if type(obj) is dict:
        try:
            return ("dict", sorted((k, _sorted_dicts(v)) for k, v in obj.items()))
        except TypeError:
            raise _NotPlain from None
    if hasattr(obj, "key") and type(obj).__name__ == "Future":
        return ("future", obj.key)
    raise _NotPlain


def data_key(value: Any, hash_value: bool, ser: serialize.Serialized | None = None) -> str:
    """The key of a scattered value: ``typename-<hash of its content>`` or random."""
    name = type(value).__name__
    if not hash_value:
        return random_key(name)
    ser = ser or serialize.dumps(value)
    h = hashlib.sha1(ser.header, usedforsecurity=False)  # sha1: the fastest hashlib digest for large buffers
    for buf in ser.buffers:
        h.update(_digest(buf))
    return f"{name}-{h.hexdigest()}"


_CHUNK = 8 << 20


def _digest(buf) -> bytes:
    """sha1 of a buffer; large ones as a hash of chunk hashes computed on all cores (hashlib frees the GIL)."""
    view = memoryview(buf).cast("B")
    if view.nbytes < 4 * _CHUNK:
        return hashlib.sha1(view, usedforsecurity=False).digest()
    chunks = [view[i:i + _CHUNK] for i in range(0, view.nbytes, _CHUNK)]
    digests = _hash_pool().map(lambda c: hashlib.sha1(c, usedforsecurity=False).digest(), chunks)
    return hashlib.sha1(b"".join(digests), usedforsecurity=False).digest()


_pool = None


def _hash_pool():
    global _pool
    if _pool is None:
        import concurrent.futures

        _pool = concurrent.futures.ThreadPoolExecutor(max(2, os.cpu_count() or 2), thread_name_prefix="jf-hash")
    return _pool
