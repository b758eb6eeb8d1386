"""The checks a gate can run: minimum/maximum metric, prediction latency, bias between
groups, and no regression against the production version.

Each check reads predictions from the shared :class:`~mlnb.lifecycle.evaluation.Evaluation`
(one pass over the holdout) and returns one or more :class:`CheckResult` rows with the
measured value, the threshold, the comparison and the verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mlnb.errors import ValidationError
from mlnb.lifecycle.evaluation import resolve_metric


@dataclass
class CheckResult:
    """One line of a gate's verdict table."""

    name: str
    kind: str
    value: float | None
    threshold: float | None
    op: str
    passed: bool
    details: dict[str, Any] = field(default_factory=dict)
    metric: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "metric": self.metric,
            "value": self.value,
            "threshold": self.threshold,
            "op": self.op,
            "passed": self.passed,
            "details": self.details,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CheckResult:
        return cls(
            name=d["name"],
            kind=d.get("kind", ""),
            value=d.get("value"),
            threshold=d.get("threshold"),
            op=d.get("op", ""),
            passed=bool(d.get("passed")),
            details=d.get("details") or {},
            metric=d.get("metric"),
        )


def _compare(value: float | None, op: str, threshold: float) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return value >= threshold if op == ">=" else value <= threshold


def _number(what: str, value: Any, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValidationError(f"{what} must be a number, got {value!r}.")
    if minimum is not None and value < minimum:
        raise ValidationError(f"{what} must be at least {minimum}, got {value!r}.")
    return float(value)


def _count(what: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError(f"{what} must be a whole number >= {minimum}, got {value!r}.")
    return value


class Check:
    """Base class: a named condition on the candidate's behaviour on the holdout."""

    kind: ClassVar[str] = ""

    def columns(self) -> list[str]:
        """Holdout columns this check needs besides the model inputs and the target."""
        return []

    def methods(self, ev: Any) -> set[str]:
        """The responses (predict, predict_proba...) this check reads from the candidate."""
        return set()

    def evaluate(self, ev: Any, baseline: Any = None) -> list[CheckResult]:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "type")
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.to_dict() == other.to_dict()  # type: ignore[attr-defined,unused-ignore]

    __hash__ = None  # type: ignore[assignment]


class _MetricBound(Check):
    op: ClassVar[str] = ">="

    def __init__(self, metric: Any, threshold: float) -> None:

        self.metric = metric
        self.threshold = _number(f"{type(self).__name__} threshold", threshold)
        self.spec = resolve_metric(metric)

    def methods(self, ev: Any) -> set[str]:
        return ev.needed_methods(self.spec)

    def evaluate(self, ev: Any, baseline: Any = None) -> list[CheckResult]:
        value = ev.metric(self.spec)
        word = "min" if self.op == ">=" else "max"
        return [
            CheckResult(
                name=f"{word} {self.spec.name}",
                kind=self.kind,
                metric=self.spec.scorer_name,
                value=value,
                threshold=self.threshold,
                op=self.op,
                passed=_compare(value, self.op, self.threshold),
                details={"target": getattr(ev.y, "name", None)},
            )
        ]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, "metric": _metric_name(self.metric), "threshold": self.threshold}


class MinMetric(_MetricBound):
    """The metric on the holdout must be at least ``threshold`` (accuracy, f1, roc_auc, r2...)."""

    kind = "min_metric"
    op = ">="


class MaxMetric(_MetricBound):
    """The metric on the holdout must be at most ``threshold`` (rmse, mae, log_loss...)."""

    kind = "max_metric"
    op = "<="


class MaxLatency(Check):
    """p95 prediction latency per single row and/or per batch must stay under a limit.

    Measured with ``n`` single-row predictions and ``n_batches`` batches of ``batch_size``
    rows taken evenly from the holdout, after one warm-up call.
    """

    kind = "max_latency"

    def __init__(
        self,
        p95_row_ms: float | None = None,
        p95_batch_ms: float | None = None,
        batch_size: int = 1000,
        n: int = 100,
        n_batches: int = 10,
    ) -> None:
        if p95_row_ms is None and p95_batch_ms is None:
            raise ValidationError(
                "MaxLatency needs p95_row_ms and/or p95_batch_ms (milliseconds), e.g. "
                "MaxLatency(p95_row_ms=20)."
            )
        self.p95_row_ms = None if p95_row_ms is None else _number("p95_row_ms", p95_row_ms, 0)
        self.p95_batch_ms = (
            None if p95_batch_ms is None else _number("p95_batch_ms", p95_batch_ms, 0)
        )
        self.batch_size = _count("batch_size", batch_size)
        self.n = _count("n", n)
        self.n_batches = _count("n_batches", n_batches)

    def evaluate(self, ev: Any, baseline: Any = None) -> list[CheckResult]:
        measured = ev.latency(
            self.n if self.p95_row_ms is not None else 0,
            self.batch_size,
            self.n_batches if self.p95_batch_ms is not None else 0,
        )
        out = []
        if self.p95_row_ms is not None:
            row = measured["row"]
            out.append(
                CheckResult(
                    name="p95 latency per row (ms)",
                    kind=self.kind,
                    value=row["p95_ms"],
                    threshold=self.p95_row_ms,
                    op="<=",
                    passed=_compare(row["p95_ms"], "<=", self.p95_row_ms),
                    details=row,
                )
            )
        if self.p95_batch_ms is not None:
            batch = measured["batch"]
            out.append(
                CheckResult(
                    name=f"p95 latency per batch of {batch['batch_size']} (ms)",
                    kind=self.kind,
                    value=batch["p95_ms"],
                    threshold=self.p95_batch_ms,
                    op="<=",
                    passed=_compare(batch["p95_ms"], "<=", self.p95_batch_ms),
                    details=batch,
                )
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.kind}
        if self.p95_row_ms is not None:
            d["p95_row_ms"] = self.p95_row_ms
        if self.p95_batch_ms is not None:
            d["p95_batch_ms"] = self.p95_batch_ms
        d.update(batch_size=self.batch_size, n=self.n, n_batches=self.n_batches)
        return d


class MaxBias(Check):
    """The largest gap between groups of a sensitive column, in selection rate (share
    predicted positive) and in true-positive rate, must stay under a maximum.

    ``positive`` is the positive class (default: the model's last class, as scikit-learn
    does for binary problems); groups smaller than ``min_group_size`` rows are left out.
    """

    kind = "max_bias"

    def __init__(
        self,
        sensitive: str,
        max_selection_rate_gap: float | None = None,
        max_tpr_gap: float | None = None,
        positive: Any = None,
        min_group_size: int = 1,
    ) -> None:
        if not isinstance(sensitive, str) or not sensitive:
            raise ValidationError(
                f"MaxBias needs the name of the sensitive column, got {sensitive!r}."
            )
        if max_selection_rate_gap is None and max_tpr_gap is None:
            raise ValidationError(
                "MaxBias needs max_selection_rate_gap and/or max_tpr_gap (between 0 and 1)."
            )
        self.sensitive = sensitive
        self.max_selection_rate_gap = (
            None
            if max_selection_rate_gap is None
            else _number("max_selection_rate_gap", max_selection_rate_gap, 0)
        )
        self.max_tpr_gap = None if max_tpr_gap is None else _number("max_tpr_gap", max_tpr_gap, 0)
        self.positive = positive
        self.min_group_size = _count("min_group_size", min_group_size)

    def columns(self) -> list[str]:
        return [self.sensitive]

    def methods(self, ev: Any) -> set[str]:
        return {"predict"}

    def _positive_label(self, ev: Any) -> Any:
        classes = ev.classes
        if not ev.is_classifier or classes is None:
            raise ValidationError(
                "MaxBias compares selection and true-positive rates, which need a classifier; "
                f"the model is a {type(ev.model).__name__}."
            )
        if self.positive is not None:
            if self.positive not in list(classes):
                raise ValidationError(
                    f"MaxBias positive={self.positive!r} is not one of the model's classes "
                    f"{list(classes)}."
                )
            return self.positive
        if len(classes) != 2:
            raise ValidationError(
                f"the model has {len(classes)} classes; tell MaxBias which one is the positive "
                "outcome with positive=..."
            )
        return classes[-1]

    def group_rates(self, ev: Any) -> list[dict[str, Any]]:
        """Size, selection rate and true-positive rate of each group."""
        import numpy as np
        import pandas as pd

        positive = self._positive_label(ev)
        groups = ev.frame[self.sensitive]
        codes, uniques = pd.factorize(groups, use_na_sentinel=True)
        codes = np.where(codes < 0, len(uniques), codes)
        labels = [_plain(u) for u in uniques] + ["(missing)"]
        k = len(labels)
        selected = np.asarray(ev.predictions == positive, dtype=float)
        actual = np.asarray(np.asarray(ev.y) == positive, dtype=float)
        size = np.bincount(codes, minlength=k)
        n_selected = np.bincount(codes, weights=selected, minlength=k)
        n_actual = np.bincount(codes, weights=actual, minlength=k)
        n_true_pos = np.bincount(codes, weights=selected * actual, minlength=k)
        out = []
        for i in range(k):
            if size[i] == 0:
                continue
            out.append(
                {
                    "group": labels[i],
                    "n": int(size[i]),
                    "positives": int(n_actual[i]),
                    "selection_rate": float(n_selected[i] / size[i]),
                    "tpr": float(n_true_pos[i] / n_actual[i]) if n_actual[i] else None,
                }
            )
        return out

    def evaluate(self, ev: Any, baseline: Any = None) -> list[CheckResult]:
        rates = self.group_rates(ev)
        kept = [g for g in rates if g["n"] >= self.min_group_size]
        skipped = [g["group"] for g in rates if g["n"] < self.min_group_size]
        details = {"groups": rates, "positive": _plain(self._positive_label(ev))}
        if skipped:
            details["skipped_small_groups"] = skipped
        out = []
        if self.max_selection_rate_gap is not None:
            gap, hi, lo = _gap(kept, "selection_rate")
            out.append(
                CheckResult(
                    name=f"selection-rate gap by {self.sensitive}",
                    kind=self.kind,
                    value=gap,
                    threshold=self.max_selection_rate_gap,
                    op="<=",
                    passed=gap is not None and _compare(gap, "<=", self.max_selection_rate_gap),
                    details={**details, "highest": hi, "lowest": lo},
                )
            )
        if self.max_tpr_gap is not None:
            with_pos = [g for g in kept if g["tpr"] is not None]
            gap, hi, lo = _gap(with_pos, "tpr")
            extra = {}
            if len(with_pos) < len(kept):
                extra["groups_without_positives"] = [g["group"] for g in kept if g["tpr"] is None]
            out.append(
                CheckResult(
                    name=f"true-positive-rate gap by {self.sensitive}",
                    kind=self.kind,
                    value=gap,
                    threshold=self.max_tpr_gap,
                    op="<=",
                    passed=gap is not None and _compare(gap, "<=", self.max_tpr_gap),
                    details={**details, "highest": hi, "lowest": lo, **extra},
                )
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.kind, "sensitive": self.sensitive}
        if self.max_selection_rate_gap is not None:
            d["max_selection_rate_gap"] = self.max_selection_rate_gap
        if self.max_tpr_gap is not None:
            d["max_tpr_gap"] = self.max_tpr_gap
        if self.positive is not None:
            d["positive"] = self.positive
        if self.min_group_size != 1:
            d["min_group_size"] = self.min_group_size
        return d


def _gap(groups: list[dict[str, Any]], key: str) -> tuple[float | None, Any, Any]:
    """Largest minus smallest rate and the groups holding them (None with < 2 groups)."""
    if len(groups) < 2:
        return (0.0 if groups else None), None, None
    hi = max(groups, key=lambda g: g[key])
    lo = min(groups, key=lambda g: g[key])
    return float(hi[key] - lo[key]), hi["group"], lo["group"]


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


class NoRegression(Check):
    """The candidate must not be worse than the current production version on the same
    holdout by more than ``tolerance`` (in the metric's units)."""

    kind = "no_regression"

    def __init__(
        self,
        metric: Any = "accuracy",
        tolerance: float = 0.0,
        greater_is_better: bool | None = None,
    ) -> None:

        self.metric = metric
        self.tolerance = _number("NoRegression tolerance", tolerance, 0)
        self.greater_is_better = greater_is_better
        self.spec = resolve_metric(metric, greater_is_better)

    def methods(self, ev: Any) -> set[str]:
        return ev.needed_methods(self.spec)

    def evaluate(self, ev: Any, baseline: Any = None) -> list[CheckResult]:
        value = ev.metric(self.spec)
        name = f"no regression in {self.spec.name}"
        higher = self.spec.greater_is_better
        op = ">=" if higher else "<="
        base_details = {
            "target": getattr(ev.y, "name", None),
            "candidate": value,
            "tolerance": self.tolerance,
        }
        if baseline is None:
            return [
                CheckResult(
                    name=name,
                    kind=self.kind,
                    metric=self.spec.scorer_name,
                    value=value,
                    threshold=None,
                    op=op,
                    passed=True,
                    details={**base_details, "note": "no production version to compare with"},
                )
            ]
        name += f" vs {baseline.label}"
        try:
            base_value, source = baseline.metric(self.spec)
        except ValidationError as exc:
            return [
                CheckResult(
                    name=name,
                    kind=self.kind,
                    metric=self.spec.scorer_name,
                    value=value,
                    threshold=None,
                    op=op,
                    passed=False,
                    details={**base_details, "error": str(exc)},
                )
            ]
        threshold = base_value - self.tolerance if higher else base_value + self.tolerance
        return [
            CheckResult(
                name=name,
                kind=self.kind,
                metric=self.spec.scorer_name,
                value=value,
                threshold=threshold,
                op=op,
                passed=_compare(value, op, threshold),
                details={
                    **base_details,
                    "baseline": base_value,
                    "baseline_version": baseline.version,
                    "baseline_source": source,
                },
            )
        ]

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "type": self.kind,
            "metric": _metric_name(self.metric),
            "tolerance": self.tolerance,
        }
        if self.greater_is_better is not None:
            d["greater_is_better"] = self.greater_is_better
        return d


def _metric_name(metric: Any) -> str:
    return metric if isinstance(metric, str) else getattr(metric, "__name__", repr(metric))


CHECK_TYPES: dict[str, type[Check]] = {
    c.kind: c for c in (MinMetric, MaxMetric, MaxLatency, MaxBias, NoRegression)
}


def check_from_dict(spec: dict[str, Any], where: str = "") -> Check:
    """Build a check from ``{"type": "min_metric", "metric": ..., "threshold": ...}`` or
    the one-key form ``{"min_metric": {...}}`` used in gate files."""
    where_text = f" in {where}" if where else ""
    if not isinstance(spec, dict):
        raise ValidationError(f"a check{where_text} must be a mapping, got {spec!r}.")
    if "type" in spec:
        kind, params = spec["type"], {k: v for k, v in spec.items() if k != "type"}
    elif len(spec) == 1:
        kind, params = next(iter(spec.items()))
        params = params or {}
    else:
        raise ValidationError(
            f"cannot tell the check type of {spec!r}{where_text}: write "
            "{type: min_metric, metric: accuracy, threshold: 0.8} or "
            "{min_metric: {metric: accuracy, threshold: 0.8}}."
        )
    cls = CHECK_TYPES.get(str(kind).lower())
    if cls is None:
        raise ValidationError(
            f"unknown check type {kind!r}{where_text}; choose one of {', '.join(CHECK_TYPES)}."
        )
    if not isinstance(params, dict):
        raise ValidationError(f"the parameters of {kind}{where_text} must be a mapping.")
    import inspect

    allowed = set(inspect.signature(cls.__init__).parameters) - {"self"}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValidationError(
            f"{kind}{where_text}: unknown option(s) {', '.join(unknown)}; allowed: "
            f"{', '.join(sorted(allowed))}."
        )
    try:
        return cls(**params)
    except TypeError as exc:
        raise ValidationError(f"{kind}{where_text}: {exc}") from None


__all__ = [
    "Check",
    "CheckResult",
    "MinMetric",
    "MaxMetric",
    "MaxLatency",
    "MaxBias",
    "NoRegression",
    "check_from_dict",
    "CHECK_TYPES",
]
