"""Holdout data for gates: loading it (frame, file or data version) and checking it
against the model signature before anything is predicted."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlnb.errors import ValidationError

_TEXT_DTYPES = {"object", "str", "string", "string[python]", "string[pyarrow]"}


def read_table(path: str | os.PathLike[str]) -> Any:
    """A DataFrame from a CSV, parquet or JSON file."""
    import pandas as pd

    p = Path(path).expanduser()
    if not p.is_file():
        raise ValidationError(f"holdout file {p} does not exist.")
    suffix = p.suffix.lower()
    if suffix in (".csv", ".txt"):
        return pd.read_csv(p)
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(p)
    if suffix == ".json":
        return pd.read_json(p)
    raise ValidationError(
        f"cannot read holdout {p.name}: use a .csv, .parquet or .json file (or pass a DataFrame)."
    )


def split_holdout(
    frame: Any,
    signature: dict[str, Any] | None,
    target: str | None,
    extra_columns: Sequence[str] = (),
) -> tuple[Any, Any, list[str]]:
    """(X in signature order, y, notes). Missing columns are refused by name; extra ones are
    dropped with a note; dtypes are cast to the trained ones when that loses nothing."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(
            f"the holdout must be a DataFrame (with the target column), a file path or a data "
            f"version id; got a {type(frame).__name__}."
        )
    columns = [str(c) for c in frame.columns]
    if target not in columns:
        raise ValidationError(
            f"the holdout has no target column {target!r}; its columns are "
            f"{_names(columns)}. Pass target=... (--target) naming the label column."
        )
    missing_extra = [c for c in extra_columns if c not in columns]
    if missing_extra:
        raise ValidationError(
            f"the holdout lacks column(s) {', '.join(missing_extra)} that the gate's checks "
            f"need (e.g. MaxBias sensitive=...); its columns are {_names(columns)}."
        )
    signature = signature or {}
    inputs = [c["name"] for c in signature.get("inputs", [])]
    notes: list[str] = []
    if inputs:
        missing = [c for c in inputs if c not in columns]
        if missing:
            raise ValidationError(
                f"the holdout does not match the model signature: missing column(s) "
                f"{', '.join(missing)}. The model was trained on {_names(inputs)}."
            )
        extra = [c for c in columns if c not in inputs and c != target]
        if extra:
            notes.append(f"columns not used by the model were dropped: {', '.join(extra)}")
        X = frame.loc[:, inputs]
        X = _cast_to_signature(X, signature["inputs"])
    else:
        X, note = _unnamed_inputs(frame, target, signature.get("n_features"), extra_columns)
        if note:
            notes.append(note)
    return X, frame[target], notes


def _unnamed_inputs(
    frame: Any, target: str | None, n_features: int | None, extra_columns: Sequence[str]
) -> tuple[Any, str]:
    rest = [c for c in frame.columns if c != target]
    if n_features is None or len(rest) == n_features:
        return frame.loc[:, rest], "the model has no input names; all non-target columns used"
    without = [c for c in rest if c not in extra_columns]
    if len(without) == n_features:
        return frame.loc[:, without], "the model has no input names; sensitive columns left out"
    raise ValidationError(
        f"the model was trained on {n_features} unnamed features but the holdout has "
        f"{len(rest)} non-target columns ({_names([str(c) for c in rest])}). Register the model "
        "with X=<training DataFrame> so its signature names the columns."
    )


def _cast_to_signature(X: Any, inputs: list[dict[str, Any]]) -> Any:
    """Cast columns whose dtype differs from training when the values survive the cast."""
    import numpy as np
    import pandas as pd

    changed: dict[str, Any] = {}
    for spec in inputs:
        name, want = spec["name"], spec.get("dtype")
        if not want:
            continue
        have = str(X[name].dtype)
        if have == want or (have in _TEXT_DTYPES and want in _TEXT_DTYPES):
            continue
        col = X[name]
        try:
            target_dtype = pd.api.types.pandas_dtype(want)
        except TypeError:
            continue
        try:
            cast = col.astype(target_dtype)
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"holdout column {name!r} is {have} but the model was trained on {want}, and "
                f"it cannot be converted ({exc}). Fix the column's values or its type."
            ) from None
        if pd.api.types.is_integer_dtype(target_dtype) and pd.api.types.is_float_dtype(col):
            values = col.to_numpy()
            if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
                raise ValidationError(
                    f"holdout column {name!r} is {have} with missing or fractional values but "
                    f"the model was trained on {want}; converting would change the data."
                )
        changed[name] = cast
    if changed:
        X = X.assign(**changed)
    return X


def _names(columns: list[str], limit: int = 20) -> str:
    shown = ", ".join(columns[:limit])
    return shown + (f" (+{len(columns) - limit} more)" if len(columns) > limit else "")
