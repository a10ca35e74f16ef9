"""The bounded history of a state machine's keys, and what an impossible move does.

The scheduler's and each worker's state machine append one record per move of a key:
``(key, stimulus, start, finish, when)`` -- the event that caused it, the state before and
after, and the wall clock. An event that changed nothing because it came too late (a worker
reporting a task the scheduler cancelled meanwhile) is recorded too, with ``start == finish``
and a stimulus that says why it was ignored.

All keys share one ring of the last ``STORY_LENGTH`` records: memory stays bounded however
many tasks come and go, and a move costs one tuple and one append.
"""
from __future__ import annotations

import logging
import os
import time
from collections import deque
from typing import Iterable

from .settings import count, from_environment

STORY_LENGTH_ENV = "JUPYTER_FUTURES_STORY_LENGTH"


def length_from_environment(name: str, default: int) -> int:
    """A history's length (records) from environment variable ``name``, else ``default``."""
    return from_environment(name, count, default, "10000")


# Records kept per state machine (as dask's transition_log_length): ~10 MB when full.
STORY_LENGTH = length_from_environment(STORY_LENGTH_ENV, 100_000)
STRICT_ENV = "JUPYTER_FUTURES_STRICT"  # "1": an impossible move raises (the test suite sets it)

now = time.time


class InvalidTransition(RuntimeError):
    """A state machine was asked for a move its table does not allow: a bug in jupyter_futures."""


class Story:
    """The last ``length`` records of one state machine, every key in one ring, oldest first."""

    __slots__ = ("records", "append")

    def __init__(self, length: int = STORY_LENGTH):
        self.records: deque[tuple] = deque(maxlen=length)
        self.append = self.records.append  # one bound method: the per-move cost is this call

    def of(self, keys: Iterable[str]) -> list[tuple]:
        """The records of these keys, oldest first."""
        keys = set(keys)
        return [r for r in self.records if r[0] in keys]

    def text(self, key: str) -> str:
        """The records of ``key`` as lines for an error message."""
        lines = [f"  {_clock(when)}  {stimulus}: {start} -> {finish}"
                 for _, stimulus, start, finish, when in self.of([key])]
        return "\n".join(lines) if lines else "  (nothing recorded)"


def _clock(when: float) -> str:
    """``17:11:23.123`` of an epoch time."""
    return time.strftime("%H:%M:%S", time.localtime(when)) + f"{when % 1:.3f}"[1:]


def tee(append, also):
    """One ``append`` of a record that also hands it to ``also`` (a state machine's moves, watched)."""
    def both(record: tuple) -> None:
        append(record)
        also(record)
    return both


def legal_moves(transitions: dict[tuple[str, str], str]) -> dict[str, frozenset]:
    """A transitions table ``{(start, finish): why}`` as ``{start: the states it may move to}``."""
    moves: dict[str, set] = {}
    for start, finish in transitions:
        moves.setdefault(start, set()).add(finish)
        moves.setdefault(finish, set())
    return {state: frozenset(finishes) for state, finishes in moves.items()}


def strict() -> bool:
    """Whether an impossible move raises (tests) rather than logs (production). Read only on such a
    move, so the environment may change it at any time."""
    return os.environ.get(STRICT_ENV, "") not in ("", "0")


def impossible(logger: logging.Logger, story: Story, what: str, key: str, start: str, finish: str,
               stimulus: str) -> None:
    """``what`` (a scheduler task, a worker task) was asked to move from ``start`` to ``finish``, which
    its table forbids: raise ``InvalidTransition`` under ``JUPYTER_FUTURES_STRICT=1``, else log a
    warning. Either way the message carries the key's story."""
    message = (f"impossible move of {what} {key!r}: {start} -> {finish} (stimulus {stimulus!r}); "
               f"its story:\n{story.text(key)}")
    if strict():
        raise InvalidTransition(message)
    logger.warning("%s", message)
