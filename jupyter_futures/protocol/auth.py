"""The handshake every connection starts with: mutual proof of the cluster token.

Nothing is unpickled before it succeeds. The token itself never crosses the
wire; each side proves it knows the token with an HMAC over two fresh nonces:

1. server -> client: MAGIC + server nonce
2. client -> server: MAGIC + client nonce + HMAC(token, "c" + nonces)
3. server -> client: HMAC(token, "s" + nonces)
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from .address import format_address, parse_address

MAGIC = b"JFUTv001"
NONCE_SIZE = 16
MAC_SIZE = 32
HELLO_SIZE = len(MAGIC) + NONCE_SIZE
REPLY_SIZE = len(MAGIC) + NONCE_SIZE + MAC_SIZE
TOKEN_ENV = "JUPYTER_FUTURES_TOKEN"
TOKEN_FILE_ENV = "JUPYTER_FUTURES_TOKEN_FILE"
# What a TLS listener sends in clear before the TLS handshake, in place of the greeting: a peer
# that expected no TLS learns why it is refused, and a TLS client refuses a server without it.
TLS_GREETING = b"JFUTtls1" + bytes(NONCE_SIZE)


class AuthenticationError(ConnectionError):
    """The peer did not prove it holds the cluster token."""


def new_token() -> str:
    """A fresh random cluster token."""
    return secrets.token_hex(32)


def default_token_file() -> str:
    """Where a scheduler writes its token and where workers and clients look for it."""
    return os.environ.get(TOKEN_FILE_ENV) or os.path.join(os.path.expanduser("~"), ".jupyter_futures", "token")


def write_token_file(token: str, path: str | None = None) -> str:
    """Write ``token`` to ``path`` readable by the owner only (mode 0600); return the path."""
    path = path or default_token_file()
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT: fix it before writing
    with os.fdopen(fd, "w") as f:
        f.write(token)
    return path


# Tokens of clusters started by this process, by scheduler address.
_local_tokens: dict[str, str] = {}


def remember_token(address: str, token: str) -> None:
    """Let clients in this process connect to ``address`` without being told its token."""
    _local_tokens[_key(address)] = token


def forget_token(address: str) -> None:
    """The cluster at ``address`` stopped: its port may serve another cluster next."""
    _local_tokens.pop(_key(address), None)


def _key(address: str) -> str:
    return format_address(*parse_address(address))  # tcp:// and tls:// name the same port


def find_token(token: str | None = None, address: str | None = None) -> str:
    """The token to use: explicit, a cluster this process started, ``$JUPYTER_FUTURES_TOKEN``, the record
    of a scheduler on this machine (``registry.py``), the token file."""
    if token:
        return token
    if address is not None:
        known = _local_tokens.get(_key(address))
        if known:
            return known
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV]
    if address is not None:
        from . import registry

        record = registry.find_by_address(address)
        if record is not None:
            return record["token"]
    path = default_token_file()
    try:
        with open(path) as f:
            found = f.read().strip()
    except OSError:
        found = ""
    if not found:
        raise AuthenticationError(
            f"no cluster token: set ${TOKEN_ENV}, or pass token=..., or make the scheduler's "
            f"token file readable at {path} (the scheduler writes it when it starts)"
        )
    return found


def _mac(token: str, tag: bytes, server_nonce: bytes, client_nonce: bytes) -> bytes:
    return hmac.new(token.encode(), tag + server_nonce + client_nonce, hashlib.sha256).digest()


def server_hello() -> tuple[bytes, bytes]:
    """Message 1: returns (bytes to send, server nonce)."""
    nonce = os.urandom(NONCE_SIZE)
    return MAGIC + nonce, nonce


def client_reply(token: str, hello: bytes) -> tuple[bytes, bytes, bytes]:
    """Message 2 from message 1: returns (bytes to send, server nonce, client nonce)."""
    if hello == TLS_GREETING:
        raise AuthenticationError("the server uses TLS: connect to its tls://host:port address with "
                                  "security=Security(tls_ca_file=..., tls_client_cert=..., tls_client_key=...)")
    if len(hello) != HELLO_SIZE or not hello.startswith(MAGIC):
        raise AuthenticationError("the peer is not a jupyter_futures server (bad greeting): check the port")
    server_nonce = hello[len(MAGIC):]
    client_nonce = os.urandom(NONCE_SIZE)
    return MAGIC + client_nonce + _mac(token, b"c", server_nonce, client_nonce), server_nonce, client_nonce


def server_check(token: str, server_nonce: bytes, reply: bytes) -> bytes:
    """Check message 2; return message 3 or raise ``AuthenticationError``."""
    if len(reply) != REPLY_SIZE or not reply.startswith(MAGIC):
        raise AuthenticationError("malformed handshake (not a jupyter_futures peer)")
    client_nonce = reply[len(MAGIC):len(MAGIC) + NONCE_SIZE]
    mac = reply[len(MAGIC) + NONCE_SIZE:]
    if not hmac.compare_digest(mac, _mac(token, b"c", server_nonce, client_nonce)):
        raise AuthenticationError("wrong cluster token")
    return _mac(token, b"s", server_nonce, client_nonce)


def client_check(token: str, server_nonce: bytes, client_nonce: bytes, proof: bytes) -> None:
    """Check message 3: the server knows the token too."""
    if not hmac.compare_digest(proof, _mac(token, b"s", server_nonce, client_nonce)):
        raise AuthenticationError(f"the server does not hold this cluster's token: set ${TOKEN_ENV} to the "
                                  f"scheduler's token (its token file holds it)")
