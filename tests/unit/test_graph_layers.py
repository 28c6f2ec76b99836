"""The emulated Graph is layered: no import cycles among its modules, and its store knows nothing of HTTP."""

from __future__ import annotations

import ast
from pathlib import Path

GRAPH = Path(__file__).parents[2] / "addin_api" / "devstack" / "graph"
PACKAGE = "addin_api.devstack.graph"


def imports_of(path: Path) -> set[str]:
    """Every module a file imports (top level or inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def graph_modules() -> dict[str, set[str]]:
    """Each module of the package (by short name) and the package's modules it imports."""
    modules: dict[str, set[str]] = {}
    for path in GRAPH.glob("*.py"):
        name = path.stem
        imported = {m.removeprefix(PACKAGE + ".") for m in imports_of(path) if m.startswith(PACKAGE + ".")}
        modules[name] = imported
    return modules


def test_graph_modules_have_no_import_cycles() -> None:
    """Walking the imports between the emulator's modules never comes back to where it started."""
    modules = graph_modules()
    cycles: list[list[str]] = []

    def walk(name: str, trail: list[str]) -> None:
        for target in sorted(modules.get(name, set())):
            if target in trail:
                cycles.append([*trail[trail.index(target) :], target])
            elif target != "__init__":
                walk(target, [*trail, target])

    for start in sorted(modules):
        if start != "__init__":
            walk(start, [start])

    assert [] == cycles


def test_the_store_and_query_modules_never_import_flask() -> None:
    """Mailboxes, ids, delta and $filter are plain Python; only routes speak HTTP."""
    offenders = [
        name
        for name in ("store", "query", "mail")
        if any(m.split(".")[0] in ("flask", "werkzeug") for m in imports_of(GRAPH / f"{name}.py"))
    ]

    assert [] == offenders
