"""Cluster profiles: named sets of options for new clusters, the JSON schema the sidebar's form is
drawn from, and the check of a creation request against both."""
from __future__ import annotations

import copy
from typing import Any

from ..worker.store import parse_memory

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "title": "Name", "description": "shown in the sidebar", "maxLength": 80},
        "workers": {"type": "integer", "title": "Workers", "minimum": 0, "maximum": 256, "default": 2},
        "threads_per_worker": {"type": "integer", "title": "Threads per worker", "minimum": 1, "maximum": 256,
                               "default": 1},
        "memory_limit": {"type": "string", "title": "Memory limit per worker",
                         "description": "e.g. 2GB, 512MiB, auto (this machine's memory shared out) or 0 (none)",
                         "default": "auto"},
        "env": {"type": "object", "title": "Environment variables for the workers",
                "additionalProperties": {"type": "string"}, "default": {}},
    },
    "additionalProperties": False,
}

DEFAULT_PROFILES = [
    {"name": "default", "description": "Two single-threaded workers", "options": {"workers": 2}},
    {"name": "one-worker", "description": "One worker with a thread per core (threaded code, shared memory)",
     "options": {"workers": 1, "threads_per_worker": 2}},
]


def schema_for(profiles: list[dict]) -> dict:
    """The options' schema, with a ``profile`` choice among ``profiles``."""
    schema = copy.deepcopy(SCHEMA)
    names = [p["name"] for p in profiles]
    schema["properties"]["profile"] = {"type": "string", "title": "Profile", "enum": names,
                                       "default": names[0] if names else ""}
    return schema


def _whole(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name}={value!r}: give a whole number from {low} to {high}")
    return value


def cluster_options(body: Any, profiles: list[dict]) -> dict:
    """The options of a new cluster: the named profile's, overridden by the request's.
    Raises ValueError naming the bad option and what it takes."""
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object of cluster options, e.g. {\"workers\": 2}")
    by_name = {p["name"]: p for p in profiles}
    profile_name = body.get("profile") or (profiles[0]["name"] if profiles else None)
    if profile_name is not None and profile_name not in by_name:
        raise ValueError(f"no profile named {profile_name!r}; the profiles are {sorted(by_name)}")
    options = {key: value["default"] for key, value in SCHEMA["properties"].items() if "default" in value}
    if profile_name is not None:
        options.update(by_name[profile_name].get("options", {}))
    given = {k: v for k, v in body.items() if k != "profile"}
    unknown = sorted(set(given) - set(SCHEMA["properties"]))
    if unknown:
        raise ValueError(f"unknown options {unknown}; a cluster takes {sorted(SCHEMA['properties'])} and 'profile'")
    options.update(given)
    name = options.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > 80):
        raise ValueError(f"name={name!r}: give a text of at most 80 characters")
    _whole("workers", options["workers"], 0, 256)
    _whole("threads_per_worker", options["threads_per_worker"], 1, 256)
    limit = options["memory_limit"]
    if isinstance(limit, int) and not isinstance(limit, bool):
        options["memory_limit"] = limit = str(limit)
    if not isinstance(limit, str) or (limit != "auto" and _memory_or_none(limit) is None):
        raise ValueError(f"memory_limit={limit!r}: give a size such as 2GB or 512MiB, 'auto', or 0 for none")
    env = options.get("env") or {}
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise ValueError("env: give an object of environment variable names to text values, e.g. {\"OMP_NUM_THREADS\": \"1\"}")
    options["env"] = env
    options["profile"] = profile_name
    return options


def _memory_or_none(text: str) -> int | None:
    try:
        return parse_memory(text)
    except (ValueError, TypeError):
        return None
