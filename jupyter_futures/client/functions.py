"""Task functions pickled once, and again only when what they capture may have changed.

A module function pickles by reference (module + name): its pickle never goes stale.
A notebook function pickles by value, with the globals it uses, its closure and its
defaults; those a later cell may rebind or mutate. Its pickle is reused while a
*signature* of what it captures is unchanged: the identity of each global, cell and
default it uses, all of kinds that cannot change in place (modules, by-reference
functions and classes, numbers, strings, tuples of those, and notebook functions
whose own signature holds). A function capturing anything else (a list, a dict,
an array, an instance) is pickled on every call, as it must be.
"""
from __future__ import annotations

import types
import weakref
from typing import Any, Callable

from ..protocol import serialize
from .keys import funcname

_cache: "weakref.WeakKeyDictionary[Any, tuple[Any, str, serialize.Serialized]]" = weakref.WeakKeyDictionary()

_IMMUTABLE = (int, float, complex, str, bytes, bool, type(None), range, type(Ellipsis))
_UNSTABLE = object()  # a signature that never matches: the function is pickled every time


def serialize_function(func: Callable) -> tuple[str, serialize.Serialized]:
    """(token, pickled function), pickled again only when what ``func`` captures may have changed."""
    try:
        cached = _cache.get(func)
    except TypeError:  # unhashable callable
        cached = None
    if cached is not None and cached[0] == ():  # pickled by reference: nothing to check
        return cached[1], cached[2]
    signature = _signature(func, set())
    if cached is not None and signature is not _UNSTABLE and cached[0] == signature:
        return cached[1], cached[2]
    try:
        ser = serialize.dumps(func)
    except Exception as exc:
        raise serialize.SerializationError(
            f"cannot pickle the function {funcname(func)!r} to send it to the workers: {exc}. "
            f"Define it at module level or in the notebook, and avoid capturing unpicklable objects "
            f"(locks, open files, connections) in its closure.") from exc
    ser = serialize.to_bytes(ser)
    token = serialize.token_of(ser.header + b"".join(ser.buffers))
    if signature is not _UNSTABLE:
        try:
            _cache[func] = (signature, token, ser)
        except TypeError:
            pass
    return token, ser


def pickled_by_reference(obj: Any) -> bool:
    """True when cloudpickle sends ``obj`` (a function or class) as module + name."""
    try:
        from cloudpickle import cloudpickle as cp

        return bool(cp._should_pickle_by_reference(obj))
    except Exception:
        return getattr(obj, "__module__", "__main__") not in ("__main__", None)


def _signature(func: Any, seen: set[int]) -> Any:
    """What ``func``'s pickle depends on that could change without ``func`` changing; _UNSTABLE if
    some of it could change in place."""
    # A notebook's or script's function (``__main__``) is pickled by value; skip asking cloudpickle.
    if getattr(func, "__module__", None) != "__main__" and pickled_by_reference(func):
        return ()
    if not isinstance(func, types.FunctionType):
        return _UNSTABLE  # partials, callable instances, methods: their state may change in place
    seen.add(id(func))
    code = func.__code__
    parts: list = [id(code)]
    namespace = func.__globals__
    for name in _global_names(code):
        if name in namespace:
            value = namespace[name]
            part = _value_signature(value, seen)
            if part is _UNSTABLE:
                return _UNSTABLE
            parts.append((name, id(value), part))
    for cell in func.__closure__ or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell (not yet assigned)
            parts.append(None)
            continue
        part = _value_signature(value, seen)
        if part is _UNSTABLE:
            return _UNSTABLE
        parts.append((id(value), part))
    for value in (func.__defaults__, func.__kwdefaults__, func.__dict__):
        part = _value_signature(value, seen)
        if part is _UNSTABLE:
            return _UNSTABLE
        parts.append((id(value), part))
    return tuple(parts)


def _value_signature(value: Any, seen: set[int]) -> Any:
    if isinstance(value, _IMMUTABLE) or isinstance(value, types.ModuleType):
        return ()
    if isinstance(value, (tuple, frozenset)):
        parts = tuple(_value_signature(v, seen) for v in value)
        return _UNSTABLE if _UNSTABLE in parts else parts
    if isinstance(value, dict):  # keyword-only defaults, function attributes (``__wrapped__``)
        parts = tuple((k, id(v), _value_signature(v, seen)) for k, v in value.items())
        return _UNSTABLE if any(p[2] is _UNSTABLE for p in parts) else parts
    if isinstance(value, types.FunctionType):
        if id(value) in seen:  # recursion: its signature is being taken already
            return ()
        return _signature(value, seen)
    if isinstance(value, type):
        return () if pickled_by_reference(value) else _UNSTABLE
    if isinstance(value, types.BuiltinFunctionType):  # a module's (math.sqrt), not a bound method (lst.append)
        return () if isinstance(value.__self__, (types.ModuleType, type(None))) else _UNSTABLE
    return _UNSTABLE


def _global_names(code: types.CodeType):
    """Names ``code`` (and the code nested in it: lambdas, comprehensions) may look up as globals."""
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _global_names(const)
