"""Task functions pickled once, and again only when what they capture may have changed.

A module function pickles by reference (module + name): its pickle never goes stale.
A notebook function pickles by value, with the globals it uses, its closure, its
defaults and attributes; a later cell may rebind or mutate those. Its pickle is reused
while every one of those objects is the very same object as when it was pickled (the
cache holds them, so an identity cannot be reused) and all are of kinds that cannot
change in place: numbers, strings, tuples of those, modules, functions and classes
pickled by reference, notebook functions that pass the same test, and plain dicts of
such things (compared item by item). A function that captures anything else (a list,
an array, an instance, a partial) is pickled on every call.
"""
from __future__ import annotations

import operator
import types
import weakref
from typing import Any, Callable

from ..protocol import serialize
from .keys import funcname

_cache: "weakref.WeakKeyDictionary[Any, tuple[Any, str, serialize.Serialized]]" = weakref.WeakKeyDictionary()

_IMMUTABLE = {int, float, complex, str, bytes, bool, type(None), range, type(Ellipsis)}
_BY_REFERENCE = ()  # the signature of a function pickled by reference: nothing to check
_ABSENT = object()  # stands for a global not (yet) defined, or an empty closure cell


def serialize_function(func: Callable) -> tuple[str, serialize.Serialized]:
    """(token, pickled function), pickled again only when what ``func`` captures may have changed."""
    try:
        cached = _cache.get(func)
    except TypeError:  # unhashable callable
        cached = None
    if cached is not None and cached[0] is _BY_REFERENCE:
        return cached[1], cached[2]
    signature = _signature(func)
    if cached is not None and signature is not None and _same(cached[0], signature):
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
    if signature is not None:
        try:
            _cache[func] = (signature, token, ser)
        except TypeError:
            pass
    return token, ser


def pickled_by_reference(obj: Any) -> bool:
    """True when cloudpickle sends ``obj`` (a function, class or module) by name, not by value."""
    try:
        from cloudpickle import cloudpickle as cp

        return bool(cp._should_pickle_by_reference(obj))
    except Exception:
        return False


def _same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(map(operator.is_, a, b))  # in C: a third of a generator's time


def _signature(func: Any) -> Any:
    """``_BY_REFERENCE``; or the objects ``func``'s pickle captures, to compare by identity (held, so
    an identity is never reused while cached); or None when some of them could change in place."""
    if isinstance(func, types.BuiltinFunctionType):
        return _BY_REFERENCE if isinstance(func.__self__, (types.ModuleType, type(None))) else None
    if type(func) is not types.FunctionType:
        return None  # partials, callable instances, bound methods: their state may change in place
    # A notebook's or script's function (``__main__``) is pickled by value: skip asking cloudpickle.
    if func.__module__ != "__main__" and pickled_by_reference(func):
        return _BY_REFERENCE
    held: list = []
    return held if _capture_function(func, held, set()) else None


def _capture_function(func: types.FunctionType, held: list, seen: set[int]) -> bool:
    """Append what a by-value ``func`` captures to ``held``; False if some of it is mutable."""
    seen.add(id(func))
    code = func.__code__
    held += (code, func.__name__, func.__qualname__, func.__doc__, func.__module__)
    namespace = func.__globals__
    for name in _global_names(code):
        value = namespace.get(name, _ABSENT)
        if not _capture(value, held, seen):
            return False
    for cell in func.__closure__ or ():
        try:
            value = cell.cell_contents
        except ValueError:  # not assigned yet
            value = _ABSENT
        if not _capture(value, held, seen):
            return False
    return all(_capture(value, held, seen) for value in (
        func.__defaults__, func.__kwdefaults__, func.__dict__, func.__annotations__))


def _capture(value: Any, held: list, seen: set[int]) -> bool:
    """Append ``value`` (and what it holds) to ``held``; False if it can change in place."""
    held.append(value)
    kind = type(value)
    if kind in _IMMUTABLE or value is _ABSENT:
        return True
    if kind is tuple or kind is frozenset:
        return all(_capture(v, held, seen) for v in value)
    if kind is dict:  # keyword-only defaults, function attributes, annotations: compared item by item
        return not value or all(_capture(k, held, seen) and _capture(v, held, seen) for k, v in value.items())
    if kind is types.FunctionType:
        if id(value) in seen:  # recursion: being captured already
            return True
        if value.__module__ != "__main__" and pickled_by_reference(value):
            return True
        return _capture_function(value, held, seen)
    if kind is types.ModuleType or isinstance(value, type):
        return pickled_by_reference(value)
    if kind is types.BuiltinFunctionType:  # a module's (math.sqrt), not a bound method (lst.append)
        return isinstance(value.__self__, (types.ModuleType, type(None)))
    return False


def _global_names(code: types.CodeType):
    """Names ``code`` (and the code nested in it: lambdas, comprehensions) may look up as globals."""
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _global_names(const)
