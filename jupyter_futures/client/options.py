"""dask's options that this client takes one way only: ``asynchronous=`` and ``direct=``. The other way is
refused with the fix, never ignored."""
from __future__ import annotations


def check_mode(call: str, asynchronous: bool | None, client_asynchronous: bool) -> None:
    """``asynchronous=`` of a method: None, or the mode of the client it is called on."""
    if asynchronous is None or bool(asynchronous) == client_asynchronous:
        return
    if asynchronous:
        raise ValueError(f"{call}(asynchronous=True) on a blocking client: make the client with "
                         f"Client(asynchronous=True) and await its methods, or leave out asynchronous=")
    raise ValueError(f"{call}(asynchronous=False) on an asynchronous client: await it, "
                     f"or leave out asynchronous=")


def check_direct(call: str, direct: bool | None, name: str = "direct") -> None:
    """``direct=``: None or True is what this client does; False (data through the scheduler) is refused."""
    if direct is None or direct:
        return
    raise ValueError(f"{call}({name}=False): this client always moves data straight between itself and the "
                     f"workers (it connects to each of them); leave out {name}=")
