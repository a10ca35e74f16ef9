"""Addresses of schedulers and workers: ``tcp://host:port``, or ``tls://host:port`` for TLS."""
from __future__ import annotations

SCHEMES = ("tcp", "tls")


def parse_address(address: str) -> tuple[str, int]:
    """``tcp://host:port``, ``tls://host:port`` or ``host:port`` -> (host, port), with a clear error."""
    addr = address
    if "://" in addr:
        scheme, addr = addr.split("://", 1)
        if scheme not in SCHEMES:
            raise ValueError(f"unsupported address scheme {scheme!r} in {address!r}: use tcp://host:port "
                             f"(or tls://host:port for a cluster that uses TLS)")
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"bad address {address!r}: expected 'tcp://host:port', 'tls://host:port' or 'host:port'")
    return host.strip("[]") or "127.0.0.1", int(port)


def address_scheme(address: str) -> str:
    """``"tls"`` for a ``tls://`` address, else ``"tcp"``."""
    return "tls" if address.startswith("tls://") else "tcp"


def format_address(host: str, port: int, scheme: str = "tcp") -> str:
    """(host, port) -> ``tcp://host:port`` (or ``tls://...``)."""
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"
