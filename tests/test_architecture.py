"""The layout keeps its promises (docs/architecture.md): no import circles between modules,
few function-local imports, SQL only in mlnb/store, IPython only in the magics.

The floors themselves (which package may import which) are the import-linter contract in
``.importlinter``, checked by ``make lint``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import grimp
import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mlnb"
MAX_LOCAL_IMPORTS = 40
SQL = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX))\b",
    re.I,
)


def modules() -> list[tuple[str, ast.Module]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts).removesuffix(".__init__")
        found.append((name, ast.parse(path.read_text(), str(path))))
    return found


def local_mlnb_imports(tree: ast.Module) -> list[int]:
    """Line numbers of ``from mlnb... import`` statements inside functions."""
    lines: list[int] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if in_function and isinstance(child, ast.ImportFrom):
                if (child.module or "").startswith("mlnb") or child.level:
                    lines.append(child.lineno)
            if in_function and isinstance(child, ast.Import):
                lines.extend(child.lineno for a in child.names if a.name.startswith("mlnb"))
            visit(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef))

    visit(tree, False)
    return lines


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("mlnb", exclude_type_checking_imports=True, cache_dir=None)


def strongly_connected(graph: grimp.ImportGraph) -> list[set[str]]:
    """Groups of modules that import each other, directly or through others (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    counter = [0]

    def connect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for module in sorted(graph.modules):
        if module not in index:
            connect(module)
    return groups


def test_no_module_imports_itself_back(graph: grimp.ImportGraph) -> None:
    """Packages count too: a package whose __init__ re-exports a module that imports the
    package back is a circle as well."""
    circles = strongly_connected(graph)
    assert not circles, "modules that import each other: " + "; ".join(
        " <-> ".join(sorted(c)) for c in circles
    )


def test_the_circle_finder_finds_circles() -> None:
    fake = grimp.ImportGraph()
    for importer, imported in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("e", "d")]:
        fake.add_import(importer=importer, imported=imported)
    assert strongly_connected(fake) == [{"a", "b", "c"}]


def test_function_local_imports_stay_few() -> None:
    counts = {name: len(local_mlnb_imports(tree)) for name, tree in modules()}
    total = sum(counts.values())
    worst = sorted(((n, m) for m, n in counts.items() if n), reverse=True)[:8]
    assert total <= MAX_LOCAL_IMPORTS, f"{total} function-local mlnb imports; most in {worst}"


@pytest.mark.parametrize(
    "package",
    ["mlnb.render", "mlnb.store", "mlnb.lifecycle", "mlnb.monitoring", "mlnb.commands", "mlnb.cli"],
)
def test_these_floors_import_at_module_top(package: str) -> None:
    """Function-local imports are for start-up time in the surfaces, never to dodge a circle."""
    found = [
        f"{name}:{line}"
        for name, tree in modules()
        if name == package or name.startswith(package + ".")
        for line in local_mlnb_imports(tree)
    ]
    assert not found, f"function-local mlnb imports in {package}: {found}"


def nodes_outside_the_store() -> Iterator[tuple[str, ast.AST]]:
    for name, tree in modules():
        if not name.startswith("mlnb.store"):
            for node in ast.walk(tree):
                yield name, node


def test_sql_lives_only_in_the_store() -> None:
    offenders = [
        f"{name}:{getattr(node, 'lineno', '?')}"
        for name, node in nodes_outside_the_store()
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value)
    ]
    assert not offenders, f"SQL outside mlnb/store: {offenders}"


def test_only_the_store_touches_the_connection() -> None:
    connection = {"query", "query_one", "query_tuples", "transaction", "write", "conn"}
    offenders = [
        f"{name}:{getattr(node, 'lineno', '?')}"
        for name, node in nodes_outside_the_store()
        if isinstance(node, ast.Attribute)
        and node.attr in connection
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "db"
    ]
    assert not offenders, f"connection used outside mlnb/store: {offenders}"


def test_the_core_never_imports_ipython() -> None:
    surfaces = ("mlnb.magics", "mlnb.widgets")
    offenders = []
    for name, tree in modules():
        if name.startswith(surfaces):
            continue
        for node in ast.walk(tree):
            imported = []
            if isinstance(node, ast.Import):
                imported = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                imported = [node.module or ""]
            if any(m.split(".")[0] in ("IPython", "ipywidgets") for m in imported):
                offenders.append(f"{name}:{node.lineno}")
    assert not offenders, f"IPython imported outside the magics and widgets: {offenders}"


def test_render_is_pure_standard_library() -> None:
    allowed = {"mlnb"}
    offenders = []
    for name, tree in modules():
        if not name.startswith("mlnb.render"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                tops = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                tops = [(node.module or "").split(".")[0]]
            else:
                continue
            for top in tops:
                if top not in allowed and top not in __import__("sys").stdlib_module_names:
                    offenders.append(f"{name}:{node.lineno} imports {top}")
    assert not offenders, f"render/ must stay stdlib-only: {offenders}"


def test_private_names_stay_in_their_package() -> None:
    """``_name`` and ``_module`` are private to the package that defines them."""
    offenders = []
    for name, tree in modules():
        package = name.rsplit(".", 1)[0]
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                continue
            if not node.module.startswith("mlnb"):
                continue
            target_package = node.module.rsplit(".", 1)[0]
            parts = node.module.split(".")
            private_module = any(p.startswith("_") and p != "__init__" for p in parts[1:])
            private_names = [a.name for a in node.names if a.name.startswith("_")]
            if (private_module or private_names) and not (
                package == target_package or package.startswith(target_package + ".")
            ):
                offenders.append(f"{name}:{node.lineno} from {node.module} import {private_names}")
    assert not offenders, "private names used across packages: " + "; ".join(offenders)
