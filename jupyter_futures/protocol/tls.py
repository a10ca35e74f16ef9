"""TLS connections: ``TlsComm`` (a ``Comm`` over an ``ssl.SSLSocket``) and the non-blocking TLS
handshake. A connection is TLS or not from its setup (``connect.connect``, ``connect.Listener``), so the
plain-TCP path never tests for TLS.

A TLS listener first sends ``auth.TLS_GREETING`` in clear, then runs the TLS handshake, then the token
handshake inside TLS. A client that expected no TLS reads the greeting and says the server wants
TLS; a TLS client that reads the plain greeting refuses the server.
"""
from __future__ import annotations

import asyncio
import ssl

from .comm import Comm

_WOULD_BLOCK = (ssl.SSLWantReadError, ssl.SSLWantWriteError)
_COALESCE = 1 << 16  # small parts (a header, a pickle) go out as one TLS write, as sendmsg would send them
_WRITE_MAX = 1 << 30  # bytes handed to one TLS write
_READS_PER_TURN = 64  # TLS records read per loop turn before other connections get a turn


class _TlsSocket:
    """An ``SSLSocket`` as ``Comm`` drives a socket: "would block" is ``BlockingIOError``, ``sendmsg``
    sends what one TLS write takes, and reads hold the comm's send lock, since one SSL object must not
    read in one thread while another thread writes."""

    def __init__(self, sock: ssl.SSLSocket, lock):
        self._sock = sock
        self._lock = lock
        self.blocked = False  # the last read found no data

    def recv_into(self, buf) -> int:
        """Read decrypted bytes into ``buf``."""
        with self._lock:
            try:
                return self._sock.recv_into(buf)
            except _WOULD_BLOCK:
                self.blocked = True
                raise BlockingIOError from None

    def send(self, data) -> int:
        """Encrypt and send part of ``data``; how many bytes went."""
        try:
            return self._sock.send(data if data.nbytes <= _WRITE_MAX else data[:_WRITE_MAX])
        except _WOULD_BLOCK:
            raise BlockingIOError from None

    def sendmsg(self, parts: list) -> int:
        """Send the leading small parts as one write (or the first part, if large)."""
        if parts[0].nbytes >= _COALESCE:
            return self.send(parts[0])
        chunk, total = [], 0
        for part in parts:  # always the same leading parts for the same queue: a retried TLS write must be
            if total + part.nbytes > _COALESCE:  # given at least the bytes of the write that would block
                break
            chunk.append(part)
            total += part.nbytes
        return self.send(memoryview(b"".join(chunk)))

    def pending(self) -> int:
        """Decrypted bytes already read from the socket and not yet returned."""
        return self._sock.pending()

    def fileno(self) -> int:
        """The socket's file descriptor."""
        return self._sock.fileno()

    def close(self) -> None:
        """Close the socket."""
        self._sock.close()

    def __getattr__(self, name):
        return getattr(self._sock, name)


class TlsComm(Comm):
    """A ``Comm`` over TLS. The reader also drains what the SSL object holds already decrypted: the
    event loop cannot see those bytes, only the socket's."""

    def __init__(self, sock: ssl.SSLSocket, loop: asyncio.AbstractEventLoop, peer: str):
        super().__init__(sock, loop, peer)
        self.sock = _TlsSocket(sock, self._send_lock)

    def start(self, handler) -> None:
        """Begin delivering incoming message batches to ``handler``."""
        super().start(handler)
        if not self.closed and self.sock.pending():
            self.loop.call_soon(self._on_readable)

    def _on_readable(self) -> None:
        sock = self.sock
        for _ in range(_READS_PER_TURN):
            sock.blocked = False
            Comm._on_readable(self)
            if sock.blocked or self.closed:
                return
        if sock.pending():
            self.loop.call_soon(self._on_readable)


async def _ready(loop: asyncio.AbstractEventLoop, fd: int, write: bool) -> None:
    fut = loop.create_future()
    add, remove = (loop.add_writer, loop.remove_writer) if write else (loop.add_reader, loop.remove_reader)
    add(fd, lambda: fut.done() or fut.set_result(None))
    try:
        await fut
    finally:
        remove(fd)


async def _retry(loop: asyncio.AbstractEventLoop, sock: ssl.SSLSocket, op, *args):
    """``op(*args)`` on a non-blocking SSL socket, waiting for the socket as long as TLS asks to."""
    while True:
        try:
            return op(*args)
        except ssl.SSLWantReadError:
            await _ready(loop, sock.fileno(), False)
        except ssl.SSLWantWriteError:
            await _ready(loop, sock.fileno(), True)


async def handshake(loop: asyncio.AbstractEventLoop, sock, context: ssl.SSLContext, server: bool) -> ssl.SSLSocket:
    """Wrap the connected non-blocking ``sock`` in TLS and complete the TLS handshake."""
    ssock = context.wrap_socket(sock, server_side=server, do_handshake_on_connect=False)
    try:
        await _retry(loop, ssock, ssock.do_handshake)
    except BaseException:
        ssock.close()
        raise
    return ssock


def io_functions(loop: asyncio.AbstractEventLoop, sock: ssl.SSLSocket):
    """(recv_exactly(n), sendall(data)) coroutines over a TLS socket, for the token handshake."""
    async def recv_exactly(n: int) -> bytes:
        data = bytearray()
        while len(data) < n:
            chunk = await _retry(loop, sock, sock.recv, n - len(data))
            if not chunk:
                raise ConnectionError("connection closed during handshake")
            data += chunk
        return bytes(data)

    async def sendall(data: bytes) -> None:
        view = memoryview(data)
        while view.nbytes:
            view = view[await _retry(loop, sock, sock.send, view):]

    return recv_exactly, sendall


def describe_failure(exc: ssl.SSLError, address: str) -> str:
    """What a failed TLS connection to ``address`` means, and what to do."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"{address}: its TLS certificate is not trusted ({exc.verify_message}): pass the cluster's CA, "
                f"security=Security(tls_ca_file=...)")
    reason = exc.reason or str(exc)
    if "ALERT" in reason.upper() or "CERTIFICATE" in reason.upper():
        return (f"{address} refused this connection's TLS certificate ({reason}): present one signed by the "
                f"cluster's CA, security=Security(tls_client_cert=..., tls_client_key=...)")
    return f"TLS with {address} failed: {reason}"
