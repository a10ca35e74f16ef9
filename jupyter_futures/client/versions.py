"""``Client.get_versions()``: Python, the system and package versions of the client, the scheduler and
every worker, and (``check=True``) an error when they differ where it matters."""
from __future__ import annotations

import os
import platform
import struct
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Iterable

REQUIRED = ("jupyter_futures", "cloudpickle", "tornado", "psutil")  # a mismatch here can break pickles
OPTIONAL = ("numpy", "pandas", "dask")


def versions_here(packages: Iterable[str] = ()) -> dict:
    """This process's system and the versions of the packages the cluster relies on (and ``packages``)."""
    uname = platform.uname()
    host = {"python": "%d.%d.%d.%s.%s" % sys.version_info, "python-bits": struct.calcsize("P") * 8,
            "OS": uname.system, "OS-release": uname.release, "machine": uname.machine,
            "processor": uname.processor, "byteorder": sys.byteorder,
            "LC_ALL": os.environ.get("LC_ALL", "None"), "LANG": os.environ.get("LANG", "None")}
    found = {"python": ".".join(map(str, sys.version_info))}
    for name in dict.fromkeys((*REQUIRED, *OPTIONAL, *packages)):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return {"host": host, "packages": found}


def mismatches(client: dict, scheduler: dict, workers: dict) -> list[tuple]:
    """(package, client's, scheduler's, workers') for each package whose versions differ."""
    every = {"client": client["packages"], "scheduler": scheduler["packages"],
             **{w: v["packages"] for w, v in workers.items()}}
    names = sorted({name for packages in every.values() for name in packages})
    out = []
    for name in names:
        seen = {packages.get(name, "MISSING") for packages in every.values()}
        if len(seen) > 1:
            worker_versions = sorted({str(workers[w]["packages"].get(name, "MISSING")) for w in workers})
            out.append((name, client["packages"].get(name, "MISSING"), scheduler["packages"].get(name, "MISSING"),
                        ", ".join(worker_versions)))
    return out


class VersionInfo:
    """``get_versions`` (a mixin of ``Client``)."""

    run_on_scheduler: Any
    run: Any

    def get_versions(self, check: bool = False, packages: Iterable[str] | None = None) -> dict:
        """{"client", "scheduler", "workers": {address: ...}}, each {"host": ..., "packages": ...};
        ``check``: raise ValueError naming every package whose versions differ; ``packages``: more
        package names to report."""
        names = list(packages or ())
        result = {"client": versions_here(names), "scheduler": self.run_on_scheduler(versions_here, names),
                  "workers": self.run(versions_here, names)}
        if check:
            differ = mismatches(result["client"], result["scheduler"], result["workers"])
            if differ:
                lines = "\n".join(f"  {name}: client {c}, scheduler {s}, workers {w}" for name, c, s, w in differ)
                raise ValueError(f"package versions differ between the client, the scheduler and the workers:\n"
                                 f"{lines}\ninstall the same versions everywhere (pickles of one version may "
                                 f"not load in another)")
        return result
