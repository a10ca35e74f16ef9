"""What a task carries to the cluster: its options and its pickled arguments or data."""
from __future__ import annotations

import itertools
import pickle
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
    elif workers is not None and not (isinstance(workers, (list, tuple, set, frozenset))
                                      and all(isinstance(w, str) for w in workers)):
        raise TypeError(f"workers={workers!r}: give a worker's address or name, or a list of them")
    if resources is not None and not (isinstance(resources, dict) and all(
            isinstance(k, str) and _is_number(v) and v >= 0 for k, v in resources.items())):
        raise TypeError(f"resources={resources!r}: give a dict of resource names to amounts, e.g. {{'GPU': 1}}")
    if retries is not None and not (isinstance(retries, int) and not isinstance(retries, bool) and retries >= 0):
        raise ValueError(f"retries={retries!r}: give how many times to rerun a failed task, a whole number >= 0")
    if priority is not None and not _is_number(priority):
        raise TypeError(f"priority={priority!r}: give a number; tasks of higher priority run first")
    if timeout is not None and not (_is_number(timeout) and timeout > 0):
        raise ValueError(f"timeout={timeout!r}: give the task's time limit in seconds, a positive number")
    return {"workers": list(workers) if workers else None, "resources": resources, "retries": retries or 0,
            "priority": priority, "allow_other_workers": allow_other_workers, "actor": actor,
            "timeout": timeout}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_key(key: Any) -> None:
    """A key given by the user must be a string: the scheduler names tasks by it."""
    if not isinstance(key, str):
        raise TypeError(f"key={key!r}: give a string (or leave it out for funcname-<hash>)")


def serialize_args(func: Callable, args: tuple, kwargs: dict, deps: list[str]) -> serialize.Serialized:
    """Pickle (args, kwargs); futures anywhere inside become references the worker resolves."""
    if not kwargs and all(type(a) in _PLAIN for a in args):
        return serialize.Serialized(pickle.dumps((args, {}), protocol=serialize.PROTOCOL))  # cloudpickle's bytes too
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
