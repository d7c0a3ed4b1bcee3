"""The layers, read from the source: which of our packages may import which.

``store`` is the bottom (PostgreSQL), ``workers`` the policy over it, ``server`` the gRPC
process, ``cli`` the top that starts them. The router is the hot path and never reaches
into Management or the workers; ``server.auth`` sits below the rest of the server so that
its configuration, the router and Management can all build on it (issue 14: a cycle
``server.config`` ↔ ``server.auth``, one between the router's metrics and its runtime,
and ``server.auth.saved`` importing from the router).

The graph is built with ``ast`` from the files, not from what Python happens to import:
every import counts, also one inside a function or under ``TYPE_CHECKING`` (a cycle hidden
there is still a cycle for the reader).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Our top-level packages; ``sendingip`` is the code generated from protos/.
OURS = ("server", "workers", "store", "cli", "bench", "sendingip")
#: The packages whose modules must form no cycle.
LAYERED = ("server", "workers", "store", "cli")

Graph = dict[str, set[str]]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    return {_module_name(p): p for top in OURS for p in sorted((ROOT / top).rglob("*.py"))}


def _ours(name: str) -> str | None:
    """The module of ours that ``name`` (a module, or a name in one) is, if any."""
    modules = _modules()
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imported(module: str, path: Path) -> Iterator[str]:
    """Every name ``module`` imports, wherever the import statement is."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *([node.module] if node.module else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


@cache
def import_graph() -> Graph:
    """Module -> the modules of ours it imports."""
    graph: Graph = {}
    for module, path in _modules().items():
        found = {_ours(name) for name in _imported(module, path)}
        graph[module] = {m for m in found if m is not None and m != module}
    return graph


def _cycles(graph: Graph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _under(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _imports_of(package: str) -> Iterator[tuple[str, str]]:
    for module, imported in sorted(import_graph().items()):
        if _under(module, package):
            yield from ((module, m) for m in sorted(imported))


def test_imports_in_functions_and_under_type_checking_count(tmp_path: Path) -> None:
    path = tmp_path / "mod.py"
    path.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from server.router.runtime import RouterRuntime\n"
        "def late() -> None:\n    from . import sibling\n"
    )
    found = set(_imported("pkg.mod", path))
    assert {"server.router.runtime.RouterRuntime", "pkg.sibling"} <= found
    assert _ours("server.router.runtime.RouterRuntime") == "server.router.runtime"


def test_a_cycle_is_found() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    layered = {m: deps for m, deps in import_graph().items() if _under(m, *LAYERED)}
    assert _cycles(layered) == []


@pytest.mark.parametrize(
    ("package", "may_import", "why"),
    [
        ("store", ("store",), "store imports nothing of ours"),
        ("workers", ("workers", "store"), "the workers build on store only"),
        ("server", ("server", "store", "sendingip"), "the server never imports the workers, the CLI or bench"),
        ("server.auth", ("server.auth", "server.authz", "store"), "access control is below the rest of the server"),
    ],
)
def test_a_package_imports_only_the_layers_below_it(package: str, may_import: tuple[str, ...], why: str) -> None:
    wrong = [
        f"{module} -> {imported}" for module, imported in _imports_of(package) if not _under(imported, *may_import)
    ]
    assert wrong == [], why


def test_the_router_never_touches_management_or_the_workers() -> None:
    wrong = [
        f"{module} -> {imported}"
        for module, imported in _imports_of("server.router")
        if _under(imported, "server.management", "workers")
    ]
    assert wrong == []
