"""One background event loop thread per process, for the blocking (synchronous) API."""
from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, Awaitable, Callable

from .context import blocking_wait, current_task

PATIENCE = 0.005  # seconds a task thread blocks before it leaves the worker's thread pool

_lock = threading.Lock()
_loop_thread: "LoopThread | None" = None


class LoopThread:
    """A daemon thread running an asyncio loop forever."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="jupyter-futures-loop", daemon=True)
        self.thread.start()
        self._ready.wait()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        self.loop.run_forever()


def background_loop() -> asyncio.AbstractEventLoop:
    """The process-wide background loop (started on first use)."""
    global _loop_thread
    with _lock:
        if _loop_thread is None or not _loop_thread.thread.is_alive():
            _loop_thread = LoopThread()
        return _loop_thread.loop


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running in this thread, or None."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def in_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    """True when called from the thread running ``loop``."""
    return running_loop() is loop


async def run_on(loop: asyncio.AbstractEventLoop, aw: Awaitable) -> Any:
    """Await ``aw``, which must run on ``loop``: there, as it is; on another event loop (another
    thread's), it runs on ``loop`` and its result is handed over."""
    if running_loop() is loop:
        return await aw
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_awaited(aw), loop))


async def _awaited(aw: Awaitable) -> Any:
    return await aw


def sync(loop: asyncio.AbstractEventLoop, func: Callable[..., Awaitable], *args: Any,
         timeout: float | None = None, **kwargs: Any) -> Any:
    """Run ``func(*args, **kwargs)`` on ``loop`` from another thread and wait for its result."""
    if in_loop_thread(loop):
        raise RuntimeError("blocking call made from inside the event loop: use the asynchronous API (await)")
    cf = asyncio.run_coroutine_threadsafe(func(*args, **kwargs), loop)
    try:
        return wait_in_task(cf, timeout)
    except KeyboardInterrupt:
        cf.cancel()
        raise


def wait_in_task(cf: concurrent.futures.Future, timeout: float | None = None) -> Any:
    """``cf.result(timeout)``; in a task thread, a wait longer than PATIENCE frees the thread meanwhile.
    A timeout of the wait itself raises TimeoutError saying so; the awaited call's own errors pass."""
    try:
        if current_task() is not None and not cf.done():
            try:
                return cf.result(PATIENCE if timeout is None else min(PATIENCE, timeout))
            except concurrent.futures.TimeoutError:
                if cf.done() or (timeout is not None and timeout <= PATIENCE):
                    raise
            with blocking_wait():
                return cf.result(None if timeout is None else timeout - PATIENCE)
        return cf.result(timeout)
    except concurrent.futures.TimeoutError:
        if cf.done():
            raise  # the call's own TimeoutError, with its message
        cf.cancel()
        raise TimeoutError(f"timed out after {timeout} s") from None
