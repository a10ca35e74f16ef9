"""What a task carries to the cluster: its options and its pickled arguments or data."""
from __future__ import annotations

import itertools
from typing import Any, Callable

from ..protocol import serialize
from .future import Future
from .keys import funcname

_PLAIN = frozenset({int, float, str, bytes, bool, type(None), complex})


def task_options(workers, resources, retries, priority, allow_other_workers, actor=False, timeout=None) -> dict | None:
    """The options of a task as the scheduler takes them; None when all are defaults."""
    if not (workers or resources or retries or priority or allow_other_workers or actor or timeout):
        return None
    if isinstance(workers, str):
        workers = [workers]
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"timeout={timeout!r}: give the task's time limit in seconds, a positive number")
    return {"workers": list(workers) if workers else None, "resources": resources, "retries": retries or 0,
            "priority": priority, "allow_other_workers": allow_other_workers, "actor": actor,
            "timeout": timeout}


def serialize_args(func: Callable, args: tuple, kwargs: dict, deps: list[str]) -> serialize.Serialized:
    """Pickle (args, kwargs); futures anywhere inside become references the worker resolves."""
    if not kwargs and all(type(a) in _PLAIN for a in args):
        return serialize.dumps((args, {}))
    if all(type(a) in _PLAIN or type(a) is Future for a in itertools.chain(args, kwargs.values())):
        return serialize.dumps_with_refs((args, kwargs), Future, deps)

    def persistent_id(obj: Any):
        if isinstance(obj, Future):
            deps.append(obj.key)
            return obj.key
        return None

    try:
        return serialize.dumps((args, kwargs), persistent_id=persistent_id)
    except Exception as exc:
        culprit = find_unpicklable(args, kwargs)
        raise serialize.SerializationError(
            f"cannot pickle {culprit} of {funcname(func)}(): {exc}. Tasks run in other processes, so their "
            f"arguments must be picklable: pass plain data, or create the object inside the task.") from exc


def find_unpicklable(args: tuple, kwargs: dict) -> str:
    """Which argument cannot be pickled, in words for an error message."""
    import cloudpickle

    for i, a in enumerate(args):
        try:
            cloudpickle.dumps(a)
        except Exception:
            return f"argument {i} (a {type(a).__name__})"
    for k, v in kwargs.items():
        try:
            cloudpickle.dumps(v)
        except Exception:
            return f"keyword argument {k!r} (a {type(v).__name__})"
    return "an argument"


def serialize_value(value: Any) -> serialize.Serialized:
    """Pickle one value to scatter; a clear error names its type when it cannot be pickled."""
    try:
        return serialize.dumps(value)
    except Exception as exc:
        raise serialize.SerializationError(
            f"cannot pickle the {type(value).__name__} to scatter it: {exc}") from exc
