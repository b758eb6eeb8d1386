"""Scoring requests in MLflow's formats, parsed and checked against the model's signature.

``/invocations`` takes what ``mlflow models serve`` takes: JSON with one of
``dataframe_split``, ``dataframe_records``, ``instances`` or ``inputs``, or a CSV body, so
clients written for MLflow work unchanged. Every body becomes rows in the signature's
column order with values cast to the signature's kinds; a problem becomes a
:class:`PayloadError` whose message names the column (and row) and says how to fix it.
Numbers are cast a column at a time with numpy; the server builds the model's frame
from these columns.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


class PayloadError(ValueError):
    """A request the server answers with a 4xx: ``status`` and a message saying what to fix."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Column:
    """One input column of the signature and how its values are cast."""

    name: str
    kind: str  # "number" | "integer" | "bool" | "text"

    @classmethod
    def of(cls, name: str, dtype: str | None) -> Column:
        text = str(dtype or "")
        if text.startswith(("int", "uint", "Int", "UInt")):
            return cls(name, "integer")
        if text.startswith(("float", "Float")):
            return cls(name, "number")
        if text in ("bool", "boolean"):
            return cls(name, "bool")
        return cls(name, "text")


@dataclass
class Parsed:
    """A request's values by column in signature order, plus what was dropped and asked for."""

    columns: list[str]
    data: dict[str, Any]
    n_rows: int
    dropped: list[str] = field(default_factory=list)
    probabilities: bool = False

    @property
    def rows(self) -> list[list[Any]]:
        """The values row by row (for tests and small logs)."""
        return [list(r) for r in zip(*(self.data[c] for c in self.columns), strict=True)]


def schema_of(signature: Mapping[str, Any]) -> list[Column]:
    """The columns a version's signature declares (empty when it declares none)."""
    return [Column.of(str(c["name"]), c.get("dtype")) for c in signature.get("inputs") or []]


def parse_body(
    body: bytes, content_type: str, schema: Sequence[Column], probabilities: bool = False
) -> Parsed:
    """Rows of an ``/invocations`` body checked against ``schema``."""
    kind = content_type.split(";")[0].strip().lower()
    if kind in ("text/csv", "application/csv"):
        names, rows = _csv_rows(body)
        return _checked(names, rows, schema, probabilities)
    if kind not in ("application/json", ""):
        raise PayloadError(
            f"unsupported content type {content_type!r}: send application/json (MLflow's "
            "dataframe_split, dataframe_records, instances or inputs) or text/csv.",
            status=415,
        )
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"the body is not valid JSON ({exc}).") from None
    if not isinstance(doc, dict):
        raise PayloadError(
            "the JSON body must be an object with one of the keys " + ", ".join(FORMATS) + "."
        )
    params = doc.get("params") or {}
    if isinstance(params, dict) and params.get("probabilities"):
        probabilities = True
    keys = [k for k in FORMATS if k in doc]
    if len(keys) != 1:
        found = ", ".join(sorted(doc)) or "none"
        raise PayloadError(
            "the JSON body needs exactly one of the keys "
            + ", ".join(FORMATS)
            + f" (MLflow's scoring formats); it has: {found}."
        )
    names, rows = _json_rows(keys[0], doc[keys[0]], [c.name for c in schema])
    return _checked(names, rows, schema, probabilities)


def _csv_rows(body: bytes) -> tuple[list[str], list[list[Any]]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("the CSV body is not UTF-8 text.") from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise PayloadError("the CSV body is empty: send a header line and rows.") from None
    rows: list[list[Any]] = [[v if v != "" else None for v in r] for r in reader if r]
    for i, r in enumerate(rows):
        if len(r) != len(header):
            raise PayloadError(
                f"CSV row {i} has {len(r)} values but the header names {len(header)} columns."
            )
    return header, rows


def _json_rows(key: str, value: Any, positional: list[str]) -> tuple[list[str], list[list[Any]]]:
    if key == "dataframe_split":
        if not isinstance(value, dict) or "data" not in value:
            raise PayloadError('dataframe_split must be {"columns": [...], "data": [[...], ...]}.')
        names = value.get("columns") or positional
        return _positional_rows(list(map(str, names)), value["data"])
    if key == "dataframe_records":
        return _record_rows(value, key)
    # instances / inputs: records, a list of lists, one record, or columns of values
    if isinstance(value, dict):
        if value and all(isinstance(v, list) for v in value.values()):
            return _columnar_rows(value, key)
        return _record_rows([value], key)
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return _record_rows(value, key)
    if isinstance(value, list):
        return _positional_rows(positional, value)
    raise PayloadError(f"{key} must be a list of records, a list of lists or an object of columns.")


def _positional_rows(names: list[str], data: Any) -> tuple[list[str], list[list[Any]]]:
    if not isinstance(data, list):
        raise PayloadError("data must be a list of rows (lists of values).")
    rows = [r if isinstance(r, list) else [r] for r in data]
    if not names and rows:
        raise PayloadError(
            'this model\'s signature names no columns: send dataframe_split with "columns".'
        )
    for i, r in enumerate(rows):
        if len(r) != len(names):
            raise PayloadError(
                f"row {i} has {len(r)} values but {len(names)} columns are expected "
                f"({', '.join(names)})."
            )
    return names, rows


def _record_rows(records: Any, key: str) -> tuple[list[str], list[list[Any]]]:
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise PayloadError(f"{key} must be a list of objects, one per row.")
    names: list[str] = []
    seen: set[str] = set()
    for r in records:
        for k in r:
            if k not in seen:
                seen.add(k)
                names.append(str(k))
    return names, [[r.get(n) for n in names] for r in records]


def _columnar_rows(columns: dict[str, Any], key: str) -> tuple[list[str], list[list[Any]]]:
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise PayloadError(f"the columns of {key} have different lengths ({sorted(lengths)}).")
    names = [str(k) for k in columns]
    return names, [list(vals) for vals in zip(*columns.values(), strict=True)]


def _checked(
    names: list[str], rows: list[list[Any]], schema: Sequence[Column], probabilities: bool
) -> Parsed:
    if not rows:
        raise PayloadError("the request has no rows: send at least one.")
    if not schema:  # a model without a declared signature takes the columns it is sent
        data = {n: [r[j] for r in rows] for j, n in enumerate(names)}
        return Parsed(names, data, len(rows), [], probabilities)
    where = {n: i for i, n in enumerate(names)}
    missing = [c.name for c in schema if c.name not in where]
    if missing:
        raise PayloadError(
            f"missing column{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)}: "
            f"the model expects {', '.join(c.name for c in schema)}."
        )
    wanted = {c.name for c in schema}
    dropped = [n for n in names if n not in wanted]
    data = {c.name: _cast_column([r[where[c.name]] for r in rows], c) for c in schema}
    return Parsed([c.name for c in schema], data, len(rows), dropped, probabilities)


def _cast_column(values: list[Any], column: Column) -> Any:
    """A column's values in its kind: numbers as one float array (NaN for missing) when they
    all read as numbers, else the first value that does not, named with its row."""
    if column.kind in ("number", "integer") and bool not in set(map(type, values)):
        try:
            return np.asarray(values, dtype=float)
        except (TypeError, ValueError):
            pass
    return [_cast(v, column, i) for i, v in enumerate(values)]


def _cast(value: Any, column: Column, row: int) -> Any:
    if value is None:
        return None if column.kind == "text" else math.nan
    try:
        if column.kind == "text":
            return value if isinstance(value, str) else str(value)
        if column.kind == "bool":
            return _as_bool(value)
        if isinstance(value, bool):
            raise ValueError
        return float(value)
    except (TypeError, ValueError):
        raise PayloadError(
            f"column {column.name!r}, row {row}: cannot read {value!r} as "
            f"{'a number' if column.kind in ('number', 'integer') else 'true/false'}."
        ) from None


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError(value)
