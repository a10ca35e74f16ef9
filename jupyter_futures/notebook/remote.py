"""What ``%%remote`` runs on a worker: a cell's code with the notebook names it reads.

Imported by worker processes when such a task runs, so it imports nothing from Jupyter.
"""
from __future__ import annotations

import ast
import builtins
import linecache
from typing import Any


def remote(source: str, namespace: dict, filename: str) -> Any:
    """Run ``source`` like a notebook cell in ``namespace``; the value of its last expression is the result."""
    remember_source(filename, source)  # tracebacks on the worker show the cell's lines
    tree = ast.parse(source, filename, "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    scope = dict(namespace)
    scope.setdefault("__builtins__", builtins)
    scope["__name__"] = "__main__"
    exec(compile(tree, filename, "exec"), scope)
    if last is not None:
        return eval(compile(last, filename, "eval"), scope)
    return None


def remember_source(filename: str, source: str) -> None:
    """Make ``linecache`` (so tracebacks) know ``source`` under the made-up ``filename``."""
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)


def names_read(source: str) -> list[str]:
    """Names the code reads (loads) anywhere, in nested functions too: candidates to send along."""
    tree = ast.parse(source)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
    return sorted(names)
