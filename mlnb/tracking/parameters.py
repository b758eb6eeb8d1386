"""The parameters of a papermill execution, seen from inside its kernel.

papermill runs the cell tagged ``parameters`` (the defaults) and, right after it, the cell it
injects (``# Parameters`` followed by one literal assignment per value). Both are in the
kernel's input history (``In``), so every run tracked in that execution can record them as
params, whether the notebook was started by ``mlnb pipeline run`` or by plain papermill. When
papermill injected nothing, an mlnb pipeline run (``MLNB_PIPELINE_RUN_ID`` set) still has
its notebook on disk: the defaults are read from the tagged cell there.
"""

from __future__ import annotations

import ast
import json
import os
from typing import Any

from mlnb.tracking.source import literal_assignments, strip_ipython_syntax

INJECTED_HEADER = "# Parameters"  # how papermill's Python translator opens the injected cell
NOTEBOOK_TAG = "parameters"  # papermill's tag for the cell of defaults
PARAMETERS_TAG = "mlnb.parameters"  # run tag: which of the run's params are the execution's


def execution_parameters(params: dict[str, Any], tags: dict[str, str]) -> dict[str, Any]:
    """The papermill parameters among a recorded run's params (named by its tag)."""
    names = [n for n in tags.get(PARAMETERS_TAG, "").split(",") if n]
    return {n: params[n] for n in names if n in params}


_notebook_defaults: dict[tuple[str, int], dict[str, Any]] = {}


def notebook_parameters(namespace: dict[str, Any]) -> dict[str, Any]:
    """Defaults of the parameters cell with papermill's injected values on top ({} when this
    kernel is not running a papermill execution)."""
    history = namespace.get("In")
    cells = [c for c in history if isinstance(c, str)] if isinstance(history, list) else []
    for i, source in enumerate(cells):
        if source.lstrip().startswith(INJECTED_HEADER):
            injected = _only_literals(source)
            if injected is None:
                continue
            defaults = _only_literals(cells[i - 1]) if i > 0 else None
            return {**(defaults or {}), **injected}
    if os.environ.get("MLNB_PIPELINE_RUN_ID"):
        return _tagged_cell_defaults(os.environ.get("MLNB_NOTEBOOK_PATH", ""))
    return {}


def _only_literals(source: str) -> dict[str, Any] | None:
    """The literal assignments of a cell made of nothing else (comments aside), else None."""
    try:
        tree = ast.parse(strip_ipython_syntax(source))
    except SyntaxError:
        return None
    for stmt in tree.body:
        value = stmt.value if isinstance(stmt, (ast.Assign, ast.AnnAssign)) else None
        if value is None:
            return None
        try:
            ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return None
    return literal_assignments(tree)


def _tagged_cell_defaults(path: str) -> dict[str, Any]:
    """Literal assignments of the code cell tagged ``parameters`` in the notebook at ``path``
    (read once per version of the file)."""
    try:
        key = (path, os.stat(path).st_mtime_ns)
    except OSError:
        return {}
    if key not in _notebook_defaults:
        _notebook_defaults[key] = _read_tagged_defaults(path)
    return _notebook_defaults[key]


def _read_tagged_defaults(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            nb = json.load(f)
    except (OSError, ValueError):
        return {}
    for cell in nb.get("cells", []) if isinstance(nb, dict) else []:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.get("cell_type") == "code" and NOTEBOOK_TAG in tags:
            source = cell.get("source", "")
            text = "".join(source) if isinstance(source, list) else str(source)
            try:
                return literal_assignments(ast.parse(strip_ipython_syntax(text)))
            except SyntaxError:
                return {}
    return {}
