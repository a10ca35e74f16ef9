"""Lifelines: a socket pair between a parent and a child process.

When either process dies, for whatever reason (SIGKILL included), the kernel
closes its end and the other end reads EOF. Children exit when their parent is
gone, and parents learn at once that a child died: no polling, no stray processes.
"""
from __future__ import annotations

import asyncio
import os
import socket
from typing import Callable

LIFELINE_ENV = "JUPYTER_FUTURES_LIFELINE_FD"


def make_pair() -> tuple[socket.socket, socket.socket]:
    """(parent end, child end); pass ``child_end.fileno()`` to the child with ``pass_fds``."""
    parent, child = socket.socketpair()
    parent.setblocking(False)
    return parent, child


def watch(loop: asyncio.AbstractEventLoop, sock: socket.socket, on_eof: Callable[[], None],
          on_data: Callable[[bytes], None] | None = None) -> None:
    """Call ``on_eof`` on ``loop`` when the other end of ``sock`` closes (``on_data`` for notes sent)."""
    sock.setblocking(False)

    def readable() -> None:
        try:
            data = sock.recv(64)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(sock.fileno())
            on_eof()
        elif on_data is not None:
            on_data(data)

    loop.add_reader(sock.fileno(), readable)


CLEAN_EXIT = b"bye"
RESTART = b"again"  # a deliberate exit, to be started again at once (Client.restart)
READY = b"ready "  # + the worker's address + b"\n": it started and the scheduler accepted it


def watch_parent(loop: asyncio.AbstractEventLoop, fd: int | None) -> socket.socket | None:
    """In a child: exit at once when the parent holding the other end dies; returns the lifeline."""
    if fd is None:
        return None
    sock = socket.socket(fileno=fd)
    watch(loop, sock, lambda: os._exit(0))
    return sock


def say_ready(sock: socket.socket | None, address: str) -> None:
    """In a child: tell the parent it is up (a worker: registered with the scheduler, at ``address``);
    a death after this is not a failure to start."""
    if sock is not None:
        try:
            sock.setblocking(True)
            sock.sendall(READY + address.encode() + b"\n")
        except OSError:
            pass
        finally:
            sock.setblocking(False)


def ready_address(notes: bytes) -> str | None:
    """The address in a ``READY`` note among ``notes`` (all bytes received so far), once complete."""
    start = notes.find(READY)
    if start < 0:
        return None
    end = notes.find(b"\n", start)
    return notes[start + len(READY):end].decode() if end >= 0 else None


def say_clean_exit(sock: socket.socket | None, note: bytes = CLEAN_EXIT) -> None:
    """In a child: tell the parent this exit is deliberate: do not restart me (``CLEAN_EXIT``), or
    start me again now (``RESTART``)."""
    if sock is not None:
        try:
            sock.setblocking(True)
            sock.sendall(note)
        except OSError:
            pass
