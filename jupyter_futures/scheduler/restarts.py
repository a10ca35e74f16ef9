"""``Client.restart_workers``: restart some workers through their nannies and wait for them to come back."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..protocol import messages

logger = logging.getLogger("jupyter_futures.scheduler")

NANNY_GRACE = 2.0  # seconds a worker that just joined has for its nanny to say it watches it


async def _nannies_known(scheduler: Any, addresses: list[str]) -> list[str]:
    """The workers of ``addresses`` with no nanny (a nanny says so just after its worker joins: wait a little)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + NANNY_GRACE
    while True:
        missing = [a for a in addresses if a not in scheduler._watched]
        if not missing or loop.time() >= deadline:
            return missing
        await asyncio.sleep(0.05)


async def restart_workers(scheduler: Any, workers: list, timeout: float, raise_for_error: bool = True) -> dict:
    """Restart ``workers`` (addresses or names) and wait up to ``timeout`` s until as many workers as before
    are connected, none of them the old processes. Returns {each item of ``workers``: "OK" | "timed out"}."""
    if isinstance(workers, str):
        raise TypeError(f"restart_workers({workers!r}): give a list of worker addresses or names, "
                        f"e.g. restart_workers([{workers!r}])")
    addresses = scheduler.state.worker_addresses(workers)
    address_of = {w: scheduler.state.worker_addresses([w])[0] for w in workers}
    no_nanny = await _nannies_known(scheduler, addresses)
    if no_nanny:
        raise ValueError(f"Restarting workers requires a nanny to be used: workers {no_nanny} were started "
                         f"without one (a Worker started in-process); close and start them by hand")
    before = len(scheduler.worker_comms)
    logger.info("restarting workers %s", addresses)
    for address in addresses:
        comm = scheduler.worker_comms[address]
        comm.queue(messages.restart())
        comm.flush()
    old = set(addresses)
    try:
        await asyncio.wait_for(scheduler._until_workers(
            lambda: not old & set(scheduler.worker_comms) and len(scheduler.worker_comms) >= before), timeout)
        status = {a: "OK" for a in addresses}
    except asyncio.TimeoutError:
        back = len(scheduler.worker_comms) - (before - len(old))
        message = (f"{max(back, 0)} of {len(old)} restarted workers came back within {timeout} s: "
                   f"give a longer timeout=")
        if raise_for_error:
            raise TimeoutError(message) from None
        logger.error(message)
        status = {a: ("timed out" if a in scheduler.worker_comms else "OK") for a in addresses}
    return {w: status[address_of[w]] for w in workers}
