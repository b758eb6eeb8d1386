"""Reading a cell's source with ``ast``: literal parameters, names used and assigned,
metric computations and model fits. Nothing is executed here."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

FIT_METHODS = {"fit", "fit_transform", "fit_predict", "partial_fit"}


@dataclass
class CellAnalysis:
    """What the source of one cell says it does."""

    literals: dict[str, Any] = field(default_factory=dict)
    loaded: list[str] = field(default_factory=list)
    stored: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)  # read before (or without) being assigned
    metric_candidates: dict[str, str] = field(default_factory=dict)  # var -> function/attr name
    fitted: dict[str, list[str]] = field(default_factory=dict)  # estimator var -> X arg names
    syntax_error: str | None = None


def analyse(source: str) -> CellAnalysis:
    """Parse a cell; IPython magics/shell lines are blanked first so the rest still parses."""
    out = CellAnalysis()
    try:
        tree = ast.parse(strip_ipython_syntax(source))
    except SyntaxError as exc:
        out.syntax_error = f"line {exc.lineno}: {exc.msg}"
        return out
    out.literals = literal_assignments(tree)
    loaded: dict[str, tuple[int, int]] = {}
    stored: dict[str, tuple[int, int]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            where = (node.lineno, node.col_offset)
            table = stored if isinstance(node.ctx, ast.Store) else loaded
            table[node.id] = min(table.get(node.id, where), where)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stored[node.name] = min(stored.get(node.name, (node.lineno, 0)), (node.lineno, 0))
    for node in ast.walk(tree):  # `x = f(x)`: the right side is read first
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and node.value is not None:
            for sub in ast.walk(node.value):
                if isinstance(sub, ast.Name) and sub.id in stored and sub.id in loaded:
                    if stored[sub.id][0] == node.lineno:
                        loaded[sub.id] = min(loaded[sub.id], (node.lineno, -1))
    out.loaded = sorted(loaded, key=loaded.__getitem__)
    out.stored = sorted(stored, key=stored.__getitem__)
    out.inputs = [n for n in out.loaded if n not in stored or loaded[n] < stored[n]]
    out.metric_candidates = _metric_assignments(tree)
    out.fitted = _fit_calls(tree)
    return out


def literal_assignments(tree: ast.Module) -> dict[str, Any]:
    """Top-level ``name = <literal>`` statements (numbers, strings, lists, dicts, -1, True)."""
    found: dict[str, Any] = {}
    for stmt in tree.body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            targets, value = [stmt.target], stmt.value
        if value is None:
            continue
        try:
            literal = ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                found[target.id] = literal
            elif isinstance(target, (ast.Tuple, ast.List)) and isinstance(literal, (tuple, list)):
                if len(target.elts) == len(literal):
                    for elt, v in zip(target.elts, literal, strict=True):
                        if isinstance(elt, ast.Name):
                            found[elt.id] = v
    return found


def _call_name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _metric_assignments(tree: ast.Module) -> dict[str, str]:
    """``var = some_metric(...)`` or ``var = model.score(...)`` anywhere at module level."""
    found: dict[str, str] = {}
    for stmt in ast.walk(tree):
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and isinstance(stmt.value, ast.Call):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            name = _qualified_func(stmt.value.func)
            if name is None:
                continue
            for t in targets:
                if isinstance(t, ast.Name):
                    found[t.id] = name
    return found


def _qualified_func(func: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    elif isinstance(func, ast.Call) and parts:
        parts.append("()")
    else:
        return None
    return ".".join(reversed(parts))


def _fit_calls(tree: ast.Module) -> dict[str, list[str]]:
    """``est.fit(X, y)`` calls: estimator variable -> names of the first argument (X)."""
    found: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in FIT_METHODS
            and isinstance(node.func.value, ast.Name)
        ):
            xs = found.setdefault(node.func.value.id, [])
            if node.args and isinstance(node.args[0], ast.Name):
                xs.append(node.args[0].id)
    return found


def strip_ipython_syntax(source: str) -> str:
    """The cell source with magic and shell lines (``%...``, ``!...``) blanked, so ``ast`` parses it."""
    lines = []
    for line in source.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            lines.append("")
        else:
            lines.append(line)
    return "\n".join(lines)
