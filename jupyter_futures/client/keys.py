"""Task keys: readable ``funcname-<hash>`` names, equal for equal pure calls."""
from __future__ import annotations

import functools
import hashlib
import uuid
import weakref
from typing import Any, Callable

from ..protocol import serialize

_function_cache: "weakref.WeakKeyDictionary[Any, tuple[str, serialize.Serialized]]" = weakref.WeakKeyDictionary()


def funcname(func: Any) -> str:
    """A short readable name for a callable (``functools.partial`` and methods unwrapped)."""
    while isinstance(func, functools.partial):
        func = func.func
    name = getattr(func, "__name__", None) or type(func).__name__
    if name == "<lambda>":
        return "lambda"
    return name.replace("-", "_")


def serialize_function(func: Callable) -> tuple[str, serialize.Serialized]:
    """(token, pickled function), computed once per function object."""
    try:
        return _function_cache[func]
    except (KeyError, TypeError):
        pass
    try:
        ser = serialize.dumps(func)
    except Exception as exc:
        raise serialize.SerializationError(
            f"cannot pickle the function {funcname(func)!r} to send it to the workers: {exc}. "
            f"Define it at module level or in the notebook, and avoid capturing unpicklable objects "
            f"(locks, open files, connections) in its closure.") from exc
    ser = serialize.to_bytes(ser)
    token = serialize.token_of(ser.header + b"".join(ser.buffers))
    try:
        _function_cache[func] = (token, ser)
    except TypeError:
        pass
    return token, ser


def key_for(name: str, func_token: str, args: serialize.Serialized, pure: bool) -> str:
    """The key of one task: deterministic from function and arguments when ``pure``."""
    if not pure:
        return f"{name}-{uuid.uuid4().hex}"
    h = hashlib.sha1(func_token.encode(), usedforsecurity=False)
    h.update(args.header)
    for buf in args.buffers:
        h.update(buf)
    return f"{name}-{h.hexdigest()}"


def data_key(value: Any, hash_value: bool) -> str:
    """The key of a scattered value: ``typename-<hash of its content>`` or random."""
    name = type(value).__name__
    if not hash_value:
        return f"{name}-{uuid.uuid4().hex}"
    ser = serialize.dumps(value)
    h = hashlib.sha1(ser.header, usedforsecurity=False)  # sha1: the fastest hashlib digest for large buffers
    for buf in ser.buffers:
        h.update(buf)
    return f"{name}-{h.hexdigest()}"
