"""The garbage collector's pace in the cluster's own processes (scheduler and workers).

Each task makes a few short-lived containers (messages, records, states). With CPython's default
threshold (a young collection every 700 net allocations) the collector ran every few tasks and
took ~15 % of the scheduler's time per task. Young collections every 20,000 allocations, and the
process's start-up objects frozen out of every collection, make that a few percent; cyclic garbage
still goes within milliseconds. User code in a client's process is never touched.
"""
from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000  # net allocations between young collections (CPython's default: 700)


def pace_for_a_server() -> None:
    """Collect less often, and never scan what exists once the process has started."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
    gc.freeze()
