"""Raw sockets that speak the cluster's wire protocol by hand: the token handshake, then frames as
``comm.py`` lays them out (``u32 nparts``, ``u64`` length per part, the parts)."""
import pickle
import socket
import struct

from jupyter_futures.protocol import auth
from jupyter_futures.protocol.address import parse_address


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def authenticated_socket(address: str, token: str, timeout: float = 10.0) -> socket.socket:
    """A blocking socket to ``address`` that completed the token handshake."""
    sock = socket.create_connection(parse_address(address), timeout=timeout)
    hello = recv_exactly(sock, auth.HELLO_SIZE)
    reply, server_nonce, client_nonce = auth.client_reply(token, hello)
    sock.sendall(reply)
    auth.client_check(token, server_nonce, client_nonce, recv_exactly(sock, auth.MAC_SIZE))
    return sock


def frame(msgs) -> bytes:
    """One frame holding the batch ``msgs`` (in-band pickle only)."""
    body = pickle.dumps(msgs, protocol=5)
    return struct.pack("!IQ", 1, len(body)) + body


def closed_by_peer(sock: socket.socket) -> bool:
    """True once the other side closed (a read gives EOF or a reset), reading and dropping what it sent."""
    try:
        while True:
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
