"""Why a worker process ended, in words: what its nanny tells the scheduler, and the scheduler the user.

Each reason completes the sentence "the worker ...", e.g. "was killed by signal SIGSEGV".
"""
from __future__ import annotations

import signal

import psutil

_SIGNAL_HINTS = {
    "SIGSEGV": "a segmentation fault in compiled code",
    "SIGBUS": "a bus error in compiled code",
    "SIGABRT": "an abort, e.g. a failed assertion in compiled code",
    "SIGILL": "an illegal instruction in compiled code",
    "SIGFPE": "an arithmetic error in compiled code",
}


def signal_name(number: int) -> str:
    """``SIGSEGV`` for 11; ``signal 77`` for a number with no name."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def exit_reason(returncode: int, last_rss: int = 0, memory_limit: int = 0, near: float = 0.8) -> str:
    """Why a process that ended with ``returncode`` (``Popen.returncode``: < 0 for a signal) died, when
    its nanny did not kill it. A SIGKILL nobody here sent while the process used more than ``near`` of its
    memory limit (or the machine was out of memory) was most likely the kernel's out-of-memory killer."""
    if returncode >= 0:
        return f"exited with code {returncode}"
    name = signal_name(-returncode)
    if name == "SIGKILL":
        mb = 2**20
        if memory_limit and last_rss > near * memory_limit:
            return (f"was killed by signal SIGKILL, not sent by its nanny, while it used {last_rss // mb} MB of its "
                    f"{memory_limit // mb} MB memory limit: probably by the system's out-of-memory killer "
                    f"(out of memory)")
        if psutil.virtual_memory().percent > 95:
            return ("was killed by signal SIGKILL, not sent by its nanny, while the machine was out of memory: "
                    "probably by the system's out-of-memory killer")
    hint = _SIGNAL_HINTS.get(name)
    return f"was killed by signal {name}" + (f": {hint}" if hint else "")


def memory_kill_reason(rss: int, share: float, memory_limit: int) -> str:
    """Why a nanny killed its worker for using too much memory."""
    mb = 2**20
    return (f"was killed by its nanny for using too much memory: {rss // mb} MB, over {share:.0%} of its "
            f"memory limit of {memory_limit // mb} MB")
