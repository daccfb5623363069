"""The hub's import layering (ARCHITECTURE.md, "Layout"): imports point down the table, never up or round.

The table is written out here (ARCHITECTURE.md lives outside the repository) and every module of
`hub/src/tallyhub` is read with `ast`, lazy imports inside functions included.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Package (or top-level module) of tallyhub -> its row. Row 7 is the leaf modules every row may use.
ROWS: dict[str, int] = {
    "__main__": 1,
    "cli": 1,
    "app": 1,
    "demo": 1,
    "web": 2,
    "api": 2,
    "ingest": 3,
    "alerts": 3,
    "uptime": 3,
    "analytics": 4,
    "accounts": 4,
    "jobs": 4,
    "metrics": 5,
    "storage": 6,
    "outbound": 6,
    "settings": 7,
    "histograms": 7,
    "paths": 7,
    "identifiers": 7,
}
EVERYTHING = frozenset(ROWS)
LEAVES = frozenset(name for name, row in ROWS.items() if row == 7)


def _rows(*rows: int) -> frozenset[str]:
    return frozenset(name for name, row in ROWS.items() if row in rows)


# What each package may import besides itself: the "may import" column of the table.
MAY_IMPORT: dict[str, frozenset[str]] = {
    **dict.fromkeys(("__main__", "cli", "app", "demo"), EVERYTHING),
    **dict.fromkeys(("web", "api"), _rows(3, 4, 5, 6, 7)),
    **dict.fromkeys(("ingest", "alerts", "uptime"), _rows(4, 5, 6, 7)),
    **dict.fromkeys(("analytics", "jobs"), _rows(5, 6, 7)),
    "accounts": _rows(6, 7),
    "metrics": _rows(6, 7),
    "storage": LEAVES,
    "outbound": frozenset({"settings"}),
    **dict.fromkeys(LEAVES, frozenset()),
}

# Statement builders and execution: SQL that web/ and api/ must leave to the domain packages.
SQL_CALLS = frozenset(
    {"select", "insert", "update", "delete", "text", "exists", "union_all", "and_", "or_", "case", "execute"}
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, ast.Module]:
    return {_module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(SRC.rglob("*.py"))}


def _imports(tree: ast.Module, known: set[str]) -> Iterator[str]:
    """The tallyhub modules a module imports (`from tallyhub.web import snippets`: tallyhub.web.snippets)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] == "tallyhub")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "tallyhub":
            assert node.level == 0, "the hub uses absolute imports only"
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                yield sub if sub in known else node.module


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: set(_imports(tree, known)) for name, tree in modules.items()}


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(tallyhub)"


def layering_violations(graph: Mapping[str, set[str]]) -> list[str]:
    """Imports that break the table: `importer -> imported (package row -> package row)`."""
    found = []
    for importer, imported in sorted(graph.items()):
        source = package_of(importer)
        for target in sorted(imported):
            wanted = package_of(target)
            if wanted in (source, "(tallyhub)") or wanted in MAY_IMPORT.get(source, frozenset()):
                continue
            found.append(f"{importer} -> {target} ({source} may not import {wanted})")
    return found


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _package_graph(graph: Mapping[str, set[str]]) -> dict[str, set[str]]:
    packages: dict[str, set[str]] = {}
    for importer, imported in graph.items():
        source = package_of(importer)
        packages.setdefault(source, set()).update(t for t in map(package_of, imported) if t != source)
    return packages


def test_every_package_has_a_row() -> None:
    packages = {package_of(m) for m in import_graph()} - {"(tallyhub)"}
    assert packages - set(ROWS) == set(), "place new packages in the layering table (ARCHITECTURE.md)"


def test_imports_point_down_the_table() -> None:
    assert layering_violations(import_graph()) == []


def test_no_import_cycles() -> None:
    graph = import_graph()
    assert cycles(_package_graph(graph)) == []
    assert cycles(graph) == []


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("tallyhub.storage.tables", "tallyhub.ingest.writer"),  # storage is the bottom row
        ("tallyhub.metrics.reads", "tallyhub.analytics.traffic"),  # up one row
        ("tallyhub.alerts.rule_eval", "tallyhub.uptime.figures"),  # a sibling of the same row
        ("tallyhub.accounts.users", "tallyhub.metrics.reads"),  # accounts uses storage only
        ("tallyhub.web.access", "tallyhub.api.auth"),  # web and api are siblings
    ],
)
def test_a_back_up_import_fails(importer: str, imported: str) -> None:
    graph = import_graph()
    assert importer in graph and imported in graph
    graph[importer] = graph[importer] | {imported}
    assert layering_violations(graph) == [
        f"{importer} -> {imported} ({package_of(importer)} may not import {package_of(imported)})"
    ]


def test_the_writer_knows_no_protocol() -> None:
    """It stores batches (ingest.batch): a second protocol is a second translator and nothing else."""
    graph = import_graph()
    reached, todo = set(), ["tallyhub.ingest.writer"]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(graph.get(module, ()))
    assert "tallyhub.ingest.batch" in reached
    assert sorted(m for m in reached if m.startswith("tallyhub.ingest.v2")) == []


def test_a_circle_fails() -> None:
    graph = import_graph()
    graph["tallyhub.storage.upsert"] = graph["tallyhub.storage.upsert"] | {"tallyhub.storage.apps"}
    assert ["tallyhub.storage.apps", "tallyhub.storage.upsert"] in cycles(graph)


def _sql_in(tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in SQL_CALLS
        ):
            owner = node.func.value
            if node.func.attr == "execute" or (
                isinstance(owner, ast.Name) and owner.id in {"sa", "sqlalchemy"}
            ):
                yield f"line {node.lineno}: {ast.unparse(node.func)}(…)"
        if isinstance(node, ast.ImportFrom) and node.module == "tallyhub.storage.tables":
            # Constants (MINUTE, MAX_ID) are fine; tables are for the domain packages.
            yield from (f"line {node.lineno}: imports table {a.name}" for a in node.names if a.name.islower())


def test_web_and_api_hold_no_sql() -> None:
    found = {
        name: list(_sql_in(tree)) for name, tree in _modules().items() if package_of(name) in {"web", "api"}
    }
    assert {name: sql for name, sql in found.items() if sql} == {}


def test_sql_check_finds_sql() -> None:
    tree = ast.parse("import sqlalchemy as sa\nconn.execute(sa.select(apps.c.id))\n")
    assert list(_sql_in(tree)) == ["line 2: conn.execute(…)", "line 2: sa.select(…)"]
