"""``LocalCluster.get_logs``: the scheduler's and the workers' recent log lines, as dask's ``Logs``."""
from __future__ import annotations

import html
from typing import Any, Callable


class Log(str):
    """One process's log, newest line first (a string; in Jupyter, shown as preformatted text)."""

    def _repr_html_(self) -> str:
        return f'<pre style="font-size: 0.9em">{html.escape(self)}</pre>'


class Logs(dict):
    """{"Cluster" | "Scheduler" | worker address: Log}."""

    def _repr_html_(self) -> str:
        return "".join(f"<details><summary>{html.escape(str(name))}</summary>{log._repr_html_()}</details>"
                       for name, log in sorted(self.items()))


class ClusterLogs:
    """Mixin of ``LocalCluster``: ``get_logs``."""

    # What this part uses of the rest of the LocalCluster:
    control: Any
    _on_loop: Callable[..., Any]

    def get_logs(self, cluster: bool = True, scheduler: bool = True, workers: Any = True) -> Any:
        """Logs of the cluster, the scheduler and the workers (``workers``: True for all, False for none, or
        a list of addresses), as dask's: {"Cluster": ..., "Scheduler": ..., address: ...}, each a ``Log``
        (text, newest line first). This cluster keeps no log of its own: "Cluster" is empty."""
        async def _logs() -> Logs:
            out = Logs()
            if cluster:
                out["Cluster"] = Log("")
            if scheduler:
                lines = await self.control.request("scheduler_logs")
                out["Scheduler"] = Log("\n".join(line for _level, line in lines))
            if workers:
                wanted = None if workers is True else list(workers)
                for address, lines in (await self.control.request("worker_logs", None, wanted)).items():
                    out[address] = Log("\n".join(line for _level, line in lines))
            return out
        return self._on_loop(_logs)
