"""Label-free performance estimation: what a batch's accuracy (or error) most likely is
before its labels arrive.

Classifiers: confidence-based performance estimation (CBPE). The model's scores are
calibrated on the reference rows (isotonic regression, one-vs-rest per class), so a
calibrated score is the probability that a row belongs to a class. Summing those
probabilities over a batch gives its expected confusion matrix, from which accuracy,
precision, recall, F1 and ROC AUC follow, each with a 95% band: the spread of the realized
value if the batch's labels were drawn from the calibrated probabilities.

Regressors: direct loss estimation (DLE). A small ridge model of the reference's absolute
and squared errors, from the features and the prediction, gives each row's expected error;
their means estimate MAE and RMSE.

Both assume no concept drift: the relation between the inputs and the label is the
reference's (covariate shift is fine, that is what they are for). When that relation moves,
the estimate keeps reading the old world and only realized metrics can tell.

The fitted state is plain JSON (calibration knots, ridge coefficients), stored in the
monitor's config, so a monitor reopened in another process estimates without the model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from mlnb.errors import ValidationError

Z95 = 1.959964
EXACT_ROWS = 50_000  # smaller binary batches are estimated row by row (cheaper than the grid)
GRID = 4096  # score bins of a binary batch (calibrated probability is read per bin)
MAX_KNOTS = 400  # calibration knots kept per class (isotonic steps, thinned evenly)
CLASSIFICATION_ESTIMATES = ("accuracy", "precision", "recall", "f1", "roc_auc")
REGRESSION_ESTIMATES = ("mae", "rmse")
DLE_CATEGORIES = 12
MIN_EXPECTED = 1e-9  # expected rows below this count as none (a rate of 0/0 has no value)  # most frequent categories per text column the loss model sees


# -- classification: CBPE ---------------------------------------------------------------------


def fit_cbpe(scores: Any, labels: Any, classes: Sequence[Any] | None = None) -> dict[str, Any]:
    """Calibrate a classifier's scores on the reference rows; returns the JSON state.

    ``scores`` is ``predict_proba`` output (rows x classes) or, for a binary model, the
    positive class's probability (1-D). ``classes`` names the score columns (the model's
    ``classes_``); by default the sorted distinct labels.
    """
    import numpy as np

    y = np.asarray(labels)
    known = _labelled(y)
    y = y[known]
    p = _score_matrix(scores)[known]
    if len(y) < 20:
        raise ValidationError(
            f"performance estimation needs at least 20 labelled reference rows, got {len(y)}."
        )
    names = list(classes) if classes is not None else sorted(np.unique(y).tolist())
    if p.shape[1] == 1:
        if len(names) != 2:
            raise ValidationError(
                "1-D reference scores mean a binary model, but the labels have "
                f"{len(names)} classes; pass predict_proba's full output."
            )
        p = np.column_stack([1 - p[:, 0], p[:, 0]])
        names = [names[0], _positive(names)] if _positive(names) != names[0] else names[::-1]
    if p.shape[1] != len(names):
        raise ValidationError(
            f"reference scores have {p.shape[1]} columns but there are {len(names)} classes "
            f"({', '.join(map(str, names[:10]))}); pass the model's classes_ in that order."
        )
    knots = []
    for j, name in enumerate(names):
        if len(names) == 2 and j == 0:
            knots.append({"x": [0.0, 1.0], "y": [1.0, 0.0]})  # binary: P(neg) = 1 - P(pos)
            continue
        x_k, y_k = _thin(*isotonic_knots(p[:, j], (y == name).astype(float)))
        knots.append({"x": x_k, "y": y_k})
    return {"kind": "cbpe", "classes": [_plain(c) for c in names], "knots": knots}


def isotonic_knots(x: Any, y: Any) -> tuple[Any, Any]:
    """The knots of ``IsotonicRegression(y_min=0, y_max=1).fit(x, y)`` (its X_thresholds_,
    y_thresholds_), computed directly: ties in x averaged (values closer than float64
    resolution count as one, as sklearn does), pool-adjacent-violators by scipy (sklearn's own
    solver), flat runs trimmed to their ends. sklearn's per-call validation took most of the
    fit at monitoring sizes; predictions are ``np.interp`` on these knots."""
    import numpy as np

    order = np.argsort(x)
    xs, ys = np.asarray(x, dtype=float)[order], np.asarray(y, dtype=float)[order]
    n = len(xs)
    eps = np.finfo(np.float64).resolution
    starts = np.flatnonzero(np.r_[True, np.diff(xs) >= eps])
    ends = np.r_[starts[1:], n]
    if (xs[ends - 1] - xs[starts] >= eps).any():  # a chain of sub-resolution steps
        starts = _tie_groups(xs, eps)
        ends = np.r_[starts[1:], n]
    weights = (ends - starts).astype(float)
    means = np.add.reduceat(ys, starts) / weights
    fitted = np.clip(_pool_adjacent_violators(means, weights), 0.0, 1.0)
    keep = np.ones(len(fitted), dtype=bool)
    keep[1:-1] = (fitted[1:-1] != fitted[:-2]) | (fitted[1:-1] != fitted[2:])
    return xs[starts][keep], fitted[keep]


def _pool_adjacent_violators(values: Any, weights: Any) -> Any:
    """The weighted non-decreasing least-squares fit of ``values``: scipy's solver (1.12+),
    else scikit-learn's function of the same algorithm (scipy 1.11, the floor)."""
    import numpy as np

    try:
        from scipy.optimize import isotonic_regression
    except ImportError:
        from sklearn.isotonic import isotonic_regression as sklearn_isotonic

        return np.asarray(sklearn_isotonic(values, sample_weight=weights), dtype=float)
    return np.asarray(isotonic_regression(values, weights=weights).x, dtype=float)


def _tie_groups(xs: Any, eps: float) -> Any:
    """Group starts as sklearn forms them: a group runs while x is within eps of its first."""
    import numpy as np

    starts = [0]
    first = xs[0]
    for i in range(1, len(xs)):
        if xs[i] - first >= eps:
            starts.append(i)
            first = xs[i]
    return np.asarray(starts)


def estimate_classification(
    state: Mapping[str, Any], scores: Any, predictions: Any = None
) -> dict[str, dict[str, float]]:
    """Estimated accuracy, precision, recall, F1 (and ROC AUC for binary models) of a batch
    from its scores alone, each as ``{"value", "low", "high"}``."""
    import numpy as np

    classes = list(state["classes"])
    if len(classes) == 2:
        return _estimate_binary(state, _score_matrix(scores), predictions)
    p = _calibrated(state, _score_matrix(scores))
    if p.shape[1] != len(classes):
        raise ValidationError(
            f"scores have {p.shape[1]} columns but the monitor was calibrated on "
            f"{len(classes)} classes ({', '.join(map(str, classes[:10]))})."
        )
    n = len(p)
    if n == 0:
        return {}
    raw = _score_matrix(scores)
    if raw.shape[1] == 1:
        raw = np.column_stack([1 - raw[:, 0], raw[:, 0]])
    pred_idx = _predicted_index(classes, raw, predictions)
    correct = p[np.arange(n), pred_idx]  # probability each row's prediction is right
    acc = float(correct.mean())
    out = {"accuracy": _band(acc, math.sqrt(float((correct * (1 - correct)).sum())) / n)}
    out.update(_macro_rates(p, pred_idx))
    return out


def _estimate_binary(
    state: Mapping[str, Any], raw: Any, predictions: Any
) -> dict[str, dict[str, float]]:
    """A binary batch's estimates. Up to EXACT_ROWS rows: row by row in score order. Larger
    batches in one pass: rows are counted per (score bin, predicted class) on a GRID-bin grid
    over the reference's score range, and every estimate is computed from those counts with
    each cell's calibrated probability (linear in rows, no sort)."""
    import numpy as np

    s = raw[:, -1]  # the positive class's score
    n = len(s)
    if n == 0:
        return {}
    knot = state["knots"][1]
    positive = _positive_predictions(list(state["classes"]), raw, predictions)
    if n <= EXACT_ROWS:  # each row its own "bin": exact
        steps = _Steps(knot)
        seg = np.searchsorted(steps.x, s, side="right")
        p_rows, sloped = steps.calibrate(s, seg)
        w = positive.astype(float)
        auc = steps.auc(p_rows, seg, sloped)
        return _binary_from_counts(p_rows, p_rows, 1 - w, w, n, auc)
    lo, hi = float(knot["x"][0]), float(knot["x"][-1])
    width = (hi - lo) or 1.0
    idx = ((s - lo) * (GRID / width)).astype(np.intp)
    np.clip(idx, 0, GRID - 1, out=idx)
    key = idx * 2 + positive
    counts = np.bincount(key, minlength=2 * GRID).astype(float)
    sums = np.bincount(key, weights=s, minlength=2 * GRID)
    # each (bin, predicted class) cell is read at its rows' mean score: exact wherever the
    # calibration map is linear across the bin
    centers = np.repeat(lo + (np.arange(GRID) + 0.5) * (width / GRID), 2)
    mean_score = np.divide(sums, counts, out=centers, where=counts > 0)
    p = _calibrate(mean_score, knot).reshape(GRID, 2)
    c = counts.reshape(GRID, 2)
    p_neg, p_pos, neg_pred, pos_pred = p[:, 0], p[:, 1], c[:, 0], c[:, 1]
    pos = p_neg * neg_pred + p_pos * pos_pred
    neg = (1 - p_neg) * neg_pred + (1 - p_pos) * pos_pred
    return _binary_from_counts(p_neg, p_pos, neg_pred, pos_pred, n, _binned_auc(pos, neg))


class _Steps:
    """A calibration map read as steps: segment j of the knots (0 below the first knot, k
    from the last) is flat when both its ends have the same probability (isotonic fits are
    mostly flat steps). Rows on flat segments are read off by segment, without interpolation,
    and form one tie group each for the ROC AUC."""

    def __init__(self, knot: Mapping[str, Any]) -> None:
        import numpy as np

        self.x = np.asarray(knot["x"], dtype=float)
        self.y = np.asarray(knot["y"], dtype=float)
        k = len(self.x)
        self.flat = np.ones(k + 1, dtype=bool)
        self.flat[1:k] = self.y[:-1] == self.y[1:]
        self.level = np.r_[self.y[0], self.y]  # each segment's left-end probability

    def calibrate(self, s: Any, seg: Any) -> tuple[Any, Any]:
        """Calibrated probabilities of scores ``s`` in segments ``seg`` (exactly np.interp's),
        and the indices of the rows on sloped segments."""
        import numpy as np

        p = self.level[seg]
        sloped = np.flatnonzero(~self.flat[seg])
        if len(sloped):
            p[sloped] = np.interp(s[sloped], self.x, self.y)
        return p, sloped

    def auc(self, p: Any, seg: Any, sloped: Any) -> dict[str, float]:
        """Exact ROC AUC of the rows without sorting them all. Calibration is non-decreasing,
        so score order is p order, and rows sharing a p add the same ROC steps in any order:
        each flat segment's rows are one group; only rows on sloped segments are sorted,
        among the groups."""
        import numpy as np

        counts = np.bincount(seg, minlength=len(self.flat))[self.flat]
        levels = self.level[self.flat]
        alone = p[sloped]
        values = np.concatenate([levels, alone])
        pos = np.concatenate([counts * levels, alone])
        neg = np.concatenate([counts * (1 - levels), 1 - alone])
        order = np.argsort(values, kind="stable")
        return _binned_auc(pos[order], neg[order])


def _binary_from_counts(
    p_neg: Any, p_pos: Any, neg_pred: Any, pos_pred: Any, n: int, auc: Any = None
) -> dict[str, Any]:
    """Expected confusion matrix, rates and their bands from per-bin counts (``p_neg``,
    ``p_pos``: the positive-class probability of the bin's rows predicted negative/positive),
    with the ROC AUC band when given."""
    v_neg, v_pos = p_neg * (1 - p_neg), p_pos * (1 - p_pos)
    tp, fn = float(p_pos @ pos_pred), float(p_neg @ neg_pred)
    tn = float(neg_pred.sum()) - fn
    var_tp, var_fn = float(v_pos @ pos_pred), float(v_neg @ neg_pred)
    out = {"accuracy": _band((tp + tn) / n, math.sqrt(var_tp + var_fn) / n)}
    n_pp = float(pos_pred.sum())
    if n_pp > 0:
        out["precision"] = _band(tp / n_pp, math.sqrt(var_tp) / n_pp)
    if tp + fn > MIN_EXPECTED:
        t = tp + fn
        se = math.sqrt((fn / t) ** 2 * var_tp + (tp / t) ** 2 * var_fn) / t
        out["recall"] = _band(tp / t, se)
    if n_pp + tp + fn > MIN_EXPECTED:
        t = n_pp + tp + fn
        grad_tp, grad_fn = 2 * ((n_pp + fn) / t) / t, -2 * (tp / t) / t
        se = math.sqrt(grad_tp**2 * var_tp + grad_fn**2 * var_fn)
        out["f1"] = _band(2 * tp / (n_pp + tp + fn), se)
    if auc is not None:
        out["roc_auc"] = auc
    return out


def correct_probability(state: Mapping[str, Any], scores: Any, predictions: Any = None) -> Any:
    """Per row, the calibrated probability that the model's prediction is right."""
    import numpy as np

    raw = _score_matrix(scores)
    p = _calibrated(state, raw)
    if raw.shape[1] == 1:
        raw = np.column_stack([1 - raw[:, 0], raw[:, 0]])
    idx = _predicted_index(list(state["classes"]), raw, predictions)
    return p[np.arange(len(p)), idx]


def _binary_rates(p_pos: Any, predicted_pos: Any) -> dict[str, dict[str, float]]:
    """One class against the rest: precision, recall and F1 with their bands."""
    w = predicted_pos.astype(float)
    rates = _binary_from_counts(p_pos, p_pos, 1 - w, w, len(p_pos))
    return {k: rates[k] for k in ("precision", "recall", "f1") if k in rates}


def _macro_rates(p: Any, pred_idx: Any) -> dict[str, dict[str, float]]:
    """Macro-averaged precision, recall and F1 of a multiclass batch (bands from the mean
    of the per-class variances)."""
    per: dict[str, list[dict[str, float]]] = {"precision": [], "recall": [], "f1": []}
    for c in range(p.shape[1]):
        rates = _binary_rates(p[:, c], pred_idx == c)
        for name in per:
            per[name].append(rates.get(name, {"value": 0.0, "low": 0.0, "high": 0.0}))
    out = {}
    k = p.shape[1]
    for name, items in per.items():
        value = sum(i["value"] for i in items) / k
        se = math.sqrt(sum(((i["high"] - i["low"]) / (2 * Z95)) ** 2 for i in items)) / k
        out[name] = _band(value, se)
    return out


def _binned_auc(pos: Any, neg: Any) -> dict[str, float]:
    """ROC AUC of the expected ROC curve, bins in increasing score order (each row counts p
    as a positive and 1 - p as a negative), Hanley-McNeil standard error. The trapezoid
    area is the chance a positive outranks a negative (half for the same bin):
    sum(pos * (negatives below + neg / 2)) / (n1 * n0)."""
    import numpy as np

    n1, n0 = float(pos.sum()), float(neg.sum())
    if n1 <= MIN_EXPECTED or n0 <= MIN_EXPECTED:
        return _band(math.nan, 0.0)
    below = np.cumsum(neg)
    below -= neg / 2
    auc = float(pos @ below) / (n1 * n0)
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2)) / (n1 * n0)
    return _band(auc, math.sqrt(max(var, 0.0)))


def _calibrate(scores: Any, knot: Mapping[str, Any]) -> Any:
    """Calibrated probabilities of one class's scores (the knots arrive as JSON lists;
    np.interp converts lists several times slower than asarray does)."""
    import numpy as np

    return np.interp(scores, np.asarray(knot["x"], dtype=float), np.asarray(knot["y"], dtype=float))


def _calibrated(state: Mapping[str, Any], p: Any) -> Any:
    """Calibrated class probabilities (rows sum to 1)."""
    import numpy as np

    if p.shape[1] == 1:
        p = np.column_stack([1 - p[:, 0], p[:, 0]])
    out = np.empty_like(p, dtype=float)
    if out.shape[1] == 2:  # binary: the positive class's calibration decides both
        knot = state["knots"][1]
        out[:, 1] = _calibrate(p[:, 1], knot)
        out[:, 0] = 1 - out[:, 1]
        return out
    for j, knot in enumerate(state["knots"][: p.shape[1]]):
        out[:, j] = _calibrate(p[:, j], knot)
    total = out.sum(axis=1, keepdims=True)
    return np.divide(out, total, out=np.full_like(out, 1 / out.shape[1]), where=total > 0)


def _predicted_index(classes: list[Any], raw: Any, predictions: Any) -> Any:
    """Column index of each row's predicted class: the given predictions, else the top score."""
    import numpy as np

    if predictions is None:
        return raw.argmax(axis=1)
    import pandas as pd

    preds = np.asarray(predictions)
    found = pd.Index(classes).get_indexer(preds)
    if (found < 0).any():  # e.g. "1" for 1: match by text
        by_text = pd.Index([str(c) for c in classes]).get_indexer(preds.astype(str))
        found = np.where(found < 0, by_text, found)
    if (found < 0).any():
        bad = preds[found < 0][0]
        raise ValidationError(
            f"prediction {_plain(bad)!r} is not one of the calibrated classes "
            f"({', '.join(map(str, classes[:10]))})."
        )
    return found


def _positive_predictions(classes: list[Any], raw: Any, predictions: Any) -> Any:
    """Which rows a binary model predicts positive (a fast path for numeric labels)."""
    import numpy as np

    if predictions is None:
        return raw[:, -1] > 0.5
    preds = np.asarray(predictions)
    numeric = all(isinstance(c, (int, float, bool)) for c in classes)
    if numeric and preds.dtype.kind in "biuf":
        positive = preds == classes[1]
        if ((preds == classes[0]) | positive).all():
            return positive
    return _predicted_index(classes, raw, predictions) == 1


def _score_matrix(scores: Any) -> Any:
    import numpy as np

    p = np.asarray(scores, dtype=float)
    if p.ndim == 1:
        p = p[:, None]
    if p.ndim != 2:
        raise ValidationError(f"scores must be 1-D or rows x classes, got shape {p.shape}.")
    return p if np.isfinite(p).all() else np.nan_to_num(p, nan=0.0)


def _thin(x: Any, y: Any) -> tuple[list[float], list[float]]:
    """At most MAX_KNOTS calibration knots (first and last kept)."""
    import numpy as np

    if len(x) > MAX_KNOTS:
        keep = np.unique(np.linspace(0, len(x) - 1, MAX_KNOTS).round().astype(int))
        x, y = x[keep], y[keep]
    return [float(v) for v in x], [float(v) for v in y]


def _positive(names: Sequence[Any]) -> Any:
    for candidate in (1, True, "yes", "Yes", "churned", "1"):
        if candidate in list(names):
            return candidate
    return names[-1]


def _plain(value: Any) -> Any:
    """A JSON-safe class name (numpy scalars become Python ones)."""
    return value.item() if hasattr(value, "item") else value


def _labelled(y: Any) -> Any:
    import pandas as pd

    return pd.notna(y)


def _band(value: float, se: float) -> dict[str, float]:
    return {"value": float(value), "low": float(value - Z95 * se), "high": float(value + Z95 * se)}


# -- regression: DLE ----------------------------------------------------------------------------


def fit_dle(frame: Any, predictions: Any, labels: Any) -> dict[str, Any]:
    """Fit ridge models of the reference's absolute and squared errors; returns JSON state."""
    import numpy as np

    y = np.asarray(labels, dtype=float)
    yhat = np.asarray(predictions, dtype=float)
    known = np.isfinite(y) & np.isfinite(yhat)
    if known.sum() < 20:
        raise ValidationError(
            "loss estimation needs at least 20 labelled reference rows with predictions, "
            f"got {int(known.sum())}."
        )
    encoding = _fit_encoding(frame[known] if hasattr(frame, "loc") else frame, yhat[known])
    err = y[known] - yhat[known]
    models = {}
    for name, target in (("abs", np.abs(err)), ("sq", err**2)):
        x = _design(encoding, frame[known], yhat[known], name)
        coef = _ridge(x, target)
        residual = target - x @ coef
        models[name] = {"coef": coef.tolist(), "resid_var": float(residual.var())}
    return {"kind": "dle", "encoding": encoding, "models": models}


def estimate_regression(
    state: Mapping[str, Any], frame: Any, predictions: Any
) -> dict[str, dict[str, float]]:
    """Estimated MAE and RMSE of a batch from its features and predictions alone."""
    import numpy as np

    yhat = np.asarray(predictions, dtype=float)
    ok = np.isfinite(yhat)
    if not ok.any():
        return {}
    n = int(ok.sum())
    out = {}
    abs_model, sq_model = state["models"]["abs"], state["models"]["sq"]
    x_abs = _design(state["encoding"], frame[ok], yhat[ok], "abs")
    x_sq = _design(state["encoding"], frame[ok], yhat[ok], "sq")
    abs_err = np.clip(x_abs @ np.asarray(abs_model["coef"]), 0, None)
    sq_err = np.clip(x_sq @ np.asarray(sq_model["coef"]), 0, None)
    mae = float(abs_err.mean())
    out["mae"] = _band(mae, math.sqrt((abs_model["resid_var"] + abs_err.var()) / n))
    mse = float(sq_err.mean())
    se_mse = math.sqrt((sq_model["resid_var"] + sq_err.var()) / n)
    rmse = math.sqrt(mse)
    out["rmse"] = {
        "value": rmse,
        "low": math.sqrt(max(mse - Z95 * se_mse, 0.0)),
        "high": math.sqrt(mse + Z95 * se_mse),
    }
    return out


def _fit_encoding(frame: Any, yhat: Any) -> dict[str, Any]:
    """How features become the loss model's inputs: numeric columns standardized (missing
    as the median), text columns as indicators of their most frequent values."""
    import numpy as np
    import pandas as pd

    numeric, categorical = {}, {}
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
            top = s.astype(str).value_counts().index[:DLE_CATEGORIES]
            categorical[str(col)] = [str(v) for v in top]
            continue
        v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        if len(v) == 0:
            continue
        std = float(v.std()) or 1.0
        numeric[str(col)] = [float(np.median(v)), float(v.mean()), std]
    scale = float(np.std(yhat)) or 1.0
    return {"numeric": numeric, "categorical": categorical, "pred": [float(np.mean(yhat)), scale]}


def _design(encoding: Mapping[str, Any], frame: Any, yhat: Any, loss: str) -> Any:
    """The loss model's input matrix: intercept, then the prediction and each numeric
    feature standardized with its size (absolute value for the absolute-error model, square
    for the squared-error one, so errors that grow away from the centre extrapolate at the
    right rate), then category indicators."""
    import numpy as np
    import pandas as pd

    n = len(yhat)
    mean, scale = encoding["pred"]
    z = (np.asarray(yhat, dtype=float) - mean) / scale
    size = np.abs if loss == "abs" else np.square
    cols = [np.ones(n), z, size(z)]
    for col, (median, mu, std) in encoding["numeric"].items():
        if col in frame.columns:
            v = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
            v = np.where(np.isfinite(v), v, median)
        else:
            v = np.full(n, median)
        standardized = (v - mu) / std
        cols.extend((standardized, size(standardized)))
    for col, values in encoding["categorical"].items():
        s = frame[col].astype(str).to_numpy() if col in frame.columns else np.full(n, "")
        cols.extend((s == v).astype(float) for v in values)
    return np.column_stack(cols)


def _ridge(x: Any, y: Any, alpha: float = 1.0) -> Any:
    import numpy as np

    penalty = alpha * np.eye(x.shape[1])
    penalty[0, 0] = 0.0  # the intercept is not shrunk
    return np.linalg.solve(x.T @ x + penalty, x.T @ y)
