"""``with get_task_stream() as ts:``: the tasks that ran inside a block of code, as dask's."""
from __future__ import annotations

import time
from typing import Any

from .current import default_client


class TaskStream:
    """Collects, when its block ends, the records of the tasks that ran during it (``data``: dicts with
    key, worker, start, stop and status, as ``client.get_task_stream`` returns them)."""

    def __init__(self, client: Any = None):
        self.client = default_client(client)
        self.data: list[dict] = []
        self.start: float | None = None

    def __enter__(self) -> TaskStream:
        self.start = time.time()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.data.extend(self.client.get_task_stream(start=self.start, stop=time.time()))

    async def __aenter__(self) -> TaskStream:
        return self.__enter__()

    async def __aexit__(self, *exc: Any) -> None:
        records = await self.client.get_task_stream(start=self.start, stop=time.time())
        self.data.extend(records)


def get_task_stream(client: Any = None, plot: bool | str = False, filename: str | None = None) -> TaskStream:
    """A context manager that collects the task stream of its block (``ts.data`` afterwards)."""
    if plot or filename:
        raise ValueError("get_task_stream(plot=..., filename=...) draws with bokeh in dask; here the task stream "
                         "is drawn by the dashboard (the Jupyter sidebar's Task stream pane, or "
                         "client.dashboard_link), and ts.data holds the records")
    return TaskStream(client)
