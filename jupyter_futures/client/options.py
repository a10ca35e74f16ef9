"""dask's per-call options: ``asynchronous=`` (either way, as dask's), and ``direct=``, which this client
takes one way only: the other way is refused with the fix, never ignored."""
from __future__ import annotations

import functools
from typing import Any, Callable


def per_call_mode(method: Callable) -> Callable:
    """A method taking dask's ``asynchronous=`` for one call: True returns an awaitable (to await on any
    event loop), False blocks, None follows the client (``Client.asynchronous``). Blocking on the
    client's own event loop thread would wait forever: refused with the fix."""
    @functools.wraps(method)
    def call(self, *args: Any, asynchronous: bool | None = None, **kwargs: Any) -> Any:
        client = getattr(self, "client", None) or self  # a Queue's, Variable's... or the client itself
        if asynchronous is None or bool(asynchronous) == client.asynchronous:
            return method(self, *args, **kwargs)
        if not asynchronous and client.on_loop_thread():
            raise ValueError(f"{method.__name__}(asynchronous=False) on the client's own event loop thread would "
                             f"wait forever (the loop could not run what it waits for): await it instead")
        with client.mode(bool(asynchronous)):
            result = method(self, *args, **kwargs)
        return client.awaitable_anywhere(result) if asynchronous else result
    return call


def check_direct(call: str, direct: bool | None, name: str = "direct") -> None:
    """``direct=``: None or True is what this client does; False (data through the scheduler) is refused."""
    if direct is None or direct:
        return
    raise ValueError(f"{call}({name}=False): this client always moves data straight between itself and the "
                     f"workers (it connects to each of them); leave out {name}=")
