"""Product code never imports the devstack; services never import Flask."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[2] / "addin_api"


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports (top level or inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def product_files() -> list[Path]:
    """Product modules: everything but the devstack and the CLI that launches it."""
    return [p for p in PACKAGE.rglob("*.py") if "devstack" not in p.relative_to(PACKAGE).parts and p.name != "cli.py"]


def test_product_code_never_imports_the_devstack() -> None:
    """The devstack is reached only through configured URLs, as the real cloud is."""
    offenders = [
        str(p) for p in product_files() if any(m.startswith("addin_api.devstack") for m in imported_modules(p))
    ]
    assert [] == offenders


def test_services_never_import_flask() -> None:
    """Use cases take their collaborators as arguments and know nothing of HTTP frameworks."""
    services = (PACKAGE / "services").glob("*.py")
    offenders = [str(p) for p in services if any(m.split(".")[0] in ("flask", "werkzeug") for m in imported_modules(p))]
    assert [] == offenders
