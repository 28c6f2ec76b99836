"""The house is layered: no import cycle anywhere in `addin_api`, and each room imports only what it may."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[2]
PACKAGE = ROOT / "addin_api"


def module_name(path: Path) -> str:
    """The dotted name of a file under the package (`addin_api.devstack.state`, `addin_api.dataverse`)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top, under `TYPE_CHECKING` or inside functions.

    `from package import name` counts as importing `package.name` when that is a module, else `package`.
    """
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            source = ".".join(p for p in (base, node.module or "") if p)
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.add(submodule if submodule in MODULES else source)
    return found


def import_graph() -> dict[str, set[str]]:
    """Each module of `addin_api` and the modules of `addin_api` it imports."""
    return {name: {m for m in imported_modules(path) if m in MODULES} - {name} for name, path in MODULES.items()}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of modules (Tarjan), each written as the path that closes it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        for target in sorted(graph[name]):
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            group = {stack.pop()}
            while name not in group:
                group.add(stack.pop())
            if len(group) > 1:
                groups.append(group)

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return [closing_path(graph, group) for group in groups]


def closing_path(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest path from the group's first module back to itself, through the group only."""
    start = min(group)
    trails = [[start]]
    while trails:
        trail = trails.pop(0)
        for target in sorted(graph[trail[-1]] & group):
            if target == start:
                return [*trail, start]
            if target not in trail:
                trails.append([*trail, target])
    return sorted(group)


def cycles_among(prefix: str) -> list[str]:
    """The import cycles among the modules whose names start with `prefix`, each written as one line."""
    graph = {name: {m for m in targets if m.startswith(prefix)} for name, targets in import_graph().items()}
    return [" -> ".join(cycle) for cycle in import_cycles({n: t for n, t in graph.items() if n.startswith(prefix)})]


def test_no_import_cycle_anywhere_in_the_package() -> None:
    """Walking the imports between the package's modules never comes back to where it started."""
    assert [] == cycles_among("addin_api")


def test_no_import_cycle_in_product_code() -> None:
    """Product modules (all but the devstack) never come back to where they started."""
    devstack = "addin_api.devstack"
    graph = import_graph()
    product = {n: {m for m in t if not m.startswith(devstack)} for n, t in graph.items() if not n.startswith(devstack)}

    assert [] == [" -> ".join(cycle) for cycle in import_cycles(product)]


def test_no_import_cycle_in_the_emulated_graph() -> None:
    """The emulated Graph's modules never import each other in a circle."""
    assert [] == cycles_among("addin_api.devstack.graph")


def test_the_cycle_finder_names_a_cycle() -> None:
    """A planted circle of three is found and written from its first module back to it."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

    assert [["a", "b", "c", "a"]] == import_cycles(graph)


def files_under(*parts: str) -> list[Path]:
    """The package's files below a folder."""
    return sorted(PACKAGE.joinpath(*parts).rglob("*.py"))


def offenders(paths: list[Path], forbidden: tuple[str, ...]) -> list[str]:
    """The files among `paths` that import a module starting with one of `forbidden`."""
    return [
        str(p.relative_to(ROOT))
        for p in paths
        if any(m == f or m.startswith(f + ".") for m in imported_modules(p) for f in forbidden)
    ]


def test_product_code_never_imports_the_devstack() -> None:
    """The devstack is reached only through configured URLs, as the real cloud is (the CLI launches it)."""
    product = [p for p in PACKAGE.rglob("*.py") if "devstack" not in p.relative_to(PACKAGE).parts]
    product.remove(PACKAGE / "cli.py")

    assert [] == offenders(product, ("addin_api.devstack",))


def test_services_never_import_flask() -> None:
    """Use cases take their collaborators as arguments and know nothing of HTTP frameworks."""
    assert [] == offenders(files_under("services"), ("flask", "werkzeug"))


def test_the_product_layers_only_reach_down() -> None:
    """model (commands and results) < dataverse/ and auth/ < services/ < schemas/ < api/: nothing imports upward."""
    upward = {
        "model.py": (
            "addin_api.dataverse",
            "addin_api.auth",
            "addin_api.services",
            "addin_api.schemas",
            "addin_api.api",
        ),
        "dataverse": ("addin_api.services", "addin_api.schemas", "addin_api.api", "addin_api.wiring", "flask"),
        "auth": ("addin_api.services", "addin_api.schemas", "addin_api.api", "addin_api.wiring", "flask"),
        "services": ("addin_api.schemas", "addin_api.api", "addin_api.wiring"),
        "schemas": ("addin_api.api", "addin_api.wiring"),
    }
    found = {
        part: offenders(files_under(part) if part != "model.py" else [PACKAGE / part], up)
        for part, up in upward.items()
    }

    assert {part: [] for part in upward} == found


def test_the_graph_store_and_query_modules_never_import_flask() -> None:
    """Mailboxes, ids, delta and $filter are plain Python; only the emulated Graph's routes speak HTTP."""
    graph = PACKAGE / "devstack" / "graph"
    plain = [graph / f"{name}.py" for name in ("store", "query", "mail")]

    assert [] == offenders(plain, ("flask", "werkzeug"))


DEVSTACK = PACKAGE / "devstack"
# Leaves of the devstack: each imports no other devstack module.
DEVSTACK_LEAVES = [
    DEVSTACK / f"{name}.py"
    for name in ("config", "keys", "certs", "errors", "faults", "request_log", "seed_ids", "dataverse/throttle")
]
# What builds and serves a running devstack: its state, seed data, routes, control surface and server.
DEVSTACK_UPPER = tuple(
    f"addin_api.devstack.{name}" for name in ("state", "seed", "control", "identity_routes", "webclient", "server")
)


def test_devstack_leaves_import_no_other_devstack_module() -> None:
    """Config, keys, certificates, error bodies, faults, the request log, seed ids and throttling stand alone."""
    assert [] == offenders(DEVSTACK_LEAVES, ("addin_api.devstack",))


def test_the_devstack_store_records_and_identity_never_reach_up() -> None:
    """The store does not seed itself and identity takes an issuer: neither they nor records know the running
    devstack (its state, seed, routes or server)."""
    middle = [DEVSTACK / f"{name}.py" for name in ("identity", "discovery", "refresh_tokens", "graph/tokens")] + [
        DEVSTACK / "dataverse" / f"{name}.py" for name in ("store", "keys", "rows", "values", "records", "mail_rows")
    ]

    assert [] == offenders(middle, DEVSTACK_UPPER)


def reached_from(paths: list[Path]) -> list[Path]:
    """The files of `paths` and every module of the package they import, directly or through others."""
    graph = import_graph()
    names = {module_name(p) for p in paths}
    todo = list(names)
    while todo:
        for target in graph[todo.pop()] - names:
            names.add(target)
            todo.append(target)
    return sorted(MODULES[n] for n in names)


def test_the_sync_worker_never_imports_flask_or_the_web_edge() -> None:
    """The mailbox-sync worker, and everything it imports, runs without Flask and knows nothing of the API."""
    assert [] == offenders(reached_from(files_under("sync")), ("flask", "werkzeug", "addin_api.api"))


def test_reached_from_follows_imports_through_other_modules() -> None:
    """The probe reaches the Graph client directly and the retry-after parser through it."""
    reached = reached_from([PACKAGE / "sync" / "probe.py"])

    assert {PACKAGE / "sync" / "graph.py", PACKAGE / "dataverse" / "retry.py"} <= set(reached)
