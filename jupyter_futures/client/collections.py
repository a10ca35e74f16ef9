"""Dask collections on this cluster, as dask.distributed's Client runs them.

``Client.get(graph, keys)`` runs a dask task graph (a mapping, or a collection's expression) with
one task of ours per graph node: a node's inputs are the futures of the nodes it depends on, so
dependencies move worker to worker as for any future. ``compute`` turns collections into one
future each, ``persist`` into the same collections backed by futures. While a client is the
default one, ``dask.compute``, ``.compute()`` and ``dask.persist`` use it (``dask.config``'s
``scheduler``), and stop using it when no open client is left.

dask is an optional extra: nothing here imports it (a client made before dask is imported routes
dask's collections when the user imports it), and the engine never does.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import threading
from typing import Any, Callable, Iterable

from . import current
from .future import Future


def run_node(node: Any, dep_keys: list, *dep_values: Any) -> Any:
    """A dask graph node, run on a worker with its inputs' values."""
    return node(dict(zip(dep_keys, dep_values)))


def key_name(key: Any) -> str:
    """Our key for a dask key: strings stay, tuples (``("x-abc", 0, 1)``) are written out."""
    return key if isinstance(key, str) else str(key)


def _graph(dsk: Any) -> dict:
    """A graph of dask task-spec nodes from a mapping, a HighLevelGraph or an expression."""
    from dask._task_spec import convert_legacy_graph

    if hasattr(dsk, "__dask_graph__"):
        dsk = _delayed_graph_uncut(dsk) or dsk.__dask_graph__()
    return convert_legacy_graph(dict(dsk))


def _delayed_graph_uncut(expr: Any) -> dict | None:
    """The graph of an expression of ``dask.delayed`` objects without dask's low-level optimizer, when
    all that would do is cull (``optimization.fuse.delayed`` off, the default); None for anything
    else. dask culls such a graph layer by layer, in time that grows with the layers (0.2 s of 0.7
    for 2,000 delayed calls); ``submit_graph`` walks from the wanted keys, which culls anyway."""
    from dask import config
    from dask.delayed import optimize as delayed_optimize
    from dask.utils import ensure_dict

    parts = getattr(expr, "operands", None)
    if type(expr).__name__ != "_HLGExprSequence" or not parts or config.get("optimization.fuse.delayed"):
        return None
    if any(getattr(part, "low_level_optimizer", None) is not delayed_optimize for part in parts):
        return None
    graph: dict = {}
    for part in parts:
        graph.update(ensure_dict(part.hlg))
    return graph


def _needed_in_order(graph: dict, wanted: Iterable) -> list:
    """The keys ``wanted`` depends on, inputs first (an iterative depth-first walk)."""
    order: list = []
    done: set = set()
    for root in wanted:
        stack = [(root, False)]
        while stack:
            key, expanded = stack.pop()
            if key in done:
                continue
            if expanded:
                done.add(key)
                order.append(key)
                continue
            stack.append((key, True))
            node = graph.get(key)
            if node is None:
                raise KeyError(f"the dask graph has no task {key!r}, yet a task depends on it")
            stack.extend((dep, False) for dep in node.dependencies if dep not in done)
    return order


def _structure(keys: Any, values: dict) -> Any:
    """``keys`` (nested lists of dask keys) with each key replaced by its value."""
    if isinstance(keys, list):
        return [_structure(k, values) for k in keys]
    return values[keys]


def _options(workers: Any, allow_other_workers: bool, resources: dict | None, retries: int | None,
             priority: int) -> dict:
    """The options of every task of a graph, as submit takes them."""
    return dict(workers=workers, allow_other_workers=allow_other_workers, resources=resources, retries=retries,
                priority=priority)


def _as_list(collections: Any) -> tuple[list, bool]:
    """(the collections as a list, whether one was given rather than a list)."""
    single = not isinstance(collections, (list, tuple, set))
    return ([collections] if single else list(collections)), single


def _flat(keys: Any) -> list:
    if isinstance(keys, list):
        return [k for sub in keys for k in _flat(sub)]
    return [keys]


class DaskCollections:
    """``get``, ``compute`` and ``persist`` of dask graphs and collections (a mixin of ``Client``)."""

    # Client's, used here: how submit and map make and send task records
    _task_kind: Callable[..., tuple]
    _task_record: Callable[..., tuple]
    _send_tasks: Callable[..., list]

    def submit_graph(self, dsk: Any, wanted: Iterable, workers: Any = None, allow_other_workers: bool = False,
                     resources: dict | None = None, retries: int | None = None, priority: int = 0) -> dict:
        """Submit the nodes ``wanted`` needs, in one message; returns {dask key: Future}. A node whose
        value is already a future of ours (a persisted collection) is that future."""
        from dask._task_spec import Alias, DataNode

        graph = _graph(dsk)
        func_token, func_ser, options, _ = self._task_kind(run_node, workers, resources, retries, priority,
                                                           allow_other_workers, False, None, False)
        futures: dict = {}
        records = []
        for key in _needed_in_order(graph, wanted):
            node = graph[key]
            if isinstance(node, DataNode) and isinstance(node.value, Future):
                futures[key] = node.value
            elif isinstance(node, Alias):
                futures[key] = futures[node.target]
            else:
                name = key_name(key)
                deps = list(node.dependencies)
                args = (node, deps, *(futures[d] for d in deps))
                records.append(self._task_record(run_node, func_token, func_ser, name, args, {}, name, False,
                                                 options))
                futures[key] = Future(name, self)  # an input of the records that follow, before it is sent
        self._send_tasks(records)
        return futures

    def get(self, dsk: Any, keys: Any, workers: Any = None, allow_other_workers: bool = False,
            resources: dict | None = None, sync: bool = True, retries: int | None = None, priority: int = 0,
            **kwargs: Any) -> Any:
        """Compute ``keys`` (a key or nested lists of keys) of the dask graph ``dsk`` on the cluster;
        their values in the same structure (``sync=False``: futures instead). Other keywords dask's
        ``compute`` passes on (e.g. ``num_workers`` of its thread pool) do not apply to a cluster and are
        ignored, as dask's Client ignores them."""
        options = _options(workers, allow_other_workers, resources, retries, priority)
        futures = self.submit_graph(dsk, _flat(keys), **options)
        out = _structure(keys, futures)
        return self.gather(out) if sync else out

    def compute(self, collections: Any, sync: bool = False, optimize_graph: bool = True, workers: Any = None,
                allow_other_workers: bool = False, resources: dict | None = None, retries: int | None = None,
                priority: int = 0, **kwargs: Any) -> Any:
        """A future of each dask collection's computed value (``sync=True``: the values); a list of
        collections gives a list."""
        from dask.base import collections_to_expr, is_dask_collection

        items, single = _as_list(collections)
        options = _options(workers, allow_other_workers, resources, retries, priority)
        dask_items = [c for c in items if is_dask_collection(c)]
        results: dict = {}
        if dask_items:
            expr = collections_to_expr(dask_items, optimize_graph).optimize()
            all_keys = expr.__dask_keys__()
            futures = self.submit_graph(expr, _flat(all_keys), **options)
            for c, keys in zip(dask_items, all_keys):
                finalize, extra = c.__dask_postcompute__()
                results[id(c)] = self.submit(finalize, _structure(keys, futures), *extra, pure=False, **options)
        out = [results.get(id(c), c) for c in items]
        if sync:
            out = self.gather(out)
        return out[0] if single else out

    def persist(self, collections: Any, optimize_graph: bool = True, workers: Any = None,
                allow_other_workers: bool = False, resources: dict | None = None, retries: int | None = None,
                priority: int = 0, **kwargs: Any) -> Any:
        """The dask collections with their graphs replaced by futures of their parts, computing in the
        background (a list of collections gives a list)."""
        from dask.base import collections_to_expr, is_dask_collection

        items, single = _as_list(collections)
        options = _options(workers, allow_other_workers, resources, retries, priority)
        out = []
        for c in items:
            if not is_dask_collection(c):
                out.append(c)
                continue
            expr = collections_to_expr([c], optimize_graph).optimize()
            keys = _flat(expr.__dask_keys__())
            futures = self.submit_graph(expr, keys, **options)
            rebuild, state = c.__dask_postpersist__()
            out.append(rebuild({k: futures[k] for k in keys}, *state))
        return out[0] if single else out


class _DefaultClientScheduler:
    """What ``dask.config``'s ``scheduler`` is set to while a client is the default: dask's collections
    then run on that client (``get``), and ``dask.persist`` finds its ``persist`` as dask's protocol asks."""

    def get(self, dsk: Any, keys: Any, **kwargs: Any) -> Any:
        """dask's scheduler interface: compute ``keys`` of ``dsk`` on the default client."""
        return current.default_client().get(dsk, keys, **kwargs)

    def persist(self, collections: Any, **kwargs: Any) -> Any:
        """dask.persist's hook: the collections backed by futures of the default client."""
        return current.default_client().persist(collections, **kwargs)


_SCHEDULER = _DefaultClientScheduler()
_lock = threading.Lock()
_saved: list = []  # dask's own scheduler setting, to put back when no client is left


def use_for_dask(client: Any) -> None:
    """``client`` is a default client and running: route dask's collections to the default client. If
    the user has not imported dask, nothing is imported: the routing is made when dask is."""
    if "dask" in sys.modules:
        _route_dask()
    elif not any(isinstance(f, _WhenDaskIsImported) for f in sys.meta_path):
        sys.meta_path.insert(0, _WhenDaskIsImported())


class _WhenDaskIsImported(importlib.abc.MetaPathFinder):
    """Finds ``dask`` as Python would, and routes it to the default client right after it loads."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        """The spec of ``dask``, its loader wrapped (other modules: not ours to find)."""
        if name != "dask":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def load_then_route(module: Any) -> None:
            load(module)
            if current.defaults:
                _route_dask()
        spec.loader.exec_module = load_then_route  # this spec's own loader object
        return spec


def _route_dask() -> None:
    import dask.config

    with _lock:
        if not _saved:
            _saved.append(dask.config.get("scheduler", None))
            dask.config.set(scheduler=_SCHEDULER.get)


def stop_using_for_dask() -> None:
    """Called as a default client closes: with no open default client left, dask's scheduler setting
    is put back."""
    if "dask.config" not in sys.modules:
        return
    import dask.config

    with _lock:
        if _saved and not any(c.status in ("running", "connecting") for c in current.defaults):
            dask.config.set(scheduler=_saved.pop())
