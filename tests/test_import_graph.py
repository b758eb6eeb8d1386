"""The render floor and the drift package import one way: no circles between their modules
(function-local imports count, imports under ``if TYPE_CHECKING:`` do not), render uses the
standard library and ``mlnb.errors`` only, and neither hides imports inside functions."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mlnb/render", "mlnb/monitoring/drift")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(path: Path) -> Iterator[tuple[str, bool]]:
    """(imported module, inside a function) for every runtime import in ``path``."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def walk(node: ast.AST, in_function: bool) -> Iterator[tuple[str, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    yield from walk(sub, in_function)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, in_function
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    base = ".".join(
                        [*package.split(".")[: len(package.split(".")) - child.level + 1], base]
                    ).strip(".")
                yield base, in_function
                for alias in child.names:  # ``from pkg import submodule``
                    yield f"{base}.{alias.name}", in_function
            else:
                inner = in_function or isinstance(
                    child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
                )
                yield from walk(child, inner)

    yield from walk(ast.parse(path.read_text()), False)


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {
        name: {target for target, _ in imports(path) if target in mods and target != name}
        for name, path in mods.items()
    }


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle as a path of module names, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles_in_render_and_drift() -> None:
    edges = graph()
    # a package __init__ re-exports its modules; a module importing a sibling through the
    # package is what would close a circle, and the graph holds those edges too
    cycle = find_cycle({k: {v for v in vs if not k.startswith(v + ".")} for k, vs in edges.items()})
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


def test_render_uses_only_the_standard_library_and_mlnb_errors() -> None:
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    bad = []
    for name, path in modules().items():
        if not name.startswith("mlnb.render"):
            continue
        for target, _ in imports(path):
            top = target.split(".")[0]
            if top == "mlnb":
                if not (target.startswith("mlnb.render") or target.startswith("mlnb.errors")):
                    bad.append(f"{name} imports {target}")
            elif top not in stdlib:
                bad.append(f"{name} imports {target}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_function_local_mlnb_imports(package: str) -> None:
    local = [
        f"{name} imports {target} inside a function"
        for name, path in modules().items()
        if name.startswith(package.replace("/", "."))
        for target, in_function in imports(path)
        if in_function and target.split(".")[0] == "mlnb"
    ]
    assert not local, "\n".join(local)
