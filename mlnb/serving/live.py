"""Live monitoring of deployments: the scheduler scores each deployment's logged traffic in
windows (every N rows, or T minutes for a trickle) with the deployment's monitor. A window
holds whole requests: the first ones that together reach N rows.

A window is one ``Monitor.log_batch`` (data drift, prediction drift and whatever the
monitor estimates from predictions and probabilities), plus infrastructure health
(latency p95 and error rate against the deployment's limits). When every label of a
window has arrived through ``/feedback`` its realized metrics are stored with
``Monitor.log_labels``. Breaches raise alerts on the monitor, so pipelines that watch it
(``--on-alert MONITOR``) retrain as they do for any other alert.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np
import pandas as pd

from mlnb.errors import MlnbError
from mlnb.monitoring.alerts import raise_alert
from mlnb.monitoring.monitor import Monitor
from mlnb.monitoring.recalibration import recalibrate_for_version
from mlnb.store.records import DeploymentRecord, InferenceRequestRecord
from mlnb.store.registry import Registry

log = logging.getLogger("mlnb.serving")
MAX_WINDOWS_PER_PASS = 50


def score_deployment_windows(reg: Registry, now: float | None = None) -> list[str]:
    """Score every due window of every monitored deployment; returns what happened (one
    line each). One deployment's trouble never stops the others."""
    done: list[str] = []
    t = time.time() if now is None else now
    for d in reg.deployments.find():
        if not d["config"].get("monitor"):
            continue
        try:
            done += _score_deployment(reg, d, t)
            done += _realize(reg, d)
        except Exception as exc:
            log.error("deployment %d: live monitoring failed: %s", d["id"], exc)
            done.append(f"deployment {d['id']}: live monitoring failed: {exc}")
    return done


def _due(reg: Registry, d: DeploymentRecord, now: float) -> tuple[int, int] | None:
    """(after id, rows) when a window is due: N rows, or any rows older than T minutes."""
    after, oldest, count = reg.deployments.first_unwindowed(d["id"])
    cfg = d["config"]
    if count >= int(cfg.get("window_rows", 500)):
        return after, int(cfg.get("window_rows", 500))
    if count and oldest is not None and now - oldest >= float(cfg.get("window_minutes", 10)) * 60:
        return after, count
    return None


def _score_deployment(reg: Registry, d: DeploymentRecord, now: float) -> list[str]:
    done: list[str] = []
    monitor = Monitor.load(d["config"]["monitor"], registry=reg)
    for _ in range(MAX_WINDOWS_PER_PASS):
        due = _due(reg, d, now)
        if due is None:
            break
        requests = reg.deployments.requests(d["id"], after_id=due[0], min_rows=due[1])
        done.append(_score_window(reg, d, monitor, requests))
    return done


def _score_window(
    reg: Registry, d: DeploymentRecord, monitor: Monitor, logged: list[InferenceRequestRecord]
) -> str:
    ok = [r for r in logged if r["ok"] and r["n_rows"]]
    requests = {r["request_id"] for r in logged}
    failed = {r["request_id"] for r in logged if not r["ok"]}
    latencies = sorted(r["latency_ms"] for r in logged)
    p95 = latencies[max(0, math.ceil(0.95 * len(latencies)) - 1)] if latencies else None
    batch_id = None
    alerts: list[dict[str, Any]] = []
    n_rows = sum(r["n_rows"] for r in ok)
    note = ""
    if ok:
        estimate, note = estimator_for_served_version(monitor, d["model_name"], ok)
        result = monitor.log_batch(
            features_frame(ok),
            when=ok[-1]["logged_at"],
            estimate=estimate,
            **_outputs(monitor, ok),
        )
        batch_id = result.batch_id
        alerts += result.alerts
    reg.deployments.add_window(
        {
            "deployment_id": d["id"],
            "first_log_id": logged[0]["id"],
            "last_log_id": logged[-1]["id"],
            "n_rows": n_rows,
            "n_requests": len(requests),
            "n_errors": len(failed),
            "p95_ms": p95,
            "batch_id": batch_id,
        }
    )
    error_rate = len(failed) / len(requests) if requests else 0.0
    alerts += _health_alerts(reg, d, monitor, p95, error_rate, batch_id)
    return (
        f"deployment {d['id']} ({d['model_name']}@{d['alias']}): window of {n_rows} rows, "
        f"{len(requests)} requests, p95 {p95 or 0:.1f} ms, error rate {error_rate:.1%}, "
        f"{len(alerts)} alert(s)" + (f"; {note}" if note else "")
    )


def estimator_for_served_version(
    monitor: Monitor, model_name: str, ok: list[InferenceRequestRecord]
) -> tuple[bool, str]:
    """(whether to estimate, what was done) for a window: the monitor's label-free estimator
    reads the outputs of the version that answered most of the window's rows.

    The estimator was fitted with the model the monitor was given, taken to be the version
    the deployment served when the monitor first scored its traffic. When another version
    answers (a promotion, a rollback), the estimator is re-fitted for it on its gate's holdout;
    without one the window gets no estimate (estimates of one model's confidence read with
    another's calibration would be wrong, silently)."""
    if not monitor.config.get("estimator"):
        return True, ""
    served = served_version(ok)
    known = monitor.estimator_version
    if served is None or known == served:
        return True, ""
    if known is None:
        monitor.set_estimator_version(served)
        return True, ""
    try:
        return True, recalibrate_for_version(monitor, model_name, served)
    except MlnbError as exc:
        log.warning("monitor %s: no label-free estimate for v%s: %s", monitor.name, served, exc)
        return False, f"no label-free estimate for v{served}: {exc}"


def served_version(ok: list[InferenceRequestRecord]) -> int | None:
    """The model version that answered most of these requests' rows."""
    rows: dict[int, int] = {}
    for r in ok:
        if r["version"] is not None:
            rows[r["version"]] = rows.get(r["version"], 0) + r["n_rows"]
    return max(rows, key=lambda v: (rows[v], v)) if rows else None


def features_frame(logged: list[InferenceRequestRecord]) -> pd.DataFrame:
    """The features of answered requests as one frame, column by column (a column a request
    did not have, e.g. across a swap to another signature, is missing for its rows)."""
    names: dict[str, None] = {}
    for r in logged:
        names.update(dict.fromkeys(r["features"] or {}))
    columns: dict[str, list[Any]] = {n: [] for n in names}
    for r in logged:
        features = r["features"] or {}
        for n in names:
            columns[n].extend(features.get(n) or [None] * r["n_rows"])
    return pd.DataFrame(columns)


def _concat(logged: list[InferenceRequestRecord], key: str) -> list[Any]:
    """One per-row field (predictions, probabilities, labels) of several requests."""
    out: list[Any] = []
    for r in logged:
        out.extend(r[key] or [None] * r["n_rows"])  # type: ignore[literal-required]
    return out


def _outputs(monitor: Monitor, ok: list[InferenceRequestRecord]) -> dict[str, Any]:
    """``predictions=`` and, for a monitor that estimates a binary classifier's accuracy
    from its confidence (CBPE), ``scores=``: the label-free estimate before labels arrive."""
    predictions = _concat(ok, "predictions")
    out: dict[str, Any] = {"predictions": predictions}
    estimator = monitor.config.get("estimator")
    scores: Any = binary_scores(estimator, predictions, _concat(ok, "probabilities"))
    if scores is None and all(r.get("class_probabilities") for r in ok):
        rows = [p for r in ok for p in r["class_probabilities"] or []]
        scores = class_scores(estimator, predictions, rows)
    if scores is not None:
        out["scores"] = scores
    return out


def class_scores(estimator: Any, predictions: list[Any], rows: list[list[float]]) -> Any:
    """A multiclass model's logged probability rows as the score matrix its CBPE estimator
    reads, or None when they cannot be: another estimator, a row missing or of another
    width, or columns that do not follow the estimator's classes. The columns are in the
    served model's class order, the order the estimator was calibrated in; a row's top
    column must name the class the model predicted for it, which checks that order."""
    if not estimator or estimator.get("kind") != "cbpe" or len(estimator["classes"]) < 3:
        return None
    classes = estimator["classes"]
    if len(rows) != len(predictions) or any(len(p) != len(classes) for p in rows):
        return None
    matrix = np.asarray(rows, dtype=float)
    top = np.argmax(matrix, axis=1)
    ordered = np.sort(matrix, axis=1)
    clear = ordered[:, -1] > ordered[:, -2]  # rows without a tie for the top
    named = np.array([classes[i] for i in top], dtype=object)
    if not np.all(named[clear] == np.asarray(predictions, dtype=object)[clear]):
        return None
    return matrix


def binary_scores(
    estimator: Any, predictions: list[Any], probabilities: list[Any]
) -> list[float] | None:
    """The logged probabilities as the scores a binary CBPE estimator reads (the probability
    of its second class), or None when they cannot be: no such estimator, a probability
    missing, or more than two classes (the log keeps only the top class's probability).

    The server logs the probability of the model's second class (``classes_[1]``), the one
    predicted whenever it is above one half; which label that is comes from the rows."""
    if not estimator or estimator.get("kind") != "cbpe" or len(estimator["classes"]) != 2:
        return None
    if not probabilities or any(p is None for p in probabilities):
        return None
    negative, positive = estimator["classes"]
    second = next((y for y, p in zip(predictions, probabilities, strict=True) if p > 0.5), None)
    if second is None:  # every row went to the first class: the second is the other one
        first = next((y for y, p in zip(predictions, probabilities, strict=True) if p < 0.5), None)
        second = {negative: positive, positive: negative}.get(first) if first is not None else None
    if second == positive:
        return [float(p) for p in probabilities]
    if second == negative:
        return [1.0 - float(p) for p in probabilities]
    return None


def _health_alerts(
    reg: Registry,
    d: DeploymentRecord,
    monitor: Monitor,
    p95: float | None,
    error_rate: float,
    batch_id: int | None,
) -> list[dict[str, Any]]:
    cfg = d["config"]
    found = []
    limit = cfg.get("max_p95_ms")
    if limit is not None and p95 is not None and p95 > float(limit):
        found.append(("latency_p95", p95, float(limit), "ms"))
    limit = cfg.get("max_error_rate")
    if limit is not None and error_rate > float(limit):
        found.append(("error_rate", error_rate, float(limit), ""))
    alerts = []
    for metric, value, bound, unit in found:
        alerts.append(
            raise_alert(
                reg,
                "monitor",
                f"{metric}_above_threshold",
                f"{monitor.name}: {d['model_name']}@{d['alias']} {metric} {value:.4g}{unit} is "
                f"above the threshold {bound:.4g}{unit} (deployment {d['id']} at {d['url']})",
                {
                    "metric": metric,
                    "value": value,
                    "threshold": bound,
                    "deployment_id": d["id"],
                    "monitor": monitor.name,
                    "model": d["model_name"],
                },
                severity="critical",
                monitor_id=monitor.monitor_id,
                batch_id=batch_id,
            )
        )
    return alerts


def _realize(reg: Registry, d: DeploymentRecord) -> list[str]:
    """Realized metrics for windows whose labels have all arrived."""
    done = []
    monitor: Monitor | None = None
    for w in reg.deployments.windows(d["id"], realized=False):
        if w["batch_id"] is None:
            reg.deployments.mark_realized(w["id"])
            continue
        logged = [r for r in reg.deployments.window_requests(w) if r["n_rows"]]
        if not logged or any(r["n_labelled"] < r["n_rows"] for r in logged):
            continue
        monitor = monitor or Monitor.load(d["config"]["monitor"], registry=reg)
        metrics = monitor.log_labels(
            w["batch_id"], _concat(logged, "labels"), _concat(logged, "predictions")
        )
        reg.deployments.mark_realized(w["id"])
        shown = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if isinstance(v, float))
        done.append(f"deployment {d['id']}: window {w['id']} realized ({shown})")
    return done
