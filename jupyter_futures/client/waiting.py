"""``wait``, ``as_completed`` and ``fire_and_forget`` over futures."""
from __future__ import annotations

import asyncio
import collections
import threading
import time
from typing import Any, Iterable, Iterator

from ..protocol import messages
from ..protocol.context import blocking_wait
from ..protocol.durations import parse_duration
from ..protocol.eventloop import in_loop_thread
from .actor import ActorFuture
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


def wait(fs: Any, timeout: float | str | None = None, return_when: str = ALL_COMPLETED):
    """Wait until the futures are done (or as ``return_when`` says); returns ``(done, not_done)`` sets.
    ``timeout``: seconds or a duration such as ``"0.5s"``."""
    timeout = parse_duration(timeout)
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

    As dask's: takes futures and actor futures (``actor.method()``); ``timeout`` (seconds or ``"0.5s"``)
    bounds the whole iteration from its creation, then the next wait for a future raises TimeoutError.
    ``with_results=True`` yields ``(future, result)``: an erred future raises its exception then, unless
    ``raise_errors=False``, which yields ``(future, (type, exception, traceback))`` instead; a cancelled
    future yields ``(future, CancelledError(...))`` either way. ``loop`` is accepted for dask code and
    not used: each future's own client tells when it is done.
    """

    def __init__(self, futures: Iterable[Any] | None = None, loop=None, with_results: bool = False,
                 raise_errors: bool = True, timeout: float | str | None = None):
        self.with_results = with_results
        self.raise_errors = raise_errors
        self.timeout = parse_duration(timeout)
        self._deadline = None if self.timeout is None else time.monotonic() + self.timeout
        self.futures: collections.Counter = collections.Counter()
        self.queue: collections.deque = collections.deque()
        self._cond = threading.Condition()
        self._async_event: asyncio.Event | None = None
        self._async_loop = None
        self.client = None
        self.update(() if futures is None else futures)

    def _on_done(self, *futures: Any) -> None:
        with self._cond:
            self.queue.extend(futures)
            self._cond.notify_all()
        if self._async_event is not None:
            self._async_loop.call_soon_threadsafe(self._async_event.set)

    def add(self, future: Any) -> None:
        """Add one more future (or actor future) to wait for."""
        self.update([future])

    def update(self, futures: Iterable[Any]) -> None:
        """Add several futures (or actor futures)."""
        futures = list(futures)
        for f in futures:
            if not isinstance(f, (Future, ActorFuture)):
                raise TypeError(f"as_completed takes futures, got {type(f).__name__}: pass the futures that "
                                f"submit/map (or an actor's methods) returned, e.g. as_completed(client.map(f, xs))")
        if not futures:
            return
        with self._cond:
            for f in futures:
                self.futures[f] += 1
        by_client: dict = {}
        for f in futures:
            if isinstance(f, ActorFuture):
                f.add_done_callback(self._on_done)
            else:
                by_client.setdefault(f.client, []).append(f)
        for client, group in by_client.items():
            if self.client is None:
                self.client = client
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

    def __repr__(self) -> str:
        with self._cond:
            done = len(self.queue)
            return f"<as_completed: waiting={sum(self.futures.values()) - done} done={done}>"

    def _take(self) -> Any:
        f = self.queue.popleft()
        self.futures[f] -= 1
        if self.futures[f] <= 0:
            del self.futures[f]
        return f

    def _remaining(self) -> float | None:
        """Seconds left before the deadline (None: no deadline); TimeoutError once it has passed."""
        if self._deadline is None:
            return None
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"as_completed: {self.count()} futures not done after {self.timeout} s")
        return remaining

    def _next_done(self) -> Any:
        """The next done future (waits for one); StopIteration when every future has been yielded."""
        with blocking_wait(), self._cond:
            while not self.queue:
                if not self.futures:
                    raise StopIteration
                self._cond.wait(self._remaining())
            return self._take()

    def _present(self, f: Any) -> Any:
        """What iterating yields for the done future ``f`` (its result may be a coroutine: see ``__anext__``)."""
        if not self.with_results:
            return f
        if isinstance(f, ActorFuture):
            try:
                return f, f.result()  # done: no wait
            except Exception as exc:  # noqa: BLE001 - the method's own exception, whatever it is
                return f, self._outcome_of_error(f, exc)
        if f.status == "finished":
            return f, f.result()
        return f, self._outcome_of_error(f, f.state.error())

    def _outcome_of_error(self, f: Any, error: BaseException) -> Any:
        """A cancelled future's CancelledError; an erred one's exception raised, or (type, exception,
        traceback) with ``raise_errors=False``."""
        if isinstance(f, Future) and f.status == "cancelled":
            return error
        if self.raise_errors:
            raise error
        return type(error), error, error.__traceback__

    def __iter__(self) -> Iterator:
        return self

    def __next__(self):
        return self._present(self._next_done())

    next = __next__

    def next_batch(self, block: bool = True) -> list:
        """Every future done by now (at least one when ``block``, within the timeout)."""
        batch = [self._next_done()] if block and self.count() else []
        with self._cond:
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
            remaining = self._remaining()
            try:
                await asyncio.wait_for(self._async_event.wait(), remaining)
            except asyncio.TimeoutError:
                pass  # the next turn raises the TimeoutError that names the futures
        out = self._present(f)
        if self.with_results and isinstance(f, Future) and f.status == "finished" and f.client.asynchronous:
            out = f, await out[1]  # an asynchronous client's result() is a coroutine
        return out
