"""Scheduler files, as dask's: a JSON file naming a running scheduler's address, written by the
scheduler (``--scheduler-file``) or a client (``write_scheduler_file``), read by workers and clients
started elsewhere (batch jobs on a shared file system). The token is not in it: it comes from the
token file or ``$JUPYTER_FUTURES_TOKEN`` as for any address."""
from __future__ import annotations

import json
import os
import time

POLL = 0.1  # seconds between looks for a file that a scheduler starting elsewhere has not written yet


def write(path: str, identity: dict) -> None:
    """Write the scheduler ``identity`` (``id``, ``address``, ``dashboard``...) to ``path``, in one piece."""
    record = {"type": "Scheduler", "id": identity.get("id"), "address": identity["address"],
              "services": {"dashboard": identity.get("dashboard")}, "started": identity.get("started", time.time()),
              "workers": {}}
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    partial = f"{path}.{os.getpid()}.tmp"
    with open(partial, "w") as f:
        json.dump(record, f, indent=2)
    os.replace(partial, path)  # readers never see half a file


def read_address(path: str, timeout: float | None = 10.0) -> str:
    """The scheduler address in the scheduler file ``path``, waiting up to ``timeout`` seconds for it to
    appear (a scheduler started at the same time may not have written it yet)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            with open(path) as f:
                return json.load(f)["address"]
        except FileNotFoundError:
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"no scheduler file at {path} after {timeout:g} s: start the scheduler with "
                                   f"`jupyter-futures scheduler --scheduler-file {path}`, or check the path") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path} is not a scheduler file ({exc}): it must be the JSON a scheduler wrote "
                             f"with --scheduler-file") from None
        time.sleep(POLL)
