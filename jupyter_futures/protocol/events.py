"""What may be logged as an event or stored as metadata on the scheduler: plain, msgpack-like data.

The scheduler unpickles every message it gets, yet never imports user code: an event or a metadata
value holding an object of a user's class would fail there, far from its cause. So clients and
workers check values before sending them, as dask's ``log_event`` does (its ``_is_dumpable``).
"""
from __future__ import annotations

from typing import Any

SCALARS = (type(None), bool, int, float, str, bytes)  # exactly these types: subclasses (numpy's) are refused


def plain_problem(value: Any, where: str = "msg", str_keys: bool = True) -> str | None:
    """None if ``value`` is plain data (None, bool, int, float, str, bytes, and lists, tuples and dicts
    of them; dict keys strings, or with ``str_keys=False`` any scalar or tuple of scalars); else which
    part of it is not, e.g. "msg['a'][2] is a numpy.int64"."""
    kind = type(value)
    if kind in SCALARS:
        return None
    if kind in (list, tuple):
        for i, item in enumerate(value):
            problem = plain_problem(item, f"{where}[{i}]", str_keys)
            if problem:
                return problem
        return None
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str and (str_keys or plain_key_problem(key, where) is not None):
                return f"{where} has a key {key!r} of type {_type_name(key)}"
            problem = plain_problem(item, f"{where}[{key!r}]", str_keys)
            if problem:
                return problem
        return None
    return f"{where} is a {_type_name(value)}"


def plain_key_problem(key: Any, where: str) -> str | None:
    """None if ``key`` can name a metadata entry (a scalar, or a tuple of scalars as dask's task keys)."""
    if type(key) in SCALARS or (type(key) is tuple and all(type(k) in SCALARS for k in key)):
        return None
    return f"{where} {key!r} is a {_type_name(key)}"


def check_plain(value: Any, call: str, where: str = "msg", str_keys: bool = True) -> None:
    """TypeError naming the part of ``value`` that is not plain data, for ``call`` (e.g. "log_event")."""
    problem = plain_problem(value, where, str_keys)
    if problem:
        raise TypeError(f"{call}: {where} must be msgpack serializable (None, bool, int, float, str, bytes, "
                        f"and lists, tuples and dicts of them), but {problem}: convert it first, e.g. "
                        f"int(x), float(x), array.tolist(), str(obj)")


def check_topics(topic: Any, call: str) -> list[str]:
    """The topic names of ``topic``, a str or a list/tuple of str; TypeError otherwise."""
    if isinstance(topic, str):
        return [topic]
    if isinstance(topic, (list, tuple, set, frozenset)) and topic and all(isinstance(t, str) for t in topic):
        return list(topic)
    raise TypeError(f"{call}: topic must be a str or a non-empty list of str, got {type(topic).__name__} "
                    f"{topic!r:.60}; e.g. {call}('my-topic', msg) or {call}(['a', 'b'], msg)")


def _type_name(value: Any) -> str:
    kind = type(value)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
