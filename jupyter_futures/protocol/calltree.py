"""Profile call trees (dask's format): ``{"description", "identifier", "count", "children"}``.

Workers send them, the scheduler (the live feed) and the client (``Client.profile``) merge them."""
from __future__ import annotations

import copy


def empty_tree() -> dict:
    """A profile tree with no samples."""
    return {"description": {"filename": "", "line_number": 0, "name": "root", "line": ""},
            "identifier": "root", "count": 0, "children": {}}


def merge(*trees: dict) -> dict:
    """One tree summing the counts of ``trees`` (nodes matched by identifier)."""
    out = empty_tree()
    for tree in trees:
        if tree:
            _merge_into(out, tree)
    return out


def _merge_into(dst: dict, src: dict) -> None:
    dst["count"] += src.get("count", 0)
    children = dst["children"]
    for ident, child in src.get("children", {}).items():
        mine = children.get(ident)
        if mine is None:
            children[ident] = mine = {"description": copy.copy(child.get("description", {})),
                                      "identifier": ident, "count": 0, "children": {}}
        _merge_into(mine, child)
