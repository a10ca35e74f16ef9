"""A cluster's manager link: the process that owns the nannies answers the scheduler's
``scale`` / ``adapt`` / ``cluster_info`` requests, so whoever can reach the scheduler (the Jupyter
server extension, another kernel) can resize a cluster it did not start."""
from __future__ import annotations

import logging
from typing import Any

from ..protocol import messages
from ..protocol.comm import Comm
from ..protocol.connect import connect
from .adaptive import Adaptive

logger = logging.getLogger("jupyter_futures.cluster")


class ClusterControl:
    """Connects a ``LocalCluster`` to its scheduler as the cluster's manager."""

    def __init__(self, cluster: Any):
        self.cluster = cluster
        self.comm: Comm | None = None
        self.adaptive: Adaptive | None = None

    async def start(self) -> None:
        """Connect and register as the manager."""
        cluster = self.cluster
        self.comm = comm = await connect(cluster.scheduler_address, cluster.token, security=cluster.security)
        comm.serve_rpc({"scale": self._scale, "adapt": self._adapt, "cluster_info": self._info})
        comm.start(lambda c, msgs: [c.handle_rpc_message(m) for m in msgs])
        comm.queue(messages.register_client(f"manager-{cluster.id}", {"monitor": True}))
        comm.queue(messages.register_manager())
        await comm.request("ping")  # answered after the line above is handled: the cluster is scalable from now on

    async def request(self, op: str, *args: Any) -> Any:
        """Call a scheduler RPC over this link."""
        return await self.comm.request(op, *args)

    async def _scale(self, comm: Comm, n: int) -> int:
        self.stop_adapting()
        await self.cluster._scale_checked(n)
        return len(self.cluster.workers)

    async def _adapt(self, comm: Comm, minimum: int | None, maximum: int | None) -> dict | None:
        if minimum is None and maximum is None:
            self.stop_adapting()
            return None
        return self.adapt(minimum, maximum).describe()

    def _info(self, comm: Comm) -> dict:
        cluster = self.cluster
        return {"workers": len(cluster.workers), "threads_per_worker": cluster.threads_per_worker,
                "memory_limit": cluster.memory_limit, "adapt": self.adaptive.describe() if self.adaptive else None,
                "scalable": True}

    def adapt(self, minimum: int, maximum: int) -> Adaptive:
        """Scale between ``minimum`` and ``maximum`` workers from now on."""
        self.stop_adapting()
        cluster = self.cluster

        self.adaptive = Adaptive(minimum, maximum, cluster.threads_per_worker, lambda: self.request("identity"),
                                 lambda: len(cluster.workers), cluster._scale_to)
        return self.adaptive

    def stop_adapting(self) -> None:
        """Leave the worker count where it is."""
        if self.adaptive is not None:
            self.adaptive.stop()
            self.adaptive = None

    def close(self) -> None:
        """Stop adapting and disconnect."""
        self.stop_adapting()
        if self.comm is not None:
            self.comm.close()
