"""Authenticated, framed, batched TCP connections on an asyncio loop.

A frame is ``u32 nparts``, ``u64 length`` per part, then the parts. Part 0 is a
pickle (protocol 5) of a *list of messages*; the other parts are its out-of-band
buffers. Everything ``queue()`` queues for a peer within one loop turn leaves as
one frame. Sockets are driven directly with ``add_reader``/``add_writer`` so
large buffers are sent from their own memory (``sendmsg``) and received straight
into memory of their own (``recv_into``): no copy on either side.

Threads
-------
A ``Comm`` belongs to the event loop it was made on. What each thread may call:

* The loop thread only: ``queue`` (append to the outbox; a ``call_soon`` writes the outbox as one
  frame at the end of this loop turn), ``flush`` (write the outbox now), ``write_batch`` (the outbox
  and these messages, as one frame now), ``request``, ``start``, ``serve_rpc``, ``close``, and every
  handler: batches are delivered and RPCs answered on the loop. The outbox is a plain list: it has
  no lock, so it is the loop's alone.
* Any thread: ``write_now`` (one frame, written to the socket by the calling thread), ``reply`` and
  ``request_from_thread``. A user or executor thread writes the socket itself instead of handing
  the frame to the loop: that saves a hop (a loop wake-up, a thread switch) per result, which is
  most of a small task's round trip. Writers meet in ``_write_frame`` under ``_send_lock``: whole
  frames enter the write queue in one piece, so frames of two threads never interleave; bytes the
  socket does not take at once are left to the loop's writer callback (``add_writer`` is reached
  through ``call_soon_threadsafe`` from other threads).
* ``_pending_rpc`` (request id -> future) is filled by ``request`` on the loop and by
  ``request_from_thread`` on other threads, and emptied by a reply or ``close`` on the loop. It has
  no lock, and relies on this: each access is one ``dict`` set or ``pop`` of one id, atomic under the
  GIL, and ids come from ``itertools.count``, whose ``next`` is atomic too, so no two threads touch
  one entry but through ``pop``; whoever pops an entry settles its future (a reply, ``close``, or a
  ``request_from_thread`` whose write found the comm closed), so a future is settled once. ``close``
  sets ``closed`` before it walks a snapshot of the ids: a request entered after the snapshot finds
  ``closed`` set when it writes, and fails at once.

Limits
------
A frame may declare at most ``max_frame`` bytes (``$JUPYTER_FUTURES_MAX_FRAME``, default 4 GiB): a
larger one closes the connection, with one log line naming the peer, the size and the setting, and
a sender learns before sending (``FrameTooLarge``). Memory for a part is reserved as its bytes
arrive (``buffers.pool.take(lazy=True)`` past ``_EAGER``), not when its length is declared.

TLS
---
``tls://`` connections are ``tls.TlsComm``, a subclass chosen at connection setup
(``protocol/connect.py``): the plain-TCP path here has no TLS branch.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import pickle
import socket
import struct
import threading
from collections import deque
from typing import Any, Callable

from . import buffers
from .settings import from_environment
from .sizes import parse_memory

logger = logging.getLogger("jupyter_futures.protocol")

_U32 = struct.Struct("!I")
_STAGING = 1 << 18  # receive buffer for small parts
_DIRECT = 1 << 16  # parts at least this large are received into their own buffer
_MAX_PARTS = 1 << 20
_IOV_MAX = 512
MAX_FRAME_ENV = "JUPYTER_FUTURES_MAX_FRAME"
DEFAULT_MAX_FRAME = 4 << 30
_EAGER = 64 << 20  # larger parts get memory as their bytes arrive (buffers.populate), not up front


def max_frame_from_environment() -> int:
    """The largest frame a connection accepts or sends: ``$JUPYTER_FUTURES_MAX_FRAME`` ("2GB", "8GiB",
    bytes), else 4 GiB."""
    return from_environment(MAX_FRAME_ENV, _frame_limit, DEFAULT_MAX_FRAME, "8GB")


def _frame_limit(text: str) -> int:
    limit = parse_memory(text)
    if limit <= 0:
        raise ValueError("a frame limit must be a size above 0")
    return limit


class FrameTooLarge(ValueError):
    """A frame is over the connection's size limit (``$JUPYTER_FUTURES_MAX_FRAME``)."""


def _too_large_text(nbytes: int, limit: int) -> str:
    return (f"a frame of {nbytes} bytes, over the limit of {limit} bytes; raise it with "
            f"{MAX_FRAME_ENV} (e.g. {MAX_FRAME_ENV}=16GB) in the environment of every process of the cluster "
            f"(scheduler, workers, clients), or send the data in smaller pieces")


class CommClosedError(ConnectionError):
    """The connection is closed."""


class RemoteError(Exception):
    """An RPC handler failed on the other side; carries its message."""


class Comm:
    """One framed connection. ``handler(comm, msgs)`` receives each batch of messages."""

    _rpc_ids = itertools.count(1)
    max_frame = max_frame_from_environment()  # bytes a frame may declare, either way

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop, peer: str):
        self.sock = sock
        self.loop = loop
        self.peer = peer
        self.closed = False
        self.handler: Callable[[Comm, list], None] | None = None
        self.on_close: list[Callable[[Comm], None]] = []
        self.info: dict[str, Any] = {}
        self._fd = sock.fileno()
        self._outbox: list = []
        self._flush_scheduled = False
        self._wqueue: deque = deque()
        self._writing = False
        self._rbuf = bytearray(_STAGING)
        self._rview = memoryview(self._rbuf)
        self._rstart = 0
        self._rend = 0
        self._nparts = -1
        self._lengths: list[int] = []
        self._parts: list = []
        self._inbox: list = []
        self._direct = None  # the buffer (bytearray, mmap or a view of one) receiving one large part
        self._direct_pos = 0
        self._direct_ready = 0  # bytes of the large part's buffer known to be populated
        self._pending_rpc: dict[int, asyncio.Future] = {}
        self._rpc_handlers: dict[str, Callable] | None = None
        self._closed_future = loop.create_future()
        self._send_lock = threading.Lock()
        self._loop_thread = threading.get_ident()  # comms are made on their loop's thread

    # -- sending ------------------------------------------------------------
    def queue(self, msg: Any) -> None:
        """Queue one message (loop thread); all queued in this loop turn go out as one frame."""
        if self.closed:
            raise CommClosedError(f"connection to {self.peer} is closed")
        self._outbox.append(msg)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def flush(self) -> None:
        """Write everything queued now, as one frame, instead of at the end of this loop turn."""
        self._flush()

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self.closed or not self._outbox:
            return
        msgs, self._outbox = self._outbox, []
        try:
            self._write_frame(msgs)
        except FrameTooLarge as exc:
            self._fail_batch(msgs, exc)

    def _fail_batch(self, msgs: list, exc: FrameTooLarge) -> None:
        """A batch from the loop was too large to send: its requests fail here, its replies go as
        errors, the rest is dropped with an error in the log (no one waits on them)."""
        errors, dropped = [], 0
        for msg in msgs:
            kind = msg[0] if isinstance(msg, tuple) and msg else None
            if kind == "rpc":
                fut = self._pending_rpc.pop(msg[1], None)
                if fut is not None and not fut.done():
                    fut.set_exception(FrameTooLarge(str(exc)))
            elif kind == "rpc-reply":
                errors.append(("rpc-reply", msg[1], False, RemoteError(f"the reply was not sent: {exc}")))
            else:
                dropped += 1
        if dropped:
            logger.error("%d messages to %s were not sent: %s", dropped, self.peer, exc)
        if errors and not self.closed:
            self._write_frame(errors)

    def write_batch(self, msgs: list) -> None:
        """Write what ``queue`` queued, then ``msgs``, as one frame now (loop thread)."""
        if self.closed:
            raise CommClosedError(f"connection to {self.peer} is closed")
        if self._outbox:
            msgs, self._outbox = self._outbox + msgs, []
        self._write_frame(msgs)

    def write_now(self, msgs: list) -> None:
        """Write ``msgs`` as one frame right away; safe from any thread (no hop to the loop)."""
        if self.closed:
            raise CommClosedError(f"connection to {self.peer} is closed")
        self._write_frame(msgs)

    def _write_frame(self, msgs: list) -> None:
        buffers: list = []
        try:
            main = pickle.dumps(msgs, protocol=5, buffer_callback=buffers.append)
        except Exception as exc:  # a bug in the caller: never kill the connection silently
            logger.exception("could not encode messages for %s: %s", self.peer, exc)
            return
        raws = [b.raw() for b in buffers]
        nbytes = len(main) + sum(r.nbytes for r in raws) if raws else len(main)
        if nbytes > self.max_frame:
            raise FrameTooLarge(f"not sent to {self.peer}: {_too_large_text(nbytes, self.max_frame)}")
        header = struct.pack(f"!I{len(raws) + 1}Q", len(raws) + 1, len(main), *(r.nbytes for r in raws))
        parts = [memoryview(header), memoryview(main), *raws]
        with self._send_lock:  # never taken twice by one thread: nothing here runs user code
            self._wqueue.extend(parts)
            error = None if self._writing else self._write_locked()
        if error is not None:
            self._report_write_error(error)

    def _on_writable(self) -> None:
        with self._send_lock:
            error = self._write_locked()
        if error is not None:
            self._report_write_error(error)

    def _write_locked(self) -> OSError | None:
        """Send what the socket takes now (``_send_lock`` held); wait for writability for the rest."""
        q = self._wqueue
        try:
            while q:
                if len(q) == 1:
                    sent = self.sock.send(q[0])
                else:
                    sent = self.sock.sendmsg(list(itertools.islice(q, _IOV_MAX)))
                while sent:
                    head = q[0]
                    if sent >= head.nbytes:
                        sent -= head.nbytes
                        q.popleft()
                    else:
                        q[0] = head[sent:]
                        sent = 0
        except (BlockingIOError, InterruptedError):
            if not self._writing:
                self._writing = True
                self._in_loop(self.loop.add_writer, self._fd, self._on_writable)
            return None
        except OSError as exc:
            return exc
        if self._writing:
            self._writing = False
            self._in_loop(self.loop.remove_writer, self._fd)
        return None

    def _in_loop(self, fn: Callable, *args: Any) -> None:
        if threading.get_ident() == self._loop_thread:
            fn(*args)
        else:
            self.loop.call_soon_threadsafe(fn, *args)

    def _report_write_error(self, exc: OSError) -> None:
        self._in_loop(self._lost, exc)

    # -- receiving ----------------------------------------------------------
    def start(self, handler: Callable[[Comm, list], None]) -> None:
        """Begin delivering incoming message batches to ``handler``."""
        self.handler = handler
        self.loop.add_reader(self._fd, self._on_readable)
        if self._rend > self._rstart:
            self._parse()
            if self._inbox:
                self._deliver()

    def _on_readable(self) -> None:
        try:
            if self._direct is not None:
                if self._direct_pos >= self._direct_ready:
                    self._direct_ready += buffers.POPULATE_STEP
                    buffers.populate(self._direct, self._direct_pos, self._direct_ready - self._direct_pos)
                n = self.sock.recv_into(self._direct_view[self._direct_pos:])
                if n == 0:
                    return self._lost(None)
                self._direct_pos += n
                if self._direct_pos == len(self._direct):
                    self._direct_view.release()
                    self._parts.append(self._direct)
                    self._direct = None
                    self._parse()
                    if self._inbox and not self.closed:
                        self._deliver()
                return
            if self._rend == len(self._rbuf):
                self._compact()
            n = self.sock.recv_into(self._rview[self._rend:])
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            return self._lost(exc)
        except Exception as exc:  # a bug, or no memory: close once rather than fail on every read
            return self._broken(exc)
        if n == 0:
            return self._lost(None)
        self._rend += n
        self._parse()
        if self._inbox and not self.closed:
            self._deliver()

    def _compact(self) -> None:
        """Move unread bytes to the front of the staging buffer (growing it if needed)."""
        unread = self._rend - self._rstart
        need = unread + 1
        if self._lengths and len(self._parts) < self._nparts:
            need = max(need, self._lengths[len(self._parts)] + 1)
        if need > len(self._rbuf):
            new = bytearray(max(need, 2 * len(self._rbuf)))
            new[:unread] = self._rview[self._rstart:self._rend]
            self._rbuf = new
            self._rview = memoryview(new)
        else:
            self._rbuf[:unread] = self._rview[self._rstart:self._rend]
        self._rstart, self._rend = 0, unread

    def _take(self, n: int) -> memoryview | None:
        if self._rend - self._rstart < n:
            return None
        view = self._rview[self._rstart:self._rstart + n]
        self._rstart += n
        return view


    def _broken(self, exc: BaseException) -> None:
        logger.error("closing the connection to %s: %s: %s", self.peer, type(exc).__name__, exc)
        self.close()

    def _refuse_frame(self, nbytes: int) -> None:
        logger.warning("closing the connection to %s: it sent %s", self.peer, _too_large_text(nbytes, self.max_frame))
        self.close()

    def _parse(self) -> None:
        try:
            while not self.closed:
                if self._nparts < 0:
                    head = self._take(4)
                    if head is None:
                        break
                    self._nparts = _U32.unpack(head)[0]
                    if not 1 <= self._nparts <= _MAX_PARTS:
                        return self._lost(ValueError(f"malformed frame ({self._nparts} parts)"))
                    self._lengths = []
                if not self._lengths and self._nparts > 0:
                    lens = self._take(8 * self._nparts)
                    if lens is None:
                        break
                    self._lengths = list(struct.unpack(f"!{self._nparts}Q", lens))
                    self._parts = []
                    if sum(self._lengths) > self.max_frame:
                        return self._refuse_frame(sum(self._lengths))
                while len(self._parts) < self._nparts:
                    size = self._lengths[len(self._parts)]
                    avail = self._rend - self._rstart
                    if size >= _DIRECT and avail < size:
                        target = buffers.pool.take(size, lazy=size > _EAGER)
                        memoryview(target)[:avail] = self._rview[self._rstart:self._rend]
                        self._rstart = self._rend = 0
                        self._direct, self._direct_pos = target, avail
                        self._direct_ready = avail if size > _EAGER else size
                        self._direct_view = memoryview(target)
                        return
                    part = self._take(size)
                    if part is None:
                        return
                    self._parts.append(bytes(part) if size < _DIRECT else bytearray(part))
                parts, self._parts, self._nparts, self._lengths = self._parts, [], -1, []
                if self._rstart == self._rend:
                    self._rstart = self._rend = 0
                try:
                    self._inbox.extend(pickle.loads(parts[0], buffers=parts[1:]))
                except Exception as exc:
                    logger.warning("undecodable frame from %s, closing: %s", self.peer, exc)
                    return self._lost(exc)
        except Exception as exc:  # a bug, or no memory: close once rather than fail on every read
            self._broken(exc)

    def _deliver(self) -> None:
        """Hand every message of the frames completed by this read to the handler, as one batch."""
        msgs, self._inbox = self._inbox, []
        try:
            self.handler(self, msgs)
        except Exception:
            logger.exception("error handling messages from %s", self.peer)

    # -- request / reply ----------------------------------------------------
    async def request(self, op: str, *args: Any) -> Any:
        """Call ``op`` on the peer and wait for its reply (see ``serve_rpc``)."""
        rid = next(self._rpc_ids)
        fut = self.loop.create_future()
        self._pending_rpc[rid] = fut
        self.queue(("rpc", rid, op, args))
        return await fut

    def request_from_thread(self, op: str, *args: Any) -> concurrent.futures.Future:
        """Like ``request``, callable from any thread: sends at once, returns a thread-safe future."""
        rid = next(self._rpc_ids)
        fut: concurrent.futures.Future = concurrent.futures.Future()
        self._pending_rpc[rid] = fut
        try:
            self.write_now([("rpc", rid, op, args)])
        except CommClosedError as exc:
            if self._pending_rpc.pop(rid, None) is not None:  # else close() popped it and failed it
                fut.set_exception(exc)
        return fut

    def reply(self, rid: int, ok: bool, value: Any) -> None:
        """Answer request ``rid`` from any thread (for handlers that finish off the loop)."""
        try:
            self.write_now([("rpc-reply", rid, ok, value)])
        except CommClosedError:
            pass

    def handle_rpc_message(self, msg: tuple) -> bool:
        """Handle an ``rpc``/``rpc-reply`` message; False if ``msg`` is something else."""
        kind = msg[0]
        if kind == "rpc-reply":
            fut = self._pending_rpc.pop(msg[1], None)
            if fut is not None and not fut.done():
                if msg[2]:
                    fut.set_result(msg[3])
                else:
                    fut.set_exception(msg[3] if isinstance(msg[3], BaseException) else RemoteError(msg[3]))
            return True
        if kind == "rpc":
            self.loop.create_task(self._answer(msg[1], msg[2], msg[3]))
            return True
        return False

    def serve_rpc(self, handlers: dict[str, Callable]) -> None:
        """Answer ``request()`` calls from the peer with these handlers (sync or async)."""
        self._rpc_handlers = handlers

    async def _answer(self, rid: int, op: str, args: tuple) -> None:
        try:
            handler = (self._rpc_handlers or {}).get(op)
            if handler is None:
                raise RemoteError(f"unknown operation {op!r}")
            value = handler(self, *args)
            if asyncio.iscoroutine(value):
                value = await value
            reply = ("rpc-reply", rid, True, value)
        except Exception as exc:
            logger.debug("rpc %s from %s failed", op, self.peer, exc_info=True)
            reply = ("rpc-reply", rid, False, _portable_error(exc))
        if not self.closed:
            self.queue(reply)

    # -- closing ------------------------------------------------------------
    def _lost(self, exc: BaseException | None) -> None:
        if exc is not None and not isinstance(exc, (ConnectionResetError, BrokenPipeError)):
            logger.info("connection to %s lost: %s", self.peer, exc)
        self.close()

    def close(self) -> None:
        """Close the connection (idempotent); pending requests fail."""
        if self.closed:
            return
        if self._outbox and not self._writing:
            self._flush()
        self.closed = True
        try:
            self.loop.remove_reader(self._fd)
            if self._writing:
                self.loop.remove_writer(self._fd)
        except Exception:
            pass
        self._writing = True  # no more writes from other threads
        try:
            self.sock.close()
        except OSError:
            pass
        err = CommClosedError(f"connection to {self.peer} closed")
        for rid in list(self._pending_rpc):  # a snapshot: other threads may add ids (see Threads)
            fut = self._pending_rpc.pop(rid, None)
            if fut is not None and not fut.done():
                fut.set_exception(err)
        if not self._closed_future.done():
            self._closed_future.set_result(None)
        for cb in self.on_close:
            try:
                cb(self)
            except Exception:
                logger.exception("error in close callback for %s", self.peer)

    async def wait_closed(self) -> None:
        """Wait until the connection is closed."""
        await asyncio.shield(self._closed_future)


def _portable_error(exc: Exception) -> Exception:
    """The exception itself if it pickles, else a RemoteError with its text."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RemoteError(f"{type(exc).__name__}: {exc}")
