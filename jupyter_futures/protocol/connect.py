"""Opening connections: ``connect`` (a client's side: TCP or TLS, then the token handshake) and
``Listener`` (a server's side: accept, TLS if configured, the token handshake), each handing over a
``Comm`` (``protocol/comm.py``) or, for ``tls://``, a ``TlsComm`` (``protocol/tls.py``)."""
from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from functools import partial
from typing import Any, Awaitable, Callable

from . import auth, tls
from .address import address_scheme, format_address, parse_address
from .comm import Comm

logger = logging.getLogger("jupyter_futures.protocol")

HANDSHAKE_TIMEOUT = 10.0


def _tune(sock: socket.socket) -> None:
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def _recv_exactly(loop, sock, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = await loop.sock_recv(sock, n - len(data))
        if not chunk:
            raise ConnectionError("connection closed during handshake")
        data += chunk
    return bytes(data)


async def connect(address: str, token: str, timeout: float = 10.0, security=None, role: str = "client") -> Comm:
    """Open an authenticated connection to ``address``, with errors that say what to do. A ``tls://``
    address is reached over TLS with ``security`` (a ``security.Security``) presenting ``role``'s
    certificate; a ``Security`` with ``require_encryption`` refuses ``tcp://``."""
    loop = asyncio.get_running_loop()
    host, port = parse_address(address)
    context = _client_context(address, security, role)
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, _, _, _, sockaddr = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        _tune(sock)
    except OSError as exc:
        raise OSError(f"cannot resolve scheduler address {address!r}: {exc}") from None
    try:
        async with asyncio.timeout(timeout):
            await loop.sock_connect(sock, sockaddr)
            if context is None:
                await _client_token(token, partial(_recv_exactly, loop, sock), partial(loop.sock_sendall, sock))
            else:
                sock = await _client_tls(loop, sock, context, token, address)
    except (TimeoutError, asyncio.TimeoutError):
        sock.close()
        raise OSError(
            f"timed out after {timeout:g} s connecting to {address}: is a jupyter_futures scheduler running there?"
        ) from None
    except ConnectionRefusedError:
        sock.close()
        raise OSError(f"nothing listens at {address} (connection refused): is the scheduler running?") from None
    except auth.AuthenticationError as exc:
        sock.close()
        raise auth.AuthenticationError(f"{address}: {exc}") from None
    except ssl.SSLError as exc:
        sock.close()
        raise auth.AuthenticationError(tls.describe_failure(exc, address)) from None
    except ConnectionError as exc:
        sock.close()
        raise auth.AuthenticationError(
            f"{address} closed the connection during the handshake: wrong cluster token? "
            f"Set ${auth.TOKEN_ENV} to the scheduler's token ({exc})"
        ) from None
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot connect to {address}: {exc}") from None
    return Comm(sock, loop, address) if context is None else tls.TlsComm(sock, loop, address)


def _client_context(address: str, security, role: str):
    """The SSL context for a connection to ``address`` (None: plain TCP)."""
    if address_scheme(address) == "tls":
        if security is None:
            from .security import Security

            security = Security()  # the system's trusted authorities verify the server
        return security.client_context(role)
    if security is not None and security.require_encryption:
        host, port = parse_address(address)
        raise ValueError(f"{address}: this Security requires encryption, so not tcp://: connect to "
                         f"{format_address(host, port, 'tls')} (a cluster started with TLS certificates)")
    return None


async def _client_token(token: str, recv_exactly, sendall) -> None:
    """The client's side of the token handshake (``auth``)."""
    hello = await recv_exactly(auth.HELLO_SIZE)
    reply, snonce, cnonce = auth.client_reply(token, hello)
    await sendall(reply)
    proof = await recv_exactly(auth.MAC_SIZE)
    auth.client_check(token, snonce, cnonce, proof)


async def _client_tls(loop, sock, context, token: str, address: str):
    """TLS, then the token inside it; returns the TLS socket."""
    greeting = await _recv_exactly(loop, sock, auth.HELLO_SIZE)
    if greeting != auth.TLS_GREETING:
        host, port = parse_address(address)
        raise auth.AuthenticationError(f"the server does not use TLS: connect to {format_address(host, port)}, or "
                                       f"start it with TLS certificates (--tls-cert/--tls-key)")
    sock = await tls.handshake(loop, sock, context, server=False)
    try:
        await _client_token(token, *tls.io_functions(loop, sock))
    except BaseException:
        sock.close()
        raise
    return sock


async def cached_connection(comms: dict[str, Comm], locks: dict[str, asyncio.Lock], address: str,
                            open_comm: Callable[[str], Awaitable[Comm]]) -> Comm:
    """The open connection to ``address`` in ``comms``, else a new one from ``open_comm(address)``,
    stored there. Callers asking for the same address at once share one attempt (a lock per
    address in ``locks``)."""
    comm = comms.get(address)
    if comm is not None and not comm.closed:
        return comm
    async with locks.setdefault(address, asyncio.Lock()):
        comm = comms.get(address)
        if comm is None or comm.closed:
            comm = comms[address] = await open_comm(address)
    return comm


async def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) and listening (port 0: any free port)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)
    family, _, _, _, sockaddr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(sockaddr)
    sock.listen(1024)
    return sock


async def probe(address: str, timeout: float) -> None:
    """Raise the same clear OSError as ``connect`` if nothing accepts TCP connections at ``address``."""
    host, port = parse_address(address)
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except (TimeoutError, asyncio.TimeoutError):
        raise OSError(f"timed out after {timeout:g} s connecting to {address}: is a jupyter_futures scheduler "
                      f"running there?") from None
    except ConnectionRefusedError:
        raise OSError(f"nothing listens at {address} (connection refused): is the scheduler running?") from None
    except OSError as exc:
        raise OSError(f"cannot connect to {address}: {exc}") from None
    writer.close()


class Listener:
    """Accepts connections, authenticates them, and hands each ``Comm`` to ``on_comm``."""

    def __init__(self, host: str, port: int, token: str, on_comm: Callable[[Comm], Any], name: str = "server",
                 sock: socket.socket | None = None, ssl_context: ssl.SSLContext | None = None):
        self.host, self.port, self.token, self.on_comm, self.name = host, port, token, on_comm, name
        self.ssl_context = ssl_context  # None: plain TCP
        self.sock: socket.socket | None = sock
        self.loop: asyncio.AbstractEventLoop | None = None
        self._handshakes: set[asyncio.Task] = set()
        self.refused = 0

    async def start(self) -> None:
        """Bind and start accepting."""
        self.loop = asyncio.get_running_loop()
        if self.sock is None:
            self.sock = await listening_socket(self.host, self.port)
        sock = self.sock
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self.loop.add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        for _ in range(64):
            try:
                conn, peer = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                logger.warning("%s: accept failed: %s", self.name, exc)
                return
            _tune(conn)
            task = self.loop.create_task(self._handshake(conn, peer))
            self._handshakes.add(task)
            task.add_done_callback(self._handshakes.discard)

    async def _handshake(self, sock: socket.socket, peer) -> None:
        peer_text = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        comm_type = Comm
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                recv_exactly, sendall = partial(_recv_exactly, self.loop, sock), partial(self.loop.sock_sendall, sock)
                if self.ssl_context is not None:
                    await sendall(auth.TLS_GREETING)
                    sock = await tls.handshake(self.loop, sock, self.ssl_context, server=True)
                    recv_exactly, sendall = tls.io_functions(self.loop, sock)
                    comm_type = tls.TlsComm
                hello, snonce = auth.server_hello()
                await sendall(hello)
                reply = await recv_exactly(auth.REPLY_SIZE)
                proof = auth.server_check(self.token, snonce, reply)
                await sendall(proof)
        except (auth.AuthenticationError, ConnectionError, TimeoutError, asyncio.TimeoutError, OSError) as exc:
            self.refused += 1
            if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
                reason = "handshake timed out"
            elif isinstance(exc, ssl.SSLError):
                reason = f"TLS handshake failed: {exc.reason or exc}"
            else:
                reason = str(exc)
            logger.warning("%s refused a connection from %s: %s", self.name, peer_text, reason)
            sock.close()
            return
        comm = comm_type(sock, self.loop, peer_text)
        try:
            result = self.on_comm(comm)
            if asyncio.iscoroutine(result):
                await result
        except Exception:
            logger.exception("%s: error setting up connection from %s", self.name, peer_text)
            comm.close()

    def stop(self) -> None:
        """Stop accepting (open connections stay open)."""
        if self.sock is not None:
            try:
                self.loop.remove_reader(self.sock.fileno())
            except Exception:
                pass
            self.sock.close()
            self.sock = None
        for task in list(self._handshakes):
            task.cancel()
