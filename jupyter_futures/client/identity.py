"""How a client introduces itself to the scheduler: the Jupyter kernel and notebook it runs in, if any."""
from __future__ import annotations

import os
import sys


def kernel_info() -> dict:
    """In a Jupyter kernel: {"kernel_id", "notebook"} for the scheduler (its live feed shows which
    notebook holds what); empty elsewhere."""
    if "ipykernel" not in sys.modules:
        return {}
    try:
        from ipykernel.connect import get_connection_file

        name = os.path.basename(get_connection_file())  # kernel-<id>.json
    except Exception:  # ipykernel imported, but no kernel runs in this process
        return {}
    kernel_id = name[len("kernel-"):-len(".json")] if name.startswith("kernel-") and name.endswith(".json") else None
    return {"kernel_id": kernel_id, "notebook": os.environ.get("JPY_SESSION_NAME")}
