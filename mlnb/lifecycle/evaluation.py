"""One prediction pass over a holdout, shared by every check of a gate.

The gate's cost should be the model's own prediction time plus a little: each response
(``predict``, ``predict_proba``, ``decision_function``) is computed at most once and every
metric, bias and regression check reads from that cache. For classifiers whose ``predict``
is by definition ``classes_[argmax(predict_proba)]`` the labels are derived from the
probabilities instead of predicting twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from mlnb.errors import ValidationError

# Exact classes (not subclasses) whose predict() is classes_.take(argmax(predict_proba(X))),
# checked against their scikit-learn source; a Pipeline qualifies when its last step does.
ARGMAX_PROBA_CLASSIFIERS = frozenset(
    {
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._classes.ExtraTreeClassifier",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "sklearn.calibration.CalibratedClassifierCV",
    }
)
METRIC_ALIASES = {
    "auc": "roc_auc",
    "rmse": "neg_root_mean_squared_error",
    "mse": "neg_mean_squared_error",
    "mae": "neg_mean_absolute_error",
    "mape": "neg_mean_absolute_percentage_error",
    "medae": "neg_median_absolute_error",
    "logloss": "neg_log_loss",
    "brier": "neg_brier_score",
}


@dataclass(frozen=True)
class MetricSpec:
    """How to compute one metric from cached responses (a scikit-learn scorer, unpacked)."""

    name: str
    scorer_name: str
    score_func: Any
    kwargs: tuple[tuple[str, Any], ...]
    response_method: str | tuple[str, ...]
    greater_is_better: bool
    pos_label: Any = None
    scorer: Any = None

    @property
    def key(self) -> str:
        return self.scorer_name


def resolve_metric(metric: Any, greater_is_better: bool | None = None) -> MetricSpec:
    """A MetricSpec from a scikit-learn scorer name (``accuracy``, ``f1``, ``roc_auc``,
    ``rmse``, ``r2``...) or a callable ``f(y_true, y_pred)``."""
    if callable(metric):
        name = getattr(metric, "__name__", type(metric).__name__)
        return MetricSpec(
            name,
            f"callable:{getattr(metric, '__module__', '')}.{name}",
            metric,
            (),
            "predict",
            True if greater_is_better is None else greater_is_better,
        )
    if not isinstance(metric, str) or not metric.strip():
        raise ValidationError(
            f"metric must be a scikit-learn scorer name (accuracy, f1, roc_auc, rmse, r2, ...) "
            f"or a function f(y_true, y_pred); got {metric!r}."
        )
    from sklearn.metrics import get_scorer, get_scorer_names

    key = METRIC_ALIASES.get(metric.strip().lower(), metric.strip().lower())
    names = set(get_scorer_names())
    if key not in names and f"neg_{key}" in names:
        key = f"neg_{key}"
    if key not in names:
        close = sorted(n for n in names if metric.lower() in n)[:5]
        raise ValidationError(
            f"unknown metric {metric!r}: use a scikit-learn scorer name such as accuracy, f1, "
            "roc_auc, rmse, mae or r2 (all names: sklearn.metrics.get_scorer_names())"
            + (f"; close matches: {', '.join(close)}" if close else "")
            + "."
        )
    scorer = get_scorer(key)
    # The cached path unpacks the scorer (scikit-learn >= 1.4 keeps the function, sign and
    # response method on it). A scorer that does not say which response it needs is called
    # whole: it predicts again but its value is right; guessing ``predict`` would score
    # roc_auc or log-loss on hard labels and silently give wrong numbers.
    func = getattr(scorer, "_score_func", None)
    sign = getattr(scorer, "_sign", 1)
    greater = sign > 0 if greater_is_better is None else greater_is_better
    response = getattr(scorer, "_response_method", None)
    if func is None or response is None:
        return MetricSpec(metric, key, None, (), "predict", greater, scorer=scorer)
    pos_label = scorer._get_pos_label() if hasattr(scorer, "_get_pos_label") else None
    if isinstance(response, list):
        response = tuple(response)
    return MetricSpec(
        metric,
        key,
        func,
        tuple(sorted(getattr(scorer, "_kwargs", {}).items())),
        response,
        greater,
        pos_label,
        scorer,
    )


def full_class_name(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def final_estimator(model: Any) -> Any:
    steps = getattr(model, "steps", None)
    if steps and type(model).__name__ == "Pipeline":
        return final_estimator(steps[-1][1])
    return model


class Evaluation:
    """A model's responses on one holdout, each computed once and timed."""

    def __init__(self, model: Any, X: Any, y: Any, frame: Any = None, label: str = "candidate"):
        self.model = model
        self.X = X
        self.y = y
        self.frame = frame if frame is not None else X
        self.label = label
        self.predict_seconds = 0.0
        self._raw: dict[str, Any] = {}
        self._metrics: dict[str, float] = {}
        self._derive_labels = False

    # -- what kind of model --------------------------------------------------------------

    @property
    def is_classifier(self) -> bool:
        """A scikit-learn classifier, or any model exposing ``classes_``."""
        from sklearn.base import is_classifier

        try:
            if is_classifier(self.model):
                return True
        except Exception:
            pass
        return getattr(self.model, "classes_", None) is not None

    @property
    def classes(self) -> Any:
        return getattr(self.model, "classes_", None)

    def available(self, method: str) -> bool:
        return hasattr(self.model, method)

    def pick_method(self, response_method: str | tuple[str, ...]) -> str:
        options = (response_method,) if isinstance(response_method, str) else response_method
        for name in options:
            if self.available(name):
                return name
        raise ValidationError(
            f"the {self.label} model ({type(self.model).__name__}) has none of "
            f"{', '.join(options)}, which this metric needs."
        )

    # -- responses -----------------------------------------------------------------------

    def plan(self, methods: set[str]) -> None:
        """Decide up front how to serve ``methods`` with as few passes as possible."""
        if {"predict", "predict_proba"} <= methods and self._labels_follow_proba():
            self._derive_labels = True

    def _labels_follow_proba(self) -> bool:
        final = final_estimator(self.model)
        classes = self.classes
        return (
            full_class_name(final) in ARGMAX_PROBA_CLASSIFIERS
            and classes is not None
            and getattr(final, "n_outputs_", 1) == 1
        )

    def raw(self, method: str) -> Any:
        """``model.<method>(X)``, computed once (labels may come from the probabilities)."""
        if method in self._raw:
            return self._raw[method]
        if method == "predict" and self._derive_labels:
            import numpy as np

            proba = self.raw("predict_proba")
            out = np.asarray(self.classes).take(np.argmax(proba, axis=1), axis=0)
        else:
            start = time.perf_counter()
            try:
                out = getattr(self.model, method)(self.X)
            except Exception as exc:
                raise ValidationError(
                    f"the {self.label} model failed in {method} on the holdout "
                    f"({type(exc).__name__}: {exc}). Check that the holdout has the columns "
                    "and types the model was trained on."
                ) from exc
            self.predict_seconds += time.perf_counter() - start
        self._raw[method] = out
        return out

    @property
    def predictions(self) -> Any:
        return self.raw("predict")

    def response(self, response_method: str | tuple[str, ...], pos_label: Any = None) -> Any:
        """Responses shaped the way scikit-learn scorers expect them."""
        import numpy as np

        method = self.pick_method(response_method)
        values = self.raw(method)
        classes = self.classes
        if not self.is_classifier or classes is None or len(classes) != 2:
            return values
        positive = classes[-1] if pos_label is None else pos_label
        if positive not in list(classes):
            raise ValidationError(
                f"positive label {positive!r} is not one of the model's classes "
                f"{list(classes)}; pass the right pos_label."
            )
        if method in ("predict_proba", "predict_log_proba"):
            return np.asarray(values)[:, list(classes).index(positive)]
        if method == "decision_function" and positive == classes[0]:
            return -np.asarray(values)
        return values

    def needed_methods(self, spec: MetricSpec) -> set[str]:
        if spec.score_func is None:
            return set()
        return {self.pick_method(spec.response_method)}

    def metric(self, spec: MetricSpec) -> float:
        """The metric's value (natural sign: RMSE is positive), computed once per spec."""
        if spec.key in self._metrics:
            return self._metrics[spec.key]
        try:
            if spec.score_func is None:
                value = float(spec.scorer(self.model, self.X, self.y))
                value = value if spec.greater_is_better else -value
            else:
                predicted = self.response(spec.response_method, spec.pos_label)
                fast = fast_binary_metric(spec, self._y_array(), predicted)
                if fast is not None:
                    value = fast
                else:
                    value = float(spec.score_func(self.y, predicted, **dict(spec.kwargs)))
        except ValidationError:
            raise
        except Exception as exc:
            raise ValidationError(
                f"could not compute {spec.name} for the {self.label} model "
                f"({type(exc).__name__}: {exc})."
                + (
                    " For a multi-class target use f1_macro / f1_weighted (or precision_/recall_ "
                    "variants) or roc_auc_ovr."
                    if "binary" in str(exc) or "multiclass" in str(exc)
                    else ""
                )
            ) from exc
        self._metrics[spec.key] = value
        return value

    def _y_array(self) -> Any:
        if not hasattr(self, "_y_values"):
            import numpy as np

            self._y_values = np.asarray(self.y)
        return self._y_values

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self._metrics)

    # -- latency --------------------------------------------------------------------------

    def latency(self, n_rows: int, batch_size: int, n_batches: int) -> dict[str, Any]:
        """p50/p95/max milliseconds of ``predict`` on single rows and on batches."""
        import numpy as np

        total = len(self.X)
        if total == 0:
            raise ValidationError("the holdout is empty; a latency check needs rows to predict.")
        out: dict[str, Any] = {}
        predict = self.model.predict
        if n_rows:
            idx = np.linspace(0, total - 1, num=min(n_rows, total)).astype(int)
            rows = [_rows(self.X, i, i + 1) for i in idx]
            predict(rows[0])  # warm-up, not counted
            out["row"] = _timings(predict, rows)
        if n_batches:
            size = max(1, min(batch_size, total))
            starts = np.linspace(0, total - size, num=n_batches).astype(int)
            batches = [_rows(self.X, s, s + size) for s in starts]
            out["batch"] = _timings(predict, batches)
            out["batch"]["batch_size"] = size
        return out


def _rows(X: Any, start: int, stop: int) -> Any:
    return X.iloc[start:stop] if hasattr(X, "iloc") else X[start:stop]


def _timings(predict: Any, inputs: list[Any]) -> dict[str, Any]:
    import numpy as np

    times = np.empty(len(inputs))
    clock = time.perf_counter
    for i, item in enumerate(inputs):
        start = clock()
        predict(item)
        times[i] = clock() - start
    ms = times * 1000.0
    return {
        "n": len(inputs),
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "max_ms": float(ms.max()),
        "total_s": float(times.sum()),
    }


# -- fast paths for the common binary metrics ------------------------------------------------
# scikit-learn's metric functions validate their inputs thoroughly, which costs a few ms per
# call at 10k rows: several times the gate's whole budget next to a fast model. For the
# usual binary case the same numbers come straight from counts (and ranks, for ROC AUC);
# anything unusual (weights, averages, missing values, more labels, undefined ratios) falls
# back to scikit-learn itself. tests/models/test_gates.py checks both paths agree.


def fast_binary_metric(spec: MetricSpec, y: Any, predicted: Any) -> float | None:
    """The metric for a plain binary problem, or None to let scikit-learn compute it."""
    import sklearn.metrics as skm

    func = spec.score_func
    kwargs = dict(spec.kwargs)
    if kwargs.pop("average", "binary") != "binary" or kwargs:
        return None
    if y.ndim != 1 or not _clean_labels(y):
        return None
    if func is skm.roc_auc_score:
        return _fast_roc_auc(y, predicted)
    if func not in (skm.accuracy_score, skm.precision_score, skm.recall_score, skm.f1_score):
        return None
    import numpy as np

    pred = np.asarray(predicted)
    if pred.shape != y.shape or not _clean_labels(pred):
        return None
    labels = np.unique(np.concatenate([np.unique(y), np.unique(pred)]))
    if len(labels) != 2:
        return None
    if func is skm.accuracy_score:
        return float(np.mean(y == pred))
    positive = 1 if spec.pos_label is None else spec.pos_label
    if positive not in labels.tolist():
        return None
    actual, chosen = y == positive, pred == positive
    tp = float(np.count_nonzero(actual & chosen))
    n_actual, n_chosen = float(np.count_nonzero(actual)), float(np.count_nonzero(chosen))
    if func is skm.precision_score:
        return tp / n_chosen if n_chosen else None
    if func is skm.recall_score:
        return tp / n_actual if n_actual else None
    return 2 * tp / (n_actual + n_chosen) if (n_actual + n_chosen) else None


def _clean_labels(values: Any) -> bool:
    """Discrete labels without missing values (integers, booleans, strings, integral floats)."""
    import numpy as np

    kind = values.dtype.kind
    if kind in "iub":
        return True
    if kind == "f":
        return bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))
    if kind in "OUT":
        try:
            return not any(v is None or v != v for v in values.tolist())
        except Exception:
            return False
    return False


def _fast_roc_auc(y: Any, scores: Any) -> float | None:
    """Binary ROC AUC as the Mann-Whitney statistic with mid-ranks for ties (the same value
    as the area under the trapezoidal ROC curve)."""
    import numpy as np

    s = np.asarray(scores, dtype=float)
    if s.ndim != 1 or s.shape != y.shape or not np.all(np.isfinite(s)):
        return None
    labels = np.unique(y)
    if len(labels) != 2:
        return None
    positive = y == labels[1]
    n_pos = int(np.count_nonzero(positive))
    n_neg = len(y) - n_pos
    order = np.argsort(s, kind="mergesort")
    ordered = s[order]
    starts = np.r_[0, np.flatnonzero(np.diff(ordered)) + 1]
    ends = np.r_[starts[1:], len(s)]
    ranks = np.empty(len(s))
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))
