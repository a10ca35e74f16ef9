"""A user's function run inside a scheduler or worker process (``Client.run_on_scheduler``,
``Client.run``): both hand the process itself to a function that asks for it by name."""
from __future__ import annotations

import inspect
from typing import Any, Callable


async def call_with(fn: Callable, args: tuple, kwargs: dict, target: Any, names: tuple[str, ...]) -> Any:
    """On the process's loop: ``fn(*args, **kwargs)``, with ``target`` passed as each of ``names`` that
    ``fn`` takes (``dask_worker``/``worker``, as in dask), and awaited if it returns an awaitable."""
    params = _parameters(fn)
    for name in names:
        if name in params:
            kwargs[name] = target
    result = fn(*args, **kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result


def _parameters(fn: Callable) -> set:
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return set()
