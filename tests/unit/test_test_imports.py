"""Tests import their helpers from ``tests/support`` (or a helper module of their folder),
never from a ``test_*.py`` file nor a ``conftest.py`` (httpx's rule): a test module holds
tests, and moving, renaming or deleting one must not break another."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent


def _forbidden(module: str) -> bool:
    """Whether importing ``module`` (dotted) reaches into a test module or a conftest."""
    parts = module.split(".")
    return parts[0] == "tests" and any(p.startswith("test_") or p == "conftest" for p in parts[1:])


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) for every import in ``tree``, ``from a import b`` counted as ``a.b``
    too (``b`` may be a module: ``from tests.integration import test_x``)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def test_no_test_imports_from_a_test_module_or_a_conftest() -> None:
    offending = {
        f"{path.relative_to(TESTS.parent)}:{line}": module
        for path in sorted(TESTS.rglob("*.py"))
        for line, module in reversed(_imports(ast.parse(path.read_text(), str(path))))
        if _forbidden(module)
    }
    assert offending == {}, "\n".join(f"{where}: imports {module}" for where, module in offending.items())


def test_the_check_sees_each_way_of_writing_such_an_import() -> None:
    source = (
        "from tests.integration.test_x import helper\n"
        "import tests.e2e.test_y\n"
        "from tests.integration import test_z\n"
        "from tests.reliability.conftest import history\n"
        "from tests.support.routing import seed_region\n"
        "from tests.unit import fixtures\n"
    )
    assert [line for line, module in _imports(ast.parse(source)) if _forbidden(module)] == [1, 1, 2, 3, 4, 4]
