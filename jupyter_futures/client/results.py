"""What a ``Future`` asks its client: its result, exception or traceback, once it ends; done callbacks."""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from typing import Any, Callable

from ..protocol import serialize
from ..protocol.context import adopting, blocking_wait, current_task
from ..protocol.durations import parse_duration
from ..protocol.eventloop import PATIENCE, sync
from .future import Future, FutureState
from .table import FutureTable

logger = logging.getLogger("jupyter_futures.client")


class FutureResults:
    """The part of ``Client`` that answers its futures (``Future.result()`` calls ``result_of``...)."""

    # What this part uses of the rest of the Client:
    asynchronous: bool
    loop: asyncio.AbstractEventLoop
    futures: FutureTable
    _callback_executor: concurrent.futures.ThreadPoolExecutor | None
    _fetch_values: Callable[[list[FutureState]], Any]  # (data.py) a coroutine of {key: value}

    def result_of(self, future: Future, timeout: float | None = None) -> Any:
        """``future.result(timeout)``: its value (a coroutine of it when asynchronous); raises its error.
        ``timeout``: seconds or a duration such as ``"10 ms"``, as everywhere a timeout is taken."""
        timeout = parse_duration(timeout)
        st = future.state
        if self.asynchronous:
            return self.await_result_of(future, timeout)
        if st.status != "finished":
            self._wait_done([st], timeout)
            if st.status != "finished":
                raise st.error()
        if st.has_value:
            return st.value
        if st.small is not None:
            return self._value_from_small(st)
        return sync(self.loop, self._fetch_one, st)

    async def await_result_of(self, future: Future, timeout: float | None = None) -> Any:
        """``await future``: its value once it ends; raises its error."""
        timeout = parse_duration(timeout)
        st = future.state
        await self.futures.wait_async([st], timeout)
        if st.status != "finished":
            raise st.error()
        return await self._fetch_one(st)

    def exception_of(self, future: Future, timeout: float | None = None) -> Any:
        """``future.exception(timeout)``: its exception once it ends, None if it succeeded."""
        return self._once_done(future.state, timeout, _exception_or_none)

    def traceback_of(self, future: Future, timeout: float | None = None) -> Any:
        """``future.traceback(timeout)``: the remote traceback once it ends, None if it succeeded."""
        return self._once_done(future.state, timeout, FutureState.traceback)

    def call_when_done(self, future: Future, fn: Callable[[Future], Any]) -> None:
        """``future.add_done_callback(fn)``: ``fn(future)`` in the client's callback thread once it ends."""
        if self._callback_executor is None:
            self._callback_executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="jf-callback")
        executor = self._callback_executor

        def run(_st=None):
            try:
                executor.submit(_run_callback, fn, future)
            except RuntimeError:
                pass

        def register():
            if future.state.done():
                run()
            else:
                future.state.callbacks.append(run)
        self.loop.call_soon_threadsafe(register)

    def loads(self, ser: serialize.Serialized) -> Any:
        """Unpickle a value this client received: futures in it become this client's."""
        with adopting(self):
            return serialize.loads(ser)

    def _wait_done(self, states: list[FutureState], timeout: float | None) -> None:
        """Block until every state ended (TimeoutError naming the first that did not, after ``timeout`` s).
        A task thread that waits longer than ``PATIENCE`` frees its thread for other tasks meanwhile."""
        if all(st.done() for st in states):
            return
        if current_task() is None:
            done = self.futures.wait(states, timeout)
        else:
            deadline = None if timeout is None else time.monotonic() + timeout
            done = self.futures.wait(states, PATIENCE)
            if not done:
                with blocking_wait():
                    done = self.futures.wait(states, None if deadline is None else deadline - time.monotonic())
        if not done:
            pending = [st for st in states if not st.done()]
            if pending:
                raise TimeoutError(f"{pending[0].key} did not finish within {timeout} s")

    def _value_from_small(self, st: FutureState) -> Any:
        value = self.loads(st.small)
        if st.type_name != "Actor":  # a proxy holds a future for its own key: caching it would never let go
            st.value = value
            st.has_value = True
        return value

    async def _fetch_one(self, st: FutureState) -> Any:
        values = await self._fetch_values([st])
        return values[st.key]

    def _once_done(self, st: FutureState, timeout: float | None, then: Callable[[FutureState], Any]) -> Any:
        """``then(st)`` once ``st`` is done (a coroutine of it when asynchronous)."""
        timeout = parse_duration(timeout)
        if self.asynchronous:
            async def wait_then():
                await self.futures.wait_async([st], timeout)
                return then(st)
            return wait_then()
        self._wait_done([st], timeout)
        return then(st)


def _exception_or_none(st: FutureState) -> BaseException | None:
    return None if st.status == "finished" else st.error()


def _run_callback(fn: Callable, future: Future) -> None:
    try:
        fn(future)
    except Exception:
        logger.exception("error in done callback %r of %s", fn, future.key)
