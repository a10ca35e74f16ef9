"""Small timing helpers shared by the workload modules."""

import statistics
import time


def median(values):
    """Return the median of a non-empty sequence of numbers."""
    return statistics.median(values)


def repeat_timed(fn, repeats):
    """Call ``fn()`` ``repeats`` times; return the list of wall times in seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def warm_then_timed(fn, repeats, before=None):
    """One call of ``fn`` left out of the figure (the first touch of fresh memory), then ``repeats``
    timed ones, each after an untimed ``before()`` if given; return (first call's seconds, timed seconds)."""
    times = []
    for _ in range(repeats + 1):
        if before is not None:
            before()
        times += repeat_timed(fn, 1)
    return times[0], times[1:]


def result(value, unit, **extra):
    """Build the dict a workload returns: its headline figure plus details."""
    return {"value": value, "unit": unit, "extra": extra}
