"""Walking nested lists, tuples, dicts and sets of futures."""
from __future__ import annotations

from typing import Any, Callable


def find_futures(obj: Any) -> list:
    """Every Future inside ``obj`` (itself, or nested in lists, tuples, sets, dicts), without repeats."""
    from .future import Future

    found: dict[str, Future] = {}
    stack = [obj]
    while stack:
        x = stack.pop()
        if isinstance(x, Future):
            found.setdefault(x.key, x)
        elif isinstance(x, (list, tuple, set, frozenset)):
            stack.extend(x)
        elif isinstance(x, dict):
            stack.extend(x.values())
    return list(found.values())


def futures_of(obj: Any) -> list:
    """The futures inside ``obj`` (as dask's ``futures_of``): ``obj`` itself, or nested in lists, tuples,
    sets and dicts."""
    return find_futures(obj)


def map_structure(obj: Any, fn: Callable, skip_keys: set | None = None) -> Any:
    """``obj`` with each Future replaced by ``fn(future)``; futures in ``skip_keys`` are dropped."""
    from .future import Future

    if isinstance(obj, Future):
        return fn(obj)
    if isinstance(obj, (list, tuple)):
        items = [map_structure(x, fn, skip_keys) for x in obj
                 if not (skip_keys and isinstance(x, Future) and x.key in skip_keys)]
        return type(obj)(items) if type(obj) in (list, tuple) else type(obj)(*items)
    if isinstance(obj, (set, frozenset)):
        return type(obj)(map_structure(x, fn, skip_keys) for x in obj
                         if not (skip_keys and isinstance(x, Future) and x.key in skip_keys))
    if isinstance(obj, dict):
        return {k: map_structure(v, fn, skip_keys) for k, v in obj.items()
                if not (skip_keys and isinstance(v, Future) and v.key in skip_keys)}
    return obj
