"""The notebook side of a pipeline: papermill's ``parameters`` cell, finding one to tag, and
reading the failing cell back out of an executed notebook."""

from __future__ import annotations

import ast
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlnb.errors import NotFoundError, ValidationError
from mlnb.tracking.source import literal_assignments, strip_ipython_syntax

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
ERROR_MARKER_TAG = "papermill-error-cell-tag"


@dataclass
class ParametersCell:
    """Where the parameters live: the cell index and the literal names it assigns."""

    index: int
    names: dict[str, Any]
    tagged: bool


def read_notebook(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The notebook at ``path`` as its JSON dict; a missing or unreadable file says so.

    Plain ``json``: importing nbformat costs about a second here (its schema validator), which
    ``%pipeline`` and the CLI should not pay.
    """
    p = Path(path)
    if not p.exists():
        raise NotFoundError(
            f"notebook {p} does not exist; give the path of an .ipynb file (relative to the "
            "current folder or absolute)."
        )
    if p.suffix != ".ipynb":
        raise ValidationError(f"{p} is not a notebook: a pipeline runs an .ipynb file.")
    try:
        nb = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValidationError(f"cannot read notebook {p}: {exc}") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValidationError(f"{p} is not a Jupyter notebook (no list of cells).")
    if nb.get("nbformat", 4) < 4:
        raise ValidationError(
            f"{p} uses notebook format {nb.get('nbformat')}; open and save it in JupyterLab "
            "to upgrade it to format 4."
        )
    return nb


def cell_source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def cell_tags(cell: dict[str, Any]) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def cell_literals(source: str) -> tuple[dict[str, Any], bool]:
    """Top-level literal assignments of a cell, and whether the cell holds nothing else."""

    try:
        tree = ast.parse(strip_ipython_syntax(source))
    except SyntaxError:
        return {}, False
    names = literal_assignments(tree)
    only = bool(tree.body) and all(_is_literal_statement(s) for s in tree.body)
    return names, only


def _is_literal_statement(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
        return True  # a docstring or a bare string comment
    value = None
    if isinstance(stmt, ast.Assign):
        value = stmt.value
    elif isinstance(stmt, ast.AnnAssign):
        value = stmt.value
    if value is None:
        return False
    try:
        ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def find_parameters_cell(nb: Any) -> ParametersCell | None:
    """The cell tagged ``parameters``, else the first code cell made only of literal
    assignments (a candidate to tag), else None."""
    for i, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") == "code" and PARAMETERS_TAG in cell_tags(cell):
            names, _ = cell_literals(cell_source(cell))
            return ParametersCell(i, names, True)
    for i, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") != "code":
            continue
        names, only = cell_literals(cell_source(cell))
        if names and only:
            return ParametersCell(i, names, False)
    return None


def require_parameters_cell(
    path: str | os.PathLike[str], tag: bool = False, flag: str = "--tag-parameters"
) -> tuple[ParametersCell, str | None]:
    """The notebook's parameters cell; with ``tag`` the literal-assignments cell gets the
    ``parameters`` tag in the file. Returns the cell and a message saying what was tagged."""
    nb = read_notebook(path)
    found = find_parameters_cell(nb)
    if found is not None and found.tagged:
        return found, None
    if found is None:
        raise ValidationError(
            f"{path} has no cell tagged 'parameters' (papermill's convention) and no cell "
            "made only of literal assignments that could become one. Add a first code cell "
            "such as `n_estimators = 100` and tag it 'parameters' (JupyterLab: Property "
            f"Inspector > Cell Tags), or put such assignments in one cell and pass {flag}."
        )
    described = describe_cell(found)
    if not tag:
        raise ValidationError(
            f"{path} has no cell tagged 'parameters'. {described} holds only literal "
            f"assignments; pass {flag} to tag it as the parameters cell, or tag a cell "
            "'parameters' yourself (JupyterLab: Property Inspector > Cell Tags)."
        )
    tag_cell(path, nb, found.index)
    found.tagged = True
    return found, f"tagged {described} of {Path(path).name} as the 'parameters' cell"


def describe_cell(cell: ParametersCell) -> str:
    names = ", ".join(f"{k} = {v!r}" for k, v in list(cell.names.items())[:6])
    more = ", ..." if len(cell.names) > 6 else ""
    return f"cell {cell.index + 1} ({names}{more})"


def tag_cell(path: str | os.PathLike[str], nb: dict[str, Any], index: int) -> None:
    """Add the ``parameters`` tag to one cell and write the notebook back atomically (in the
    layout Jupyter writes: one-space indent, a final newline)."""
    cell = nb["cells"][index]
    tags = cell_tags(cell)
    if PARAMETERS_TAG not in tags:
        tags.append(PARAMETERS_TAG)
    cell.setdefault("metadata", {})["tags"] = tags
    target = Path(path)
    tmp = target.with_name(f".{target.name}.mlnb-tmp")
    tmp.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, target)


def check_params_known(params: dict[str, Any], cell: ParametersCell, path: str) -> None:
    """Refuse parameters the parameters cell does not define (a typo would be ignored)."""
    if not cell.names:
        return
    unknown = [k for k in params if k not in cell.names]
    if unknown:
        raise ValidationError(
            f"parameter(s) {', '.join(map(repr, unknown))} are not set in the parameters cell "
            f"of {path} (cell {cell.index + 1} defines {', '.join(cell.names)}). Check the "
            "spelling or add them to that cell."
        )


def failing_cell_in_output(output_path: str | os.PathLike[str]) -> tuple[int, str] | None:
    """In a (partly) executed notebook, the source index and first line of the cell papermill
    marked as running or failed: the cell a kill or a timeout interrupted."""
    try:
        nb = json.loads(Path(output_path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    for i, cell in enumerate(nb.get("cells", [])):
        status = cell.get("metadata", {}).get("papermill", {}).get("status")
        if status in ("running", "failed"):
            return source_index(nb, i), first_line(cell_source(cell))
    return None


def source_index(nb: Any, output_index: int) -> int:
    """The index a cell of papermill's output notebook has in the source notebook (the
    injected-parameters cell does not count)."""
    added = sum(
        1
        for cell in nb["cells"][:output_index]
        if {INJECTED_TAG, ERROR_MARKER_TAG} & set(cell_tags(cell))
    )
    return output_index - added


def first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip():
            return line.strip()[:120]
    return ""


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def failure_text(
    ename: str | None,
    evalue: str | None,
    traceback: list[str] | None = None,
    cell_index: int | None = None,
    cell_line: str = "",
) -> str:
    """``Type: message (cell N: 'first line')``, never with an empty message: an exception
    raised without one (``assert``, ``raise RuntimeError()``) is described by the source line
    the traceback points at."""
    name = (ename or "").strip() or "Error"
    message = (evalue or "").strip()
    if not message:
        pointed = _pointed_line(traceback or [])
        message = (
            f"raised without a message at `{pointed}`" if pointed else "raised without a message"
        )
    where = ""
    if cell_index is not None:
        where = f" (cell {cell_index + 1}" + (f": {cell_line!r})" if cell_line else ")")
    return f"{name}: {message}{where}"


def _pointed_line(traceback: list[str]) -> str:
    """The source line IPython's traceback marks with an arrow (``----> 3 assert ok``)."""
    found = ""
    for chunk in traceback:
        for line in _ANSI.sub("", chunk).splitlines():
            match = re.match(r"\s*-*>\s*(\d+\s+)?(.*)", line)
            if match and line.lstrip().startswith(("-", ">")) and match.group(2).strip():
                found = match.group(2).strip()
    return found[:160]


def failure_in_output(output_path: str | os.PathLike[str]) -> str | None:
    """The error papermill saved in an executed notebook, described by :func:`failure_text`
    (None when the notebook holds no error output)."""
    try:
        nb = json.loads(Path(output_path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code" or ERROR_MARKER_TAG in cell_tags(cell):
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return failure_text(
                    out.get("ename"),
                    out.get("evalue"),
                    out.get("traceback"),
                    source_index(nb, i),
                    first_line(cell_source(cell)),
                )
    return None
