"""Adaptive scaling: as many workers as the scheduler's unfinished tasks can keep busy, within bounds."""
from __future__ import annotations

import asyncio
import logging
import math
from typing import Awaitable, Callable

logger = logging.getLogger("jupyter_futures.cluster")

BUSY_STATES = ("waiting", "queued", "processing", "no-worker")
INTERVAL = 1.0
SCALE_DOWN_AFTER = 3  # checks in a row that want fewer workers before any is stopped (as dask's wait_count)


def adaptive_target(counts: dict[str, int], threads_per_worker: int, minimum: int, maximum: int,
                    holding_data: int = 0) -> int:
    """Workers wanted for these task counts: one thread per unfinished task, never fewer than the
    workers holding data (stopping one would lose it), clamped to [minimum, maximum]."""
    busy = sum(counts.get(state, 0) for state in BUSY_STATES)
    return max(minimum, min(maximum, max(math.ceil(busy / max(threads_per_worker, 1)), holding_data)))


def check_bounds(minimum, maximum) -> tuple[int, int]:
    """(minimum, maximum) as whole numbers, or a ValueError that says what is wrong."""
    for name, value in (("minimum", minimum), ("maximum", maximum)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"adapt({name}={value!r}): give a whole number of workers >= 0")
    if minimum > maximum:
        raise ValueError(f"adapt(minimum={minimum}, maximum={maximum}): minimum is above maximum")
    return minimum, maximum


class Adaptive:
    """Every second, scales the cluster towards ``adaptive_target``; up at once, down only after
    ``SCALE_DOWN_AFTER`` checks in a row agree (a short lull does not stop workers)."""

    def __init__(self, minimum: int, maximum: int, threads_per_worker: int,
                 identity: Callable[[], Awaitable[dict]], workers: Callable[[], int],
                 scale: Callable[[int, frozenset], Awaitable[None]]):
        self.minimum, self.maximum = check_bounds(minimum, maximum)
        self.threads_per_worker = threads_per_worker
        self._identity = identity
        self._workers = workers
        self._scale = scale
        self._lower_checks = 0
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("adaptive scaling step failed; trying again")
            await asyncio.sleep(INTERVAL)

    async def step(self) -> None:
        """Compare the target with the workers running now and scale if due (stopping idle ones first)."""
        identity = await self._identity()
        holding = frozenset(w["pid"] for w in identity["workers"].values() if w["in_memory"])
        target = adaptive_target(identity["tasks"], self.threads_per_worker, self.minimum, self.maximum,
                                 len(holding))
        current = self._workers()
        if target > current:
            self._lower_checks = 0
            await self._scale(target, holding)
        elif target < current:
            self._lower_checks += 1
            if self._lower_checks >= SCALE_DOWN_AFTER:
                self._lower_checks = 0
                await self._scale(target, holding)
        else:
            self._lower_checks = 0

    def stop(self) -> None:
        """Stop adapting (the workers stay as they are)."""
        self._task.cancel()

    def describe(self) -> dict:
        """The bounds, as the REST API shows them."""
        return {"minimum": self.minimum, "maximum": self.maximum}
