"""Files uploaded with ``Client.upload_file``: sent to every worker now, and kept to send each worker that
joins later before any task of it (as dask's ``UploadFile`` worker plugin)."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..protocol import messages
from ..protocol.comm import Comm

logger = logging.getLogger("jupyter_futures.scheduler")


class Uploads:
    """The uploaded files, by file name: ``(data, load)``; a new upload of a name replaces the old."""

    def __init__(self, scheduler: Any):
        self.scheduler = scheduler
        self.files: dict[str, tuple[bytes, bool]] = {}

    async def upload(self, filename: str, data: bytes, load: bool) -> dict:
        """Send the file to every worker: {address: {"status": "OK"}}. An error of a worker (importing it)
        is raised, and the file is not given to workers that join later."""
        previous = self.files.get(filename)
        self.files[filename] = (data, load)  # kept first: a worker joining meanwhile gets it too
        comms = dict(self.scheduler.worker_comms)
        replies = await asyncio.gather(*(c.request("upload_file", filename, data, load) for c in comms.values()),
                                       return_exceptions=True)
        for address, reply in zip(comms, replies):
            if isinstance(reply, BaseException):
                if previous is None:
                    self.files.pop(filename, None)
                else:
                    self.files[filename] = previous
                logger.warning("worker %s could not load the uploaded file %s: %r", address, filename, reply)
                raise reply
        return {address: {"status": "OK"} for address in comms}

    def greet(self, comm: Comm) -> None:
        """A worker joins: queue every upload for it (handled before the tasks sent after)."""
        for filename, (data, load) in self.files.items():
            comm.queue(messages.upload_file(filename, data, load))
