"""Addresses of schedulers and workers: ``tcp://host:port``."""
from __future__ import annotations


def parse_address(address: str) -> tuple[str, int]:
    """``tcp://host:port`` or ``host:port`` -> (host, port), with a clear error."""
    addr = address
    if "://" in addr:
        scheme, addr = addr.split("://", 1)
        if scheme != "tcp":
            raise ValueError(f"unsupported address scheme {scheme!r} in {address!r}: use tcp://host:port")
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"bad address {address!r}: expected 'tcp://host:port' or 'host:port'")
    return host.strip("[]") or "127.0.0.1", int(port)


def format_address(host: str, port: int) -> str:
    """(host, port) -> ``tcp://host:port``."""
    if ":" in host:
        host = f"[{host}]"
    return f"tcp://{host}:{port}"
