"""``wait``, ``as_completed`` and ``fire_and_forget`` over futures."""
from __future__ import annotations

import asyncio
import collections
import threading
import time
from typing import Any, Iterable, Iterator

from ..protocol import messages
from ..protocol.context import blocking_wait
from ..protocol.eventloop import in_loop_thread
from .current import default_client
from .future import Future
from .structure import find_futures

ALL_COMPLETED = "ALL_COMPLETED"
FIRST_COMPLETED = "FIRST_COMPLETED"
FIRST_EXCEPTION = "FIRST_EXCEPTION"

DoneAndNotDoneFutures = collections.namedtuple("DoneAndNotDoneFutures", "done not_done")


def _client_of(futures: list[Future]):
    return futures[0].client if futures else default_client()


def _finished(fs: list[Future], return_when: str) -> bool:
    if return_when == ALL_COMPLETED:
        return all(f.done() for f in fs)
    if return_when == FIRST_COMPLETED:
        return any(f.done() for f in fs) or not fs
    if return_when == FIRST_EXCEPTION:
        return all(f.done() for f in fs) or any(f.status == "error" for f in fs)
    raise ValueError(f"return_when={return_when!r}: use ALL_COMPLETED, FIRST_COMPLETED or FIRST_EXCEPTION")


def wait(fs: Any, timeout: float | None = None, return_when: str = ALL_COMPLETED):
    """Wait until the futures are done (or as ``return_when`` says); returns ``(done, not_done)`` sets."""
    futures = find_futures(fs)
    client = _client_of(futures)
    _finished([], return_when)  # validates return_when

    def result():
        done = {f for f in futures if f.done()}
        return DoneAndNotDoneFutures(done, set(futures) - done)

    if client.asynchronous:
        async def _wait():
            await _wait_async(client, futures, timeout, return_when)
            return result()
        return _wait()
    deadline = None if timeout is None else time.monotonic() + timeout
    table = client.futures
    with blocking_wait():
        if return_when == ALL_COMPLETED:
            finished = table.wait([f.state for f in futures], timeout)
        else:
            finished = True
            while finished and not _finished(futures, return_when):
                remaining = None if deadline is None else deadline - time.monotonic()
                finished = table.wait_any([f.state for f in futures if not f.done()], remaining)
    if not finished and not _finished(futures, return_when):
        raise TimeoutError(f"wait(): {sum(not f.done() for f in futures)} of {len(futures)} futures "
                           f"not done after {timeout} s")
    return result()


async def _wait_async(client, futures: list[Future], timeout: float | None, return_when: str) -> None:
    changed = asyncio.Event()
    loop = asyncio.get_running_loop()

    def poke(_st=None):
        loop.call_soon_threadsafe(changed.set)

    for f in futures:
        if not f.done():
            f.state.callbacks.append(poke)
    deadline = None if timeout is None else loop.time() + timeout
    while not _finished(futures, return_when):
        changed.clear()
        remaining = None if deadline is None else deadline - loop.time()
        try:
            await asyncio.wait_for(changed.wait(), remaining)
        except asyncio.TimeoutError:
            raise TimeoutError(f"wait(): futures not done after {timeout} s") from None


def fire_and_forget(obj: Any) -> None:
    """Run these futures' tasks to completion even if no future for them is kept."""
    futures = find_futures(obj)
    by_client: dict = {}
    for f in futures:
        by_client.setdefault(f.client, []).append(f.key)
    for client, keys in by_client.items():
        client.outbox.send(messages.fire_and_forget(keys))


class as_completed:
    """Iterate over futures in the order they finish (sync ``for`` or ``async for``).

    ``with_results=True`` yields ``(future, result)``; ``raise_errors`` decides whether
    an erred future's exception is raised then (default) or the pair carries it.
    """

    def __init__(self, futures: Iterable[Future] = (), loop=None, with_results: bool = False,
                 raise_errors: bool = True, timeout: float | None = None):
        self.with_results = with_results
        self.raise_errors = raise_errors
        self.timeout = timeout
        self.futures: collections.Counter = collections.Counter()
        self.queue: collections.deque = collections.deque()
        self._cond = threading.Condition()
        self._async_event: asyncio.Event | None = None
        self._async_loop = None
        self.client = None
        self.update(futures)

    def _on_done(self, *futures: Future) -> None:
        with self._cond:
            self.queue.extend(futures)
            self._cond.notify_all()
        if self._async_event is not None:
            self._async_loop.call_soon_threadsafe(self._async_event.set)

    def add(self, future: Future) -> None:
        """Add one more future to wait for."""
        self.update([future])

    def update(self, futures: Iterable[Future]) -> None:
        """Add several futures."""
        futures = list(futures)
        for f in futures:
            if not isinstance(f, Future):
                raise TypeError(f"as_completed takes futures, got {type(f).__name__}: pass the futures that "
                                f"submit/map returned, e.g. as_completed(client.map(f, xs))")
        if not futures:
            return
        if self.client is None:
            self.client = futures[0].client
        with self._cond:
            for f in futures:
                self.futures[f] += 1
        by_client: dict = {}
        for f in futures:
            by_client.setdefault(f.client, []).append(f)
        for client, group in by_client.items():
            # One hop to the loop per client, not per future (10,000 done futures: 110 ms -> 6 ms).
            if in_loop_thread(client.loop):
                self._register(group)
            else:
                client.loop.call_soon_threadsafe(self._register, group)

    def _register(self, futures: list[Future]) -> None:
        """On the futures' loop: queue the done ones now, the others when they are done."""
        done = []
        for f in futures:
            if f.done():
                done.append(f)
            else:
                f.state.callbacks.append(lambda st, f=f: self._on_done(f))
        if done:
            self._on_done(*done)

    def count(self) -> int:
        """How many futures are not yet yielded."""
        with self._cond:
            return sum(self.futures.values())

    def is_empty(self) -> bool:
        """True when every future has been yielded."""
        return self.count() == 0

    def has_ready(self) -> bool:
        """True if some futures are done and not yet yielded."""
        with self._cond:
            return bool(self.queue)

    def clear(self) -> None:
        """Forget all futures."""
        with self._cond:
            self.futures.clear()
            self.queue.clear()

    def _take(self) -> Future:
        f = self.queue.popleft()
        self.futures[f] -= 1
        if self.futures[f] <= 0:
            del self.futures[f]
        return f

    def _present(self, f: Future):
        if not self.with_results:
            return f
        if f.status == "error" and not self.raise_errors:
            return f, f.exception()
        return f, f.result()

    def __iter__(self) -> Iterator:
        return self

    def __next__(self):
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        with blocking_wait(), self._cond:
            while not self.queue:
                if not self.futures:
                    raise StopIteration
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"as_completed: {self.count()} futures not done after {self.timeout} s")
                self._cond.wait(remaining)
            f = self._take()
        return self._present(f)

    def next_batch(self, block: bool = True) -> list:
        """Every future done by now (at least one when ``block``)."""
        with self._cond:
            while block and not self.queue and self.futures:
                self._cond.wait()
            batch = []
            while self.queue:
                batch.append(self._take())
        return [self._present(f) for f in batch]

    def batches(self) -> Iterator[list]:
        """Yield lists of all futures done since the last list."""
        while True:
            batch = self.next_batch(block=True)
            if not batch:
                return
            yield batch

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self._async_event is None:
            self._async_event = asyncio.Event()
            self._async_loop = asyncio.get_running_loop()
        while True:
            with self._cond:
                if self.queue:
                    f = self._take()
                    break
                if not self.futures:
                    raise StopAsyncIteration
                self._async_event.clear()
            await self._async_event.wait()
        if not self.with_results:
            return f
        if f.status == "error" and not self.raise_errors:
            return f, await f.exception()
        return f, await f.result()
