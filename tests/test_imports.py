"""Imports flow one way (docs/architecture.md, Conventions): every module of the package, every import in
it (those inside functions too), checked against the layers, and no circle between modules.

Read from the source with ``ast``: nothing is imported, so the check sees the lazy imports that an
import-time check would miss. Imports under ``if TYPE_CHECKING:`` are for type checkers only and run
never: they are left out.
"""
from __future__ import annotations

import ast
import pathlib

import jupyter_futures

PACKAGE = "jupyter_futures"
ROOT = pathlib.Path(jupyter_futures.__file__).parent

# Which part each module belongs to: the longest matching prefix wins.
PARTS = {
    "protocol": "protocol",
    # Self-contained HTML pages (flame graph, performance report): they import nothing but protocol/.
    "dashboard.flamegraph": "pages",
    "dashboard.report": "pages",
    # The rest of dashboard/ is the scheduler's own web page, served from the scheduler process.
    "dashboard": "scheduler",
    "scheduler": "scheduler",
    "worker": "worker",
    "client": "client",
    "cluster": "cluster",
    "notebook": "notebook",
    "server": "server",
    # Entry points, above everything: the package's facade, the command line and its demo.
    "": "entry",
    "__main__": "entry",
    "cluster.cli": "entry",
    "cluster.demo": "entry",
}

# Lowest first. A module imports from its own part and from the parts of lower layers only: the parts
# of one layer do not import each other.
LAYERS = [
    {"protocol"},
    {"pages"},
    {"scheduler", "worker", "client"},
    {"cluster"},
    {"notebook", "server"},
    {"entry"},
]

# Below it, yet out of reach: the notebook layer knows the cluster only through the client.
OUT_OF_REACH = {("notebook", "worker"), ("notebook", "scheduler")}

# The imports against the layers, each for a reason (docs/architecture.md says the same).
JUSTIFIED = {
    # Client() with no address starts a LocalCluster, as dask's does (imported only then).
    ("client.client", "cluster.local"),
    # A task that submits tasks uses its worker process's client; an actor task's value is the
    # client's proxy for it (imported only by such tasks).
    ("worker.server", "client.client"),
    ("worker.server", "client.actor"),
}

# The package's version, read from its root: Python has run the root before any module of it.
ROOT_CONSTANTS = {"__version__"}


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([PACKAGE, *parts])


MODULES = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` but those under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def imports_of(module: str) -> list[tuple[str, int, frozenset]]:
    """(imported module of the package, line, names taken from it) for every import in ``module``."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno, frozenset()) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in MODULES:  # `from . import render`: the module itself
                    found.append((sub, node.lineno, frozenset()))
                else:
                    found.append((target, node.lineno, frozenset([alias.name])))
    return [(t, line, names) for t, line, names in found if t == PACKAGE or t.startswith(PACKAGE + ".")]


def _short(module: str) -> str:
    return module[len(PACKAGE) + 1:]


def part_of(module: str) -> str:
    name = _short(module) if module != PACKAGE else ""
    best = max((prefix for prefix in PARTS if prefix == "" or name == prefix or name.startswith(prefix + ".")),
               key=len)
    return PARTS[best]


def layer_of(part: str) -> int:
    return next(i for i, parts in enumerate(LAYERS) if part in parts)


def edges() -> dict[str, set[str]]:
    """{module: the modules of the package it imports}, without the reads of the root's constants."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        for target, _, names in imports_of(module):
            if target == PACKAGE and names and names <= ROOT_CONSTANTS:
                continue
            if target in MODULES and target != module:
                graph[module].add(target)
    return graph


def test_every_part_is_placed_in_a_layer():
    for module in MODULES:
        layer_of(part_of(module))


def test_imports_flow_one_way():
    wrong = []
    for module in MODULES:
        source = part_of(module)
        for target, line, names in imports_of(module):
            if target == PACKAGE and names and names <= ROOT_CONSTANTS:
                continue
            dest = part_of(target)
            if dest == source or (layer_of(dest) < layer_of(source) and (source, dest) not in OUT_OF_REACH):
                continue
            if (_short(module), _short(target) if target != PACKAGE else "") in JUSTIFIED:
                continue
            wrong.append(f"{_short(module) or PACKAGE}:{line} imports {_short(target) or PACKAGE} "
                         f"({source} -> {dest})")
    assert not wrong, "imports against the layers of docs/architecture.md:\n" + "\n".join(wrong)


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_circle_between_modules():
    found = circles(edges())
    assert not found, "modules that import each other (through lazy imports too):\n" + "\n".join(
        " <-> ".join(_short(m) or PACKAGE for m in group) for group in found)


def test_the_check_sees_a_circle_and_a_lazy_import_against_the_layers():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert part_of(f"{PACKAGE}.client.client") == "client"
    assert part_of(f"{PACKAGE}.dashboard.report") == "pages" and part_of(PACKAGE) == "entry"
    assert layer_of("notebook") > layer_of("client") > layer_of("protocol")
