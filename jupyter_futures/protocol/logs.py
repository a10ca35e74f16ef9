"""Logging set-up for the scheduler and worker processes."""
from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"


def configure(level: str) -> None:
    """Log to stderr at ``level`` (a name such as "WARNING")."""
    logging.basicConfig(level=level.upper(), stream=sys.stderr, format=FORMAT)
