"""Monitors: a reference profile fitted once and stored, live batches scored against it,
accuracy tracked as labels arrive, and alerts when a threshold is crossed.

Scoring a batch needs only the stored profile, never the raw reference rows.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlnb.errors import NotFoundError, ValidationError
from mlnb.monitoring.alerts import (
    Sink,
    WebhookSink,
    raise_incident,
    resolve_incident,
)
from mlnb.monitoring.drift import (
    DriftConfig,
    DriftReport,
    Profile,
    fit_profile,
    learn_threshold,
    reference_chunk_scores,
    score,
)
from mlnb.monitoring.drift.dask_frames import compute, dask_frame, is_dask
from mlnb.monitoring.drift.panel import render_panel
from mlnb.monitoring.estimation import (
    correct_probability,
    estimate_classification,
    estimate_regression,
    fit_cbpe,
    fit_dle,
)
from mlnb.monitoring.streams import PageHinkley, row_errors
from mlnb.render.html import Rendered, esc
from mlnb.store.records import MonitorRecord
from mlnb.store.registry import Registry, get_registry
from mlnb.tracking.fingerprint import fingerprint

HIGHER_IS_BETTER = {
    "accuracy",
    "balanced_accuracy",
    "f1",
    "precision",
    "recall",
    "roc_auc",
    "auc",
    "r2",
}
LOWER_IS_BETTER = {"rmse", "mae", "mse", "log_loss", "error_rate"}
DRIFT_KEYS = {"drift_share", "dataset_drift", "prediction_drift", "label_drift"}
ESTIMATED = "estimated_"  # estimated_accuracy etc.: label-free estimates, usable in thresholds
STREAM_METRIC = "error_stream"  # the sequential detector's incidents
PRIOR_ROWS = 500  # weight of the reference error level in a fresh stream detector
CLASSIFICATION_METRICS = ("accuracy", "f1")
REGRESSION_METRICS = ("rmse", "mae", "r2")
PREDICTION_COLUMN = "prediction"  # the column name of the reference predictions' profile


@dataclass
class Threshold:
    """One alerting rule: a metric compared with a fixed bound (absolute, relative to the
    reference value, or learned from reference chunks as mean +/- k sigma)."""

    metric: str
    kind: str = "absolute"  # absolute | relative | learned
    min: float | None = None
    max: float | None = None
    relative: float | None = None  # allowed relative drop (or rise for error metrics)
    sigmas: float = 3.0

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    def bounds(self, reference: Mapping[str, float]) -> tuple[float | None, float | None]:
        """(low, high) limits; relative ones need the metric's reference value."""
        if self.kind == "relative":
            base = reference.get(self.metric, reference.get(base_metric(self.metric)))
            if base is None:
                return (None, None)
            if lower_is_better(self.metric):
                return (None, base * (1 + float(self.relative or 0)))
            return (base * (1 - float(self.relative or 0)), None)
        return (self.min, self.max)

    def describe(self, reference: Mapping[str, float]) -> str:
        low, high = self.bounds(reference)
        parts = []
        if low is not None:
            parts.append(f">= {low:.4g}")
        if high is not None:
            parts.append(f"<= {high:.4g}")
        return " and ".join(parts) or "no bound yet"


def parse_thresholds(spec: Mapping[str, Any] | None) -> list[Threshold]:
    """Thresholds from the user's dict: ``{"accuracy": 0.82}`` (minimum for scores, maximum
    for errors), ``{"rmse": {"max": 3}}``, ``{"accuracy": {"relative": 0.05}}``,
    ``{"accuracy": "learned"}``, ``{"drift_share": 0.5}``."""
    if spec is None:
        return []
    if not isinstance(spec, Mapping):
        raise ValidationError(
            f"thresholds must be a dict like {{'accuracy': 0.82}}, got {type(spec).__name__}."
        )
    out = []
    for metric, value in spec.items():
        if not isinstance(metric, str) or not metric:
            raise ValidationError(f"threshold names must be metric names, got {metric!r}.")
        out.append(_parse_one(metric, value))
    return out


def base_metric(metric: str) -> str:
    """The realized metric an estimated one stands for (``estimated_accuracy`` -> ``accuracy``)."""
    return metric.removeprefix(ESTIMATED)


def lower_is_better(metric: str) -> bool:
    """Errors and drift scores are bad when high; accuracy-like scores when low."""
    base = base_metric(metric)
    return base in LOWER_IS_BETTER or base in DRIFT_KEYS


def _parse_one(metric: str, value: Any) -> Threshold:
    if isinstance(value, bool):
        raise ValidationError(
            f"threshold for {metric!r} must be a number or a dict, got {value!r}."
        )
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValidationError(f"threshold for {metric!r} must be finite, got {value!r}.")
        if lower_is_better(metric):
            return Threshold(metric, max=float(value))
        return Threshold(metric, min=float(value))
    if value == "learned":
        return Threshold(metric, kind="learned")
    if isinstance(value, Mapping):
        unknown = set(value) - {"min", "max", "relative", "learned", "sigmas"}
        if unknown:
            raise ValidationError(
                f"threshold for {metric!r} has unknown keys {sorted(unknown)}; use min, max, "
                "relative, learned or sigmas."
            )
        if value.get("learned"):
            return Threshold(metric, kind="learned", sigmas=float(value.get("sigmas", 3.0)))
        if "relative" in value:
            rel = float(value["relative"])
            if not 0 <= rel < 1:
                raise ValidationError(
                    f"relative threshold for {metric!r} must be in [0, 1), got {rel}."
                )
            return Threshold(metric, kind="relative", relative=rel)
        lo, hi = value.get("min"), value.get("max")
        if lo is None and hi is None:
            raise ValidationError(f"threshold for {metric!r} needs min or max.")
        return Threshold(
            metric, min=None if lo is None else float(lo), max=None if hi is None else float(hi)
        )
    raise ValidationError(
        f"threshold for {metric!r} must be a number, 'learned' or a dict with min/max/relative, "
        f"got {value!r}."
    )


@dataclass
class BatchResult:
    """What logging one batch found: the drift report, metrics and any alerts raised."""

    monitor: str
    batch_id: int
    batch_at: float
    report: Any
    metrics: dict[str, float] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    number: int | None = None  # the batch's number within its monitor (1, 2, 3...)
    estimates: dict[str, dict[str, float]] = field(default_factory=dict)
    labels: dict[str, Any] | None = None
    prediction_drift: dict[str, Any] | None = None
    # Reads the monitor's batch history when the panel is rendered, not on every log_batch.
    _load_history: Callable[[], list[dict[str, Any]]] | None = field(default=None, repr=False)

    @property
    def dataset_drift(self) -> bool:
        return bool(self.report.dataset_drift)

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.report.columns if c.drifted]

    def __repr__(self) -> str:
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in self.metrics.items())
        estimated = ", ".join(
            f"{k}~{e['value']:.3g} [{e['low']:.3g}, {e['high']:.3g}]"
            for k, e in self.estimates.items()
        )
        coverage = ""
        if self.labels is not None:
            coverage = f"; labels for {self.labels['n_labelled']}/{self.labels['n_rows']} rows"
            if (self.labels.get("drift") or {}).get("drifted"):
                coverage += " (label drift)"
            if self.labels.get("too_few"):
                coverage += " (too few for a verdict on the metrics)"
        alerts = "; ".join(a["message"] for a in self.alerts)
        return (
            f"monitor {self.monitor} batch #{self.number or self.batch_id}: {self.report.n_drifted}/{self.report.n_columns} "
            f"columns drifted, dataset drift {'YES' if self.dataset_drift else 'no'}"
            + (f"; {metrics}" if metrics else "")
            + coverage
            + (f"; estimated {estimated}" if estimated else "")
            + (f"\nALERTS: {alerts}" if alerts else "")
        )

    def _repr_html_(self) -> str:

        alerts = "".join(
            f'<div style="border-left:4px solid #cf222e;padding:3px 8px;margin:2px 0;font-size:12px">'
            f"<b>alert #{a['id']}</b> {esc(a['message'])}</div>"
            for a in self.alerts
        )
        history = self._load_history() if self._load_history is not None else []
        return alerts + render_panel(self.report, history=history or None)


@dataclass
class StreamResult:
    """What observing live rows found: incidents opened or resolved mid-batch, and the batch
    logged when the rows filled one."""

    alerts: list[dict[str, Any]]
    batch: BatchResult | None
    n_rows: int


class Monitor:
    """Drift and accuracy monitoring for one model.

    ``Monitor(model="churn", reference=train_df, target="churned", thresholds={"accuracy": 0.82})``
    fits and stores the reference profile; ``Monitor.load("churn")`` reopens it later from
    another process with no reference data at hand. ``reference`` may be a Dask DataFrame:
    it is profiled partition by partition on the Dask workers (learned thresholds, which
    split the reference into chunks, need a pandas reference).

    ``predictor=`` (a fitted model, or ``model=`` given one) computes the reference's
    predictions (profiled for prediction drift) and scores (calibrated for label-free
    estimates), and each batch's when they are not passed; ``reference_predictions=`` and
    ``reference_scores=`` give them directly. ``batch_size`` and ``stream`` set how
    :meth:`observe` groups live rows into batches and tunes its Page-Hinkley detector.
    """

    def __init__(
        self,
        name: str | None = None,
        model: str | None = None,
        reference: Any = None,
        target: str | None = None,
        prediction: str | None = None,
        features: list[str] | None = None,
        thresholds: Mapping[str, Any] | None = None,
        drift: Any = None,
        metrics: Iterable[str] | None = None,
        reference_metrics: Mapping[str, float] | None = None,
        reference_predictions: Any = None,
        reference_scores: Any = None,
        predictor: Any = None,
        task: str | None = None,
        registry: Registry | str | os.PathLike[str] | None = None,
        sinks: Iterable[Sink] = (),
        on_alert: Callable[[dict[str, Any]], None] | None = None,
        webhook: str | None = None,
        n_chunks: int = 10,
        stream: Mapping[str, Any] | None = None,
        batch_size: int | None = None,
    ) -> None:
        self.registry = get_registry(registry)
        if model is not None and not isinstance(model, str):
            if not hasattr(model, "predict"):
                raise ValidationError(
                    f"model must be a registered model's name or a fitted model with predict(), "
                    f"got {type(model).__name__}."
                )
            predictor, model = model, None
        if predictor is not None and not hasattr(predictor, "predict"):
            raise ValidationError(
                f"predictor must be a fitted model with predict(), got {type(predictor).__name__}."
            )
        self.predictor = predictor
        self._detector: PageHinkley | None = None
        self._stream_options = dict(stream or {})
        self._pending: list[tuple[Any, Any, Any, Any]] = []
        self._pending_rows = 0
        self._stream_lock = threading.RLock()  # a server may observe from several threads
        self.batch_size = batch_size
        chosen = name or model
        if not chosen or not isinstance(chosen, str):
            raise ValidationError("a monitor needs a name (or a model name to take it from).")
        self.name: str = chosen
        self.sinks: list[Sink] = list(sinks)
        if on_alert is not None:
            if not callable(on_alert):
                raise ValidationError("on_alert must be a function taking the alert dict.")
            self.sinks.append(on_alert)
        if webhook:
            self.sinks.append(WebhookSink(webhook))
        if reference is None:
            self._load_existing(model, thresholds)
            return
        self._fit(
            reference,
            model=model,
            target=target,
            prediction=prediction,
            features=features,
            thresholds=thresholds,
            drift=drift,
            metrics=metrics,
            reference_metrics=reference_metrics,
            reference_predictions=reference_predictions,
            reference_scores=reference_scores,
            task=task,
            n_chunks=n_chunks,
        )

    @classmethod
    def load(
        cls, name: str, registry: Registry | str | os.PathLike[str] | None = None, **kwargs: Any
    ) -> Monitor:
        """Reopen a stored monitor by name."""
        return cls(name=name, registry=registry, **kwargs)

    # -- fitting --------------------------------------------------------------------

    def _fit(self, reference: Any, **opts: Any) -> None:
        import numpy as np
        import pandas as pd

        if is_dask(reference):  # fitted partition by partition on the Dask workers
            reference = dask_frame(reference, "reference")
        elif not isinstance(reference, pd.DataFrame):
            raise ValidationError(
                f"reference must be a pandas DataFrame (or a Dask DataFrame), got {type(reference).__name__}."
            )
        target, prediction = opts["target"], opts["prediction"]
        for col, what in ((target, "target"), (prediction, "prediction")):
            if col is not None and col not in reference.columns:
                raise ValidationError(
                    f"{what} column {col!r} is not in the reference data; its columns are "
                    f"{', '.join(map(str, reference.columns))}."
                )
        features = opts["features"]
        if features is None:
            features = [c for c in reference.columns if c not in (target, prediction)]
        missing = [c for c in features if c not in reference.columns]
        if missing:
            raise ValidationError(
                f"features not in the reference data: {', '.join(map(str, missing))}."
            )
        drift = opts["drift"]
        config = drift if isinstance(drift, DriftConfig) else DriftConfig.from_dict(drift or {})
        profile = fit_profile(reference[features], config=config)
        task = opts["task"] or _guess_task(compute(reference[target])) if target else opts["task"]
        target_profile = (
            fit_profile(reference[[target]], config=config).to_dict() if target else None
        )
        thresholds = parse_thresholds(opts["thresholds"])
        reference_metrics = dict(opts["reference_metrics"] or {})
        ref_preds, ref_scores, classes = self._reference_outputs(
            reference, features, task, opts["reference_predictions"], opts["reference_scores"]
        )
        learned = self._learn_thresholds(
            reference, features, target, thresholds, ref_preds, task, opts["n_chunks"], config
        )
        prediction_profile = None
        if ref_preds is not None:
            prediction_profile = fit_profile(
                pd.DataFrame({PREDICTION_COLUMN: ref_preds}), config=config
            ).to_dict()
        estimator = None
        if target is not None and not is_dask(reference):
            estimator = _fit_estimator(
                task, reference, features, target, ref_preds, ref_scores, classes
            )
        reference_error = None
        if target is not None and ref_preds is not None and not is_dask(reference):
            errors = row_errors(task, ref_preds, reference[target].to_numpy())
            reference_error = float(np.nanmean(errors)) if np.isfinite(errors).any() else None
        stored = self.registry.objects.put_bytes(json.dumps(profile.to_dict()).encode())
        self.config = {
            "features": [str(f) for f in features],
            "target": target,
            "prediction": prediction,
            "task": task,
            "thresholds": [t.to_dict() for t in thresholds],
            "learned": learned,
            "drift": config.to_dict(),
            "metrics": list(
                opts["metrics"]
                or (CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS)
            ),
            "reference_metrics": reference_metrics,
            "reference_rows": int(profile.n_rows),
            "target_profile": target_profile,
            "prediction_profile": prediction_profile,
            "estimator": estimator,
            "reference_error": reference_error,
        }
        self.model = opts["model"]
        self.monitor_id = self.registry.monitors.upsert(
            self.name, self.model, target, f"obj:{stored}", self.config
        )
        self._profile: Profile | None = profile

    def _reference_outputs(
        self,
        reference: Any,
        features: list[str],
        task: str | None,
        predictions: Any,
        scores: Any,
    ) -> tuple[Any, Any, list[Any] | None]:
        """The model's predictions and scores on the reference rows: as given, or computed
        with the predictor when there is one (and the reference is in memory)."""
        import numpy as np

        classes = None
        if self.predictor is not None and not is_dask(reference):
            rows = reference[features]
            if predictions is None:
                predictions = self.predictor.predict(rows)
            if (
                scores is None
                and task == "classification"
                and hasattr(self.predictor, "predict_proba")
            ):
                scores = self.predictor.predict_proba(rows)
            found = getattr(self.predictor, "classes_", None)
            classes = None if found is None else list(found)
        n = len(reference) if not is_dask(reference) else None
        for what, values in (("reference_predictions", predictions), ("reference_scores", scores)):
            if values is not None and n is not None and len(values) != n:
                raise ValidationError(
                    f"{what} has {len(values)} values but the reference has {n} rows."
                )
        predictions = None if predictions is None else np.asarray(compute(predictions))
        return predictions, scores, classes

    def _learn_thresholds(
        self,
        reference: Any,
        features: list[str],
        target: str | None,
        thresholds: list[Threshold],
        reference_predictions: Any,
        task: str | None,
        n_chunks: int,
        config: Any,
    ) -> dict[str, list[float | None]]:
        """mean +/- k sigma of each 'learned' metric over chunks of the reference."""
        import numpy as np

        learned: dict[str, list[float | None]] = {}
        for t in thresholds:
            if t.kind != "learned":
                continue
            if is_dask(reference):
                raise ValidationError(
                    f"a learned threshold for {t.metric!r} splits the reference into chunks, "
                    "which needs a pandas reference; give a fixed threshold (e.g. "
                    f"{{{t.metric!r}: 0.5}}) or pass reference.compute()."
                )
            if t.metric in ("drift_share", "dataset_drift"):
                scores = reference_chunk_scores(reference[features], n_chunks, **config.to_dict())
                values = [float(v) for v in scores["share_drifted"]]
            else:
                if target is None or reference_predictions is None:
                    raise ValidationError(
                        f"a learned threshold for {t.metric!r} needs target= and "
                        "reference_predictions= (the model's predictions on the reference rows)."
                    )
                preds = np.asarray(reference_predictions)
                if len(preds) != len(reference):
                    raise ValidationError(
                        f"reference_predictions has {len(preds)} values but the reference has {len(reference)} rows."
                    )
                chunks = np.array_split(np.arange(len(reference)), max(2, n_chunks))
                y = reference[target].to_numpy()
                values = [
                    compute_metrics(y[i], preds[i], [t.metric], task)[t.metric] for i in chunks
                ]
            low: float | None
            high: float | None
            low, high = learn_threshold(values, sigmas=t.sigmas)
            if t.metric in HIGHER_IS_BETTER:
                high = None
            elif t.metric in LOWER_IS_BETTER or t.metric in DRIFT_KEYS:
                low = None
            learned[t.metric] = [low, high]
        return learned

    def _load_existing(self, model: str | None, thresholds: Mapping[str, Any] | None) -> None:
        row = self.registry.monitors.get(self.name)
        if row is None:
            raise NotFoundError(
                f"no monitor named {self.name!r} in {self.registry.home}. Create it with "
                f"Monitor({self.name!r}, reference=train_df, target=...)."
            )
        self.monitor_id = int(row["id"])
        self.model = row["model_name"] or model
        self.config = row["config"]
        self._profile_ref = row["profile"]
        self._profile = None
        if thresholds is not None:
            self.set_thresholds(thresholds)

    @property
    def profile(self) -> Any:
        if self._profile is None:
            digest = self._profile_ref.removeprefix("obj:")
            self._profile = Profile.from_dict(json.loads(self.registry.objects.get_bytes(digest)))
        return self._profile

    def set_thresholds(self, thresholds: Mapping[str, Any]) -> None:
        """Replace the absolute/relative thresholds (learned ones need a refit)."""
        parsed = parse_thresholds(thresholds)
        if any(t.kind == "learned" for t in parsed):
            raise ValidationError(
                "learned thresholds need the reference data: create the monitor again with reference=."
            )
        self.config["thresholds"] = [t.to_dict() for t in parsed]
        self.registry.monitors.update_config(self.monitor_id, self.config)

    @property
    def estimator_version(self) -> int | None:
        """The model version the label-free estimator reads (its calibration is that
        version's), when known."""
        version = (self.config.get("estimator") or {}).get("model_version")
        return None if version is None else int(version)

    def set_estimator_version(self, version: int) -> None:
        """Record which model version the current label-free estimator was fitted with."""
        if not self.config.get("estimator"):
            raise ValidationError(f"monitor {self.name!r} has no label-free estimator.")
        self.config["estimator"] = {**self.config["estimator"], "model_version": int(version)}
        self.registry.monitors.update_config(self.monitor_id, self.config)

    def calibrate_estimator(
        self,
        frame: Any,
        labels: Any,
        predictions: Any = None,
        scores: Any = None,
        classes: Sequence[Any] | None = None,
        version: int | None = None,
    ) -> None:
        """Re-fit the label-free estimator for another model on labelled rows: CBPE's
        calibration from its ``scores`` (``predict_proba``, columns named by ``classes``), or
        DLE's loss model from its ``predictions``. A calibration belongs to the model whose
        outputs it reads, so a newly promoted ``version`` needs its own."""
        import numpy as np

        state = self.config.get("estimator")
        if not state:
            raise ValidationError(
                f"monitor {self.name!r} has no label-free estimator to re-fit; create it with "
                "predictor= (or reference_scores=) and a target."
            )
        labels = np.asarray(labels)
        if state["kind"] == "cbpe":
            if scores is None:
                raise ValidationError("re-fitting CBPE needs scores= (the model's predict_proba).")
            fitted = fit_cbpe(scores, labels, classes)
        else:
            if predictions is None:
                raise ValidationError("re-fitting DLE needs predictions= (the model's output).")
            fitted = fit_dle(_frame_for(frame, self.config["features"]), predictions, labels)
        if version is not None:
            fitted["model_version"] = int(version)
        self.config["estimator"] = fitted
        self.registry.monitors.update_config(self.monitor_id, self.config)

    @property
    def thresholds(self) -> list[Threshold]:
        return [Threshold(**t) for t in self.config.get("thresholds", [])]

    def __repr__(self) -> str:
        return f"<mlnb Monitor {self.name!r} model={self.model!r} features={len(self.config['features'])}>"

    # -- scoring --------------------------------------------------------------------

    def score(self, batch: Any, progress: bool = False) -> Any:
        """Drift report of a batch against the stored profile, without recording it."""

        features = self.config["features"]
        frame = _frame_for(batch, features)
        return score(self.profile, frame, config=self.config.get("drift"), progress=progress)

    def log_batch(
        self,
        batch: Any,
        predictions: Any = None,
        labels: Any = None,
        when: Any = None,
        progress: bool = False,
        scores: Any = None,
        estimate: bool = True,
    ) -> BatchResult:
        """Score and record a batch; with labels (or a target column) also its metrics.

        Rows without a label (NaN/None) count for drift but not for the realized metrics; the
        label coverage is recorded. ``scores`` (``predict_proba`` output) give a classifier
        monitor its label-free estimates (``estimated_accuracy`` ...); a regressor monitor
        estimates from the predictions. With a ``predictor``, predictions and scores are
        computed from the batch. ``estimate=False`` leaves the label-free estimates out (e.g.
        when the batch came from a model the estimator was not fitted for). Returns the result
        with any alerts (incidents) raised.
        ``batch`` may be a Dask DataFrame (scored per partition on the workers; Dask
        predictions and labels are computed here; its data version is not fingerprinted).
        """
        import numpy as np

        lazy = is_dask(batch)
        if batch is None or not hasattr(batch, "columns"):
            raise ValidationError(
                f"batch must be a pandas DataFrame (or a Dask DataFrame), got {type(batch).__name__}."
            )
        if not lazy and len(batch) == 0:
            raise ValidationError("the batch is empty: log a batch with at least one row.")
        batch_at = _timestamp(when)
        target = self.config.get("target")
        pred_col = self.config.get("prediction")
        if predictions is None and pred_col and pred_col in batch.columns:
            predictions = batch[pred_col]
        predictions, scores = self._model_outputs(batch, predictions, scores, lazy)
        if labels is None and predictions is not None and target and target in batch.columns:
            labels = batch[target]  # the batch carries its labels: measure accuracy at once
        report = self.score(batch, progress=progress)
        n_rows = report.n_rows_cur  # counted by the scorer, also for a Dask batch
        prediction_summary = None
        if predictions is not None:
            predictions = np.asarray(compute(predictions))
            _check_length("predictions", predictions, n_rows)
            prediction_summary = self._prediction_drift(predictions)
        metrics: dict[str, float] = {}
        label_summary = None
        if labels is not None:
            labels = np.asarray(compute(labels))
            _check_length("labels", labels, n_rows)
            if predictions is None:
                raise ValidationError(
                    "labels were given without predictions: pass predictions= (the model's output "
                    "for these rows) so accuracy can be measured."
                )
            metrics, label_summary = self._realized(labels, predictions)
        estimates = self._estimate(batch, predictions, scores, lazy) if estimate else {}
        version = None  # a Dask batch is not fingerprinted: that would read it all once more
        if not lazy:
            try:
                version = fingerprint(batch)
            except Exception:
                version = None
        batch_id = self.registry.monitors.record_batch(
            {
                "monitor_id": self.monitor_id,
                "batch_at": batch_at,
                "n_rows": int(n_rows),
                "n_drifted": int(report.n_drifted),
                "n_columns": int(report.n_columns),
                "dataset_drift": bool(report.dataset_drift),
                "report": report.to_dict(),
                "metrics": metrics,
                "predictions": prediction_summary,
                "data_version_id": version,
                "labels": label_summary,
                "estimates": estimates or None,
            }
        )
        alerts = self._check(
            batch_id, report, metrics, prediction_summary, estimates, label_summary
        )
        return BatchResult(
            self.name,
            batch_id,
            batch_at,
            report,
            metrics,
            alerts,
            number=self.registry.monitors.numbers(self.monitor_id).get(batch_id),
            estimates=estimates,
            labels=label_summary,
            prediction_drift=prediction_summary,
            _load_history=self.history,
        )

    def _model_outputs(
        self, batch: Any, predictions: Any, scores: Any, lazy: bool
    ) -> tuple[Any, Any]:
        """Predictions and scores of a batch: as given, else from the predictor (pandas only)."""
        if self.predictor is None or lazy:
            return predictions, scores
        rows = batch[self.config["features"]]
        if predictions is None:
            predictions = self.predictor.predict(rows)
        if (
            scores is None
            and (self.config.get("estimator") or {}).get("kind") == "cbpe"
            and hasattr(self.predictor, "predict_proba")
        ):
            scores = self.predictor.predict_proba(rows)
        return predictions, scores

    def _realized(self, labels: Any, predictions: Any) -> tuple[dict[str, float], dict[str, Any]]:
        """Metrics on the labelled rows only, and the label summary (coverage, label drift)."""
        import numpy as np
        import pandas as pd

        known = np.asarray(pd.notna(labels), dtype=bool)
        n_labelled = int(known.sum())
        labelled = pd.Series(labels[known]).infer_objects().to_numpy()  # object -> real dtype
        summary: dict[str, Any] = {
            "n_rows": len(labels),
            "n_labelled": n_labelled,
            "coverage": n_labelled / len(labels) if len(labels) else 0.0,
            "drift": self._label_drift(labelled) if n_labelled else None,
            # metrics of fewer labelled rows are recorded but judge nothing (one row: 0 or 1)
            "too_few": 0 < n_labelled < self._min_rows(),
        }
        if not n_labelled:
            return {}, summary
        metrics = compute_metrics(
            labelled, predictions[known], self.config["metrics"], self.config.get("task")
        )
        return metrics, summary

    def _min_rows(self) -> int:
        """Rows a verdict needs, the drift engine's ``min_rows`` (30 unless configured)."""
        return int((self.config.get("drift") or {}).get("min_rows", 30))

    def _label_drift(self, labels: Any) -> dict[str, Any] | None:
        """The labelled rows' target distribution against the reference target's."""
        import pandas as pd

        target_profile = self.config.get("target_profile")
        target = self.config.get("target")
        if not target_profile or not target:
            return None
        report = score(
            Profile.from_dict(target_profile),
            pd.DataFrame({target: labels}),
            config=self.config.get("drift"),
        )
        return _column_summary(report.columns[0])

    def _estimate(
        self, batch: Any, predictions: Any, scores: Any, lazy: bool
    ) -> dict[str, dict[str, float]]:
        """Label-free estimates of this batch's metrics (empty when the monitor has no
        estimator or the batch lacks what it needs: scores for CBPE, predictions for DLE)."""
        state = self.config.get("estimator")
        if not state:
            return {}
        if state["kind"] == "cbpe" and scores is not None:
            return estimate_classification(state, compute(scores), predictions)
        if state["kind"] == "dle" and predictions is not None and not lazy:
            return estimate_regression(state, batch, predictions)
        return {}

    def log_labels(self, batch_id: int, labels: Any, predictions: Any) -> dict[str, float]:
        """Labels that arrived later for an earlier batch: compute and store its metrics,
        and check the thresholds for it. Missing labels (NaN/None) are left out."""
        import numpy as np

        row = self.registry.monitors.batch(int(batch_id))
        if row["monitor_id"] != self.monitor_id:
            raise ValidationError(f"batch {batch_id} belongs to another monitor.")
        labels, predictions = np.asarray(labels), np.asarray(predictions)
        if len(labels) != len(predictions):
            raise ValidationError(
                f"labels ({len(labels)}) and predictions ({len(predictions)}) differ in length."
            )
        if len(labels) != row["n_rows"]:
            raise ValidationError(
                f"batch {batch_id} had {row['n_rows']} rows but {len(labels)} labels were given."
            )
        realized, label_summary = self._realized(labels, predictions)
        metrics = {**row["metrics"], **realized}
        self.registry.monitors.update_batch_metrics(int(batch_id), metrics)
        self.registry.monitors.update_batch_labels(int(batch_id), label_summary)
        self._check(int(batch_id), None, realized, None, None, label_summary)
        return metrics

    def _prediction_drift(self, predictions: Any) -> dict[str, Any] | None:
        """Distribution of predictions vs the reference predictions' profile (None when the
        monitor was fitted without reference predictions or a predictor)."""
        import pandas as pd

        profile = self.config.get("prediction_profile")
        if not profile:
            return None
        report = score(
            Profile.from_dict(profile),
            pd.DataFrame({PREDICTION_COLUMN: predictions}),
            config=self.config.get("drift"),
        )
        return _column_summary(report.columns[0])

    # -- streams: rows one by one ------------------------------------------------------

    def observe(
        self,
        rows: Any,
        predictions: Any = None,
        labels: Any = None,
        scores: Any = None,
    ) -> StreamResult:
        """Feed live rows (one or a few at a time) to the monitor's sequential detector.

        Each row's error (wrong/right with a label, absolute error for regression, else
        ``1 - P(correct)`` from the calibrated scores) goes through a Page-Hinkley test; a
        sustained rise opens an ``error_stream`` incident at once, mid-batch, and a fall
        back resolves it. Rows are also kept and logged as a batch every ``batch_size``
        rows (``Monitor(..., batch_size=1000)``) or on :meth:`flush`.
        """
        import numpy as np
        import pandas as pd

        if isinstance(rows, Mapping):
            rows = pd.DataFrame([rows])
        if not isinstance(rows, pd.DataFrame):
            raise ValidationError(
                f"observe takes a pandas DataFrame or one row as a dict, got {type(rows).__name__}."
            )
        if len(rows) == 0:
            return StreamResult([], None, 0)
        predictions, scores = self._model_outputs(rows, predictions, scores, lazy=False)
        if predictions is None:
            raise ValidationError(
                "observe needs predictions= (or a predictor=) to follow the model's errors."
            )
        predictions = np.asarray(predictions)
        _check_length("predictions", predictions, len(rows))
        if labels is not None:
            labels = np.asarray(labels)
            _check_length("labels", labels, len(rows))
        errors = row_errors(
            self.config.get("task"),
            predictions,
            labels,
            self._correct_probability(scores, predictions),
        )
        alerts = []
        with self._stream_lock:
            detector = self.detector
            for i, value in enumerate(errors):
                signal = detector.update(float(value))
                if signal is not None:
                    alert = self._stream_signal(signal, detector, i)
                    if alert is not None:
                        alerts.append(alert)
            self._pending.append((rows, predictions, labels, scores))
            self._pending_rows += len(rows)
            batch = None
            if self.batch_size is not None and self._pending_rows >= self.batch_size:
                batch = self.flush()
        return StreamResult(alerts, batch, len(rows))

    def flush(self) -> BatchResult | None:
        """Log the rows observed since the last batch as one batch (None when there are none)."""
        import numpy as np
        import pandas as pd

        with self._stream_lock:
            if not self._pending:
                return None
            pending, self._pending, self._pending_rows = self._pending, [], 0
        frame = pd.concat([p[0] for p in pending], ignore_index=True)
        predictions = np.concatenate([np.asarray(p[1]) for p in pending])
        labels = None
        if any(p[2] is not None for p in pending):
            labels = np.concatenate(
                [
                    np.asarray(p[2], dtype=object)
                    if p[2] is not None
                    else np.full(len(p[0]), None, dtype=object)
                    for p in pending
                ]
            )
        scores = None
        if all(p[3] is not None for p in pending):
            scores = np.concatenate([np.asarray(p[3], dtype=float) for p in pending])
        return self.log_batch(frame, predictions=predictions, labels=labels, scores=scores)

    @property
    def detector(self) -> PageHinkley:
        """This process's sequential detector, started at the reference's error level."""
        if self._detector is None:
            options = {**self.config.get("stream", {}), **self._stream_options}
            self._detector = PageHinkley(**options)
            reference_error = self.config.get("reference_error")
            if reference_error is not None:
                self._detector.n = max(PRIOR_ROWS, self._detector.min_rows)
                self._detector.mean = float(reference_error)
        return self._detector

    def _correct_probability(self, scores: Any, predictions: Any) -> Any:
        state = self.config.get("estimator") or {}
        if scores is None or state.get("kind") != "cbpe":
            return None
        return correct_probability(state, scores, predictions)

    def _stream_signal(self, signal: str, detector: PageHinkley, row: int) -> dict[str, Any] | None:
        """Open (rise) or resolve (fall) the stream's incident."""
        if signal == "down":
            return resolve_incident(
                self.registry, self.monitor_id, STREAM_METRIC, None, detector.mean
            )
        message = (
            f"{self.name}: the error rate of live rows rose (Page-Hinkley change detected at "
            f"row {row + 1} of this call, recent level {detector.mean:.3g})"
        )
        evidence = {
            "metric": STREAM_METRIC,
            "detector": "page_hinkley",
            "delta": detector.delta,
            "threshold": detector.threshold,
            "reference_error": self.config.get("reference_error"),
            "monitor": self.name,
            "model": self.model,
        }
        return raise_incident(
            self.registry,
            "error_stream_rise",
            message,
            evidence,
            metric=STREAM_METRIC,
            value=None,
            lower_is_worse=False,
            monitor_id=self.monitor_id,
            batch_id=None,
            severity="critical",
            sinks=self.sinks,
        )

    # -- thresholds and alerts -------------------------------------------------------

    def threshold_lines(self) -> dict[str, float]:
        """The bound to draw per metric on timelines."""
        lines: dict[str, float] = {}
        ref = self._reference_metrics()
        for t in self.thresholds:
            low, high = self._bounds(t, ref)
            bound = low if low is not None else high
            if bound is not None:
                lines[t.metric] = float(bound)
        if "drift_share" not in lines:
            lines["drift_share"] = float(self.config.get("drift", {}).get("threshold_share", 0.5))
        return lines

    def alert_sides(self) -> dict[str, str]:
        """Per metric of ``threshold_lines``: "below" when falling under the line alerts
        (scores), "above" when rising over it does (errors, drift)."""
        ref = self._reference_metrics()
        sides = {"drift_share": "above"}
        for t in self.thresholds:
            low, _high = self._bounds(t, ref)
            sides[t.metric] = "below" if low is not None else "above"
        return sides

    def _reference_metrics(self) -> dict[str, float]:
        ref = dict(self.config.get("reference_metrics") or {})
        if ref:
            return ref
        for b in self.registry.monitors.batches(self.monitor_id, with_reports=False):
            if b["metrics"]:
                return dict(b["metrics"])
        return {}

    def _bounds(
        self, t: Threshold, reference: Mapping[str, float]
    ) -> tuple[float | None, float | None]:
        if t.kind == "learned":
            low, high = self.config.get("learned", {}).get(t.metric, [None, None])
            return low, high
        return t.bounds(reference)

    def _check(
        self,
        batch_id: int,
        report: Any,
        metrics: Mapping[str, float],
        prediction_summary: Mapping[str, Any] | None,
        estimates: Mapping[str, Mapping[str, float]] | None = None,
        label_summary: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Breaches open or extend incidents; a metric back within bounds resolves its one."""
        alerts = []
        reference = self._reference_metrics()
        if label_summary is not None and label_summary.get("too_few"):
            metrics = {}  # too few labelled rows for a verdict: recorded, never alerted on
        values = _checked_values(report, metrics, prediction_summary, estimates, label_summary)
        for t in self.thresholds:
            value = values.get(t.metric)
            if value is None or not math.isfinite(value):
                continue
            low, high = self._bounds(t, reference)
            breached = (low is not None and value < low) or (high is not None and value > high)
            if breached:
                alerts.append(self._alert(batch_id, t, value, low, high, report))
            else:
                resolve_incident(self.registry, self.monitor_id, t.metric, batch_id, value)
        has_drift_rule = any(t.metric in ("drift_share", "dataset_drift") for t in self.thresholds)
        if report is not None and not has_drift_rule:
            if report.dataset_drift:
                alerts.append(self._drift_alert(batch_id, report))
            else:
                share = float(report.share_drifted)
                resolve_incident(self.registry, self.monitor_id, "dataset_drift", batch_id, share)
        return alerts

    def _alert(
        self,
        batch_id: int,
        t: Threshold,
        value: float,
        low: float | None,
        high: float | None,
        report: Any,
    ) -> dict[str, Any]:
        if t.metric in ("drift_share", "dataset_drift") and report is not None:
            return self._drift_alert(batch_id, report, t)
        direction = "below" if low is not None and value < low else "above"
        bound = low if direction == "below" else high
        message = f"{self.name}: {t.metric} {value:.4g} is {direction} the threshold {bound:.4g} ({t.kind})"
        evidence = {
            "metric": t.metric,
            "value": value,
            "threshold": bound,
            "rule": t.to_dict(),
            "batch_id": batch_id,
            "monitor": self.name,
            "model": self.model,
        }
        if report is not None:
            evidence["drifted_columns"] = [c.column for c in report.columns if c.drifted]
        kind = f"{t.metric}_{direction}_threshold"
        performance = base_metric(t.metric) in HIGHER_IS_BETTER | LOWER_IS_BETTER
        estimated = self._handled_estimate(t.metric, batch_id)
        if estimated is not None:
            message += (
                f"; confirms incident #{estimated['id']} ({estimated['metric']}, raised before "
                f"the labels), handled by {estimated['handled_by']}"
            )
            evidence["confirms"] = estimated["id"]
        return raise_incident(
            self.registry,
            kind,
            message,
            evidence,
            metric=t.metric,
            value=value,
            lower_is_worse=not lower_is_better(t.metric),
            severity="critical" if performance else "warning",
            monitor_id=self.monitor_id,
            batch_id=batch_id,
            sinks=self.sinks,
            handled_by=estimated["handled_by"] if estimated is not None else None,
        )

    def _handled_estimate(self, metric: str, batch_id: int) -> Any:
        """The incident of this metric's label-free estimate that covered ``batch_id`` and
        that someone (a pipeline, a person) already handled, or None. A realized breach of such
        a batch confirms that incident: it is recorded, but it is no new task (a pipeline that
        retrained on the estimate must not retrain again when the labels arrive)."""
        if metric.startswith(ESTIMATED):
            return None
        incident = self.registry.alerts.incident_covering(
            self.monitor_id, ESTIMATED + metric, batch_id
        )
        if incident is None or not incident["handled_by"]:
            return None
        if incident["handled_by"].startswith("recovered:"):
            return None  # it went away by itself: the realized breach is news to act on
        return incident

    def _drift_alert(
        self, batch_id: int, report: Any, t: Threshold | None = None
    ) -> dict[str, Any]:
        drifted = [c.column for c in report.columns if c.drifted]
        message = (
            f"{self.name}: dataset drift, {report.n_drifted} of {report.n_columns} columns drifted "
            f"({', '.join(drifted[:6])}{'...' if len(drifted) > 6 else ''})"
        )
        evidence = {
            "share_drifted": report.share_drifted,
            "drifted_columns": drifted,
            "scores": {c.column: c.score for c in report.columns if c.drifted},
            "batch_id": batch_id,
            "monitor": self.name,
            "model": self.model,
        }
        return raise_incident(
            self.registry,
            "dataset_drift",
            message,
            evidence,
            metric=t.metric if t is not None else "dataset_drift",
            value=float(report.share_drifted),
            lower_is_worse=False,
            monitor_id=self.monitor_id,
            batch_id=batch_id,
            sinks=self.sinks,
        )

    # -- reading back ------------------------------------------------------------------

    def history(self, limit: int | None = 50) -> list[dict[str, Any]]:
        """Past batches (oldest first) in the shape the drift panel's timeline takes."""
        lines = self.threshold_lines()
        numbers = self.registry.monitors.numbers(self.monitor_id)
        drawn = self._drawn_estimates()
        out = []
        for b in self.registry.monitors.batches(self.monitor_id, limit=limit):
            estimates = b.get("estimates") or {}
            shown = {k: e for k, e in estimates.items() if k in drawn}
            out.append(
                {
                    "batch_id": b["id"],
                    "number": numbers.get(b["id"]),
                    "batch_at": b["batch_at"],
                    "report": b["report"],
                    "metrics": {
                        **b["metrics"],
                        **{ESTIMATED + k: e["value"] for k, e in shown.items()},
                    },
                    "bands": {ESTIMATED + k: [e["low"], e["high"]] for k, e in shown.items()},
                    "estimates": estimates,
                    "labels": b.get("labels"),
                    "n_rows": b["n_rows"],
                    "thresholds": lines,
                    "predictions": b.get("predictions"),
                }
            )
        return out

    def _drawn_estimates(self) -> set[str]:
        """Estimates the timeline draws: the headline metric's and any with a threshold."""
        metrics = self.config.get("metrics") or []
        drawn = {base_metric(metrics[0])} if metrics else set()
        drawn |= {base_metric(t.metric) for t in self.thresholds if t.metric.startswith(ESTIMATED)}
        return drawn

    def status(self) -> dict[str, Any]:
        """Latest verdict, metrics, thresholds and open alerts."""
        batches = self.registry.monitors.batches(self.monitor_id, limit=1, with_reports=False)
        latest = batches[-1] if batches else None
        alerts = self.registry.alerts._rows(status="open", monitor_id=self.monitor_id, limit=20)
        numbers = self.registry.monitors.numbers(self.monitor_id)
        return {
            "monitor": self.name,
            "model": self.model,
            "features": len(self.config["features"]),
            "batches": len(numbers),
            "latest": latest,
            "latest_number": numbers.get(latest["id"]) if latest else None,
            "thresholds": self.threshold_lines(),
            "open_alerts": alerts,
        }

    def panel(self, batch: int | None = None) -> Any:
        """The drift panel of the latest batch (or the monitor's batch number ``batch``: 1, 2,
        3... as the panel, the CLI and log_batch number them) with the timeline of all batches."""

        history = self.history()
        if not history:
            raise ValidationError(
                f"monitor {self.name!r} has no batches yet: call log_batch first."
            )
        chosen = history[-1]
        if batch is not None:
            match = [h for h in history if h["number"] == batch]
            if not match:
                raise NotFoundError(f"monitor {self.name!r} has no batch {batch}.")
            chosen = match[0]
        report = DriftReport.from_dict(chosen["report"])
        return Rendered(render_panel(report, history=history), report.summary_text())

    def widget(self) -> Any:
        """Deprecated: ``mlnb.widgets.monitor_widget(monitor)`` or ``%drift X --monitor NAME
        --widget``. The widget moved to the surfaces so that the core never imports IPython."""
        warnings.warn(
            "Monitor.widget() is deprecated: use mlnb.widgets.monitor_widget(monitor) or "
            "%drift DATA --monitor NAME --widget.",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module("mlnb.widgets").monitor_widget(self)


def compute_metrics(
    labels: Any, predictions: Any, names: Iterable[str], task: str | None
) -> dict[str, float]:
    """The chosen metrics of predictions against labels (classification or regression)."""
    import numpy as np
    from sklearn import metrics as skm

    y, p = np.asarray(labels), np.asarray(predictions)
    if len(y) == 0:
        raise ValidationError("no labelled rows to measure metrics on.")
    task = task or _guess_task(y)
    out: dict[str, float] = {}
    binary = task == "classification" and len(np.unique(np.concatenate([y, p]))) <= 2
    average = "binary" if binary else "macro"
    pos_label = _positive_label(y, p) if binary else None
    for name in names:
        try:
            if name == "accuracy":
                out[name] = float(skm.accuracy_score(y, p))
            elif name == "balanced_accuracy":
                out[name] = float(skm.balanced_accuracy_score(y, p))
            elif name in ("f1", "precision", "recall"):
                fn = {
                    "f1": skm.f1_score,
                    "precision": skm.precision_score,
                    "recall": skm.recall_score,
                }[name]
                kwargs = {"average": average, "zero_division": 0}
                if binary:
                    kwargs["pos_label"] = pos_label
                out[name] = float(fn(y, p, **kwargs))
            elif name == "rmse":
                out[name] = float(np.sqrt(skm.mean_squared_error(y, p)))
            elif name == "mse":
                out[name] = float(skm.mean_squared_error(y, p))
            elif name == "mae":
                out[name] = float(skm.mean_absolute_error(y, p))
            elif name == "r2":
                out[name] = float(skm.r2_score(y, p))
            elif name == "error_rate":
                out[name] = float(1 - skm.accuracy_score(y, p))
            else:
                raise ValidationError(
                    f"unknown monitor metric {name!r}; choose from "
                    f"{', '.join(sorted(HIGHER_IS_BETTER | LOWER_IS_BETTER - {'auc', 'roc_auc', 'log_loss'}))}."
                )
        except ValidationError:
            raise
        except Exception as exc:
            raise ValidationError(
                f"cannot compute {name} on these labels/predictions: {exc}"
            ) from exc
    return out


def _positive_label(y: Any, p: Any) -> Any:
    import numpy as np

    values = np.unique(np.concatenate([y, p]))
    for candidate in (1, True, "yes", "Yes", "churned", "1"):
        if candidate in values.tolist():
            return candidate
    return values[-1]


def _guess_task(values: Any) -> str:
    """Classification for labels that are not floats or take at most 20 distinct values."""
    import numpy as np

    arr = np.asarray(values)
    if arr.dtype.kind != "f":
        return "classification"
    return "classification" if len(np.unique(arr[~np.isnan(arr)])) <= 20 else "regression"


def _checked_values(
    report: Any,
    metrics: Mapping[str, float],
    prediction_summary: Mapping[str, Any] | None,
    estimates: Mapping[str, Mapping[str, float]] | None,
    label_summary: Mapping[str, Any] | None,
) -> dict[str, float]:
    """Every value a threshold can name for one batch: realized metrics, estimated ones
    (``estimated_accuracy``), drift share, prediction and label drift scores."""
    values: dict[str, float] = {k: float(v) for k, v in metrics.items()}
    for name, est in (estimates or {}).items():
        values[ESTIMATED + name] = float(est["value"])
    if report is not None:
        values["drift_share"] = float(report.share_drifted)
        values["dataset_drift"] = float(bool(report.dataset_drift))
    if prediction_summary and prediction_summary.get("score") is not None:
        values["prediction_drift"] = float(prediction_summary["score"])
    drift = (label_summary or {}).get("drift")
    if drift and drift.get("score") is not None:
        values["label_drift"] = float(drift["score"])
    return values


def _column_summary(col: Any) -> dict[str, Any]:
    """A one-column drift result as stored with a batch (predictions, labels)."""
    return {
        "score": col.score,
        "threshold": col.threshold,
        "drifted": bool(col.drifted),
        "test": col.test,
    }


def _fit_estimator(
    task: str | None,
    reference: Any,
    features: list[str],
    target: str,
    predictions: Any,
    scores: Any,
    classes: list[Any] | None,
) -> dict[str, Any] | None:
    """The label-free estimator's state: CBPE for a classifier with reference scores, DLE
    for a regressor with reference predictions; None when the inputs for either are missing."""
    labels = reference[target].to_numpy()
    if task == "classification" and scores is not None:
        return fit_cbpe(scores, labels, classes)
    if task == "regression" and predictions is not None:
        return fit_dle(reference[features], predictions, labels)
    return None


def _frame_for(batch: Any, features: list[str]) -> Any:
    """The batch's feature columns; missing ones stay missing so the report names them."""
    import pandas as pd

    if is_dask(batch):
        batch = dask_frame(batch, "batch")
    elif not isinstance(batch, pd.DataFrame):
        raise ValidationError(
            f"batch must be a pandas DataFrame (or a Dask DataFrame), got {type(batch).__name__}."
        )
    present = [c for c in batch.columns if c in set(features)]
    return batch[present] if len(present) < batch.shape[1] else batch


def _check_length(what: str, values: Any, n_rows: int) -> None:
    if len(values) != n_rows:
        raise ValidationError(f"{what} has {len(values)} values but the batch has {n_rows} rows.")


def _timestamp(when: Any) -> float:
    if when is None:
        return time.time()
    if isinstance(when, (int, float)):
        return float(when)
    if hasattr(when, "timestamp"):
        return float(when.timestamp())
    if isinstance(when, str):
        import pandas as pd

        try:
            return float(pd.Timestamp(when).timestamp())
        except ValueError:
            raise ValidationError(
                f"cannot read {when!r} as a date; use ISO format like 2026-03-01."
            ) from None
    raise ValidationError(
        f"when must be a datetime, a date string or UNIX seconds, got {type(when).__name__}."
    )


def list_monitors(registry: Registry | None = None) -> list[MonitorRecord]:
    """Every monitor of the registry with its batch count and open alerts."""
    reg = registry or get_registry()
    return reg.monitors.find()
