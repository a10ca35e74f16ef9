"""Exceptions that cross process boundaries and that users may catch."""
from __future__ import annotations

import concurrent.futures


class KilledWorker(Exception):
    """A task was running on several workers that all died while running it."""


class LostDependency(Exception):
    """A task's input is gone and cannot be recomputed."""


class FutureCancelledError(concurrent.futures.CancelledError):
    """The future was cancelled (``client.cancel`` or ``future.cancel()``)."""


Cancelled = FutureCancelledError


class FutureLostError(Exception):
    """The future's data was lost with its worker and cannot be recomputed."""


class Reschedule(Exception):
    """Raised by a task: stop it and have the scheduler run it again, on another worker when one may
    run it (as dask's ``Reschedule``; it is not an error and counts against no retries)."""
