"""Drift results: one :class:`ColumnResult` per column and a :class:`DriftReport` for the batch.

Both are plain data that round-trip through JSON (``to_dict``/``from_dict``) so the registry
can store them; they carry compact histograms for the panels, never raw rows. A report shows
itself as the static drift panel (:func:`render_panel`): HTML from ``mlnb.render.drift`` around
the SVG charts of ``mlnb.render.drift_charts`` (no matplotlib on the way).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mlnb.errors import NotFoundError, ValidationError
from mlnb.render.drift import (
    DriftColumn,
    ordered,
    panel_html,
    plot_columns,
    report_text,
    verdict_text,
)
from mlnb.render.drift_charts import distribution_svg, scores_svg, timeline_svg

FORMAT = "mlnb.drift.report/1"  # stored in registries: never rename with the module

# Statuses of columns that were measured and count towards the dataset verdict.
SCORED_STATUSES = frozenset({"ok", "drift", "all_missing", "dtype_changed"})


@dataclass
class ColumnResult:
    """The drift verdict for one column, with the evidence behind it.

    ``score`` is a p-value for ks/chisquare/ztest (drift when below ``threshold``) and a
    distance for wasserstein/jensenshannon/psi/constant (drift when at or above it).
    """

    column: str
    kind: str
    test: str | None
    score: float | None
    threshold: float | None
    drifted: bool
    p_value: float | None = None
    statistic: float | None = None
    missing_ref: float = 0.0
    missing_cur: float = 0.0
    missing_change: float = 0.0
    unseen_categories: list[Any] = field(default_factory=list)
    unseen_share: float = 0.0
    status: str = "ok"
    note: str = ""
    role: str = "feature"
    n_ref: int = 0
    n_cur: int = 0
    n_inf_ref: int = 0
    n_inf_cur: int = 0
    stats: dict[str, Any] = field(default_factory=dict, repr=False)
    hist: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def higher_is_drift(self) -> bool:
        """False for p-value tests (small p = drift), True for distances."""
        return self.p_value is None

    @property
    def counted(self) -> bool:
        """Whether this column counts towards the dataset-level share."""
        return self.role == "feature" and self.status in SCORED_STATUSES

    def strength(self) -> float | None:
        """Score relative to its threshold, >= 1 meaning drift, comparable across tests."""
        if self.score is None or self.threshold is None:
            return None
        if self.higher_is_drift:
            return self.score / self.threshold if self.threshold > 0 else float(self.score > 0)
        p = max(self.score, 1e-300)
        alpha = min(max(self.threshold, 1e-300), 1 - 1e-12)
        return math.log(p) / math.log(alpha)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ColumnResult:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class DriftReport:
    """Drift of one batch against a reference profile."""

    columns: list[ColumnResult]
    threshold_share: float
    n_rows_ref: int
    n_rows_cur: int
    target: str | None = None
    prediction: str | None = None
    created_at: float = field(default_factory=time.time)
    seconds: float = 0.0
    small_reference: bool = False
    # the numeric features tested together (drift.multivariate.verdict), None when untested
    multivariate: dict[str, Any] | None = None

    @property
    def counted_columns(self) -> list[ColumnResult]:
        return [c for c in self.columns if c.counted]

    @property
    def n_columns(self) -> int:
        """Feature columns that were measured (target/prediction and skipped ones excluded)."""
        return len(self.counted_columns)

    @property
    def n_drifted(self) -> int:
        return sum(1 for c in self.counted_columns if c.drifted)

    @property
    def share_drifted(self) -> float:
        return self.n_drifted / self.n_columns if self.n_columns else 0.0

    @property
    def dataset_drift(self) -> bool:
        """True when at least ``threshold_share`` of the measured feature columns drifted, or
        the features together did (a change in their relation no single column shows)."""
        if self.multivariate_drift:
            return True
        return self.n_columns > 0 and self.share_drifted >= self.threshold_share

    @property
    def multivariate_drift(self) -> bool:
        """True when the numeric features, tested together, drifted."""
        return bool(self.multivariate and self.multivariate.get("drifted"))

    @property
    def too_little_data(self) -> bool:
        """True when no feature column had enough values for a verdict (``min_rows``)."""
        features = [c for c in self.columns if c.role == "feature"]
        return self.n_columns == 0 and any(c.status == "too_few" for c in features)

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.counted_columns if c.drifted]

    @property
    def prediction_drift(self) -> ColumnResult | None:
        """Drift of the prediction column, when the profile named one."""
        return next((c for c in self.columns if c.role == "prediction"), None)

    @property
    def target_drift(self) -> ColumnResult | None:
        return next((c for c in self.columns if c.role == "target"), None)

    def column(self, name: str) -> ColumnResult:
        """The result for one column by name."""
        for c in self.columns:
            if c.column == name:
                return c
        raise NotFoundError(f"no column {name!r} in this drift report")

    __getitem__ = column

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable form, with the derived verdicts included for readers of the JSON."""
        return {
            "format": FORMAT,
            "dataset_drift": self.dataset_drift,
            "too_little_data": self.too_little_data,
            "n_drifted": self.n_drifted,
            "n_columns": self.n_columns,
            "share_drifted": self.share_drifted,
            "threshold_share": self.threshold_share,
            "n_rows_ref": self.n_rows_ref,
            "n_rows_cur": self.n_rows_cur,
            "target": self.target,
            "prediction": self.prediction,
            "created_at": self.created_at,
            "seconds": self.seconds,
            "small_reference": self.small_reference,
            "multivariate": self.multivariate,
            "columns": [c.to_dict() for c in self.columns],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DriftReport:
        """Rebuild a report saved with :meth:`to_dict`."""
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise ValidationError(
                f"not a drift report: expected a dict with format {FORMAT!r} "
                "(made by DriftReport.to_dict())"
            )
        return cls(
            columns=[ColumnResult.from_dict(c) for c in d["columns"]],
            threshold_share=float(d["threshold_share"]),
            n_rows_ref=int(d["n_rows_ref"]),
            n_rows_cur=int(d["n_rows_cur"]),
            target=d.get("target"),
            prediction=d.get("prediction"),
            created_at=float(d.get("created_at") or 0.0),
            seconds=float(d.get("seconds") or 0.0),
            small_reference=bool(d.get("small_reference", False)),
            multivariate=d.get("multivariate"),
        )

    def to_frame(self) -> Any:
        """The per-column table as a pandas DataFrame."""
        import pandas as pd

        rows = [
            {k: v for k, v in c.to_dict().items() if k not in ("hist", "stats")}
            for c in self.columns
        ]
        return pd.DataFrame(rows)

    def verdict_text(self) -> str:
        """One line: how many columns drifted and whether the dataset did."""
        return verdict_text(self)

    def summary_text(self) -> str:
        """A plain-text table for terminals and logs."""
        return report_text(self)

    def __repr__(self) -> str:
        return self.summary_text()

    def _repr_html_(self) -> str:
        """The static drift panel (notebooks, nbconvert, GitHub previews)."""
        return render_panel(self)


def coerce_report(report: DriftReport | dict[str, Any]) -> DriftReport:
    """A DriftReport from itself or its ``to_dict()`` form; anything else is a TypeError."""
    if isinstance(report, DriftReport):
        return report
    if isinstance(report, dict):
        return DriftReport.from_dict(report)
    raise TypeError(f"expected a DriftReport or its dict, got {type(report).__name__}")


def history_rows(history: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Past batches (``batch_at``, ``report``, ``metrics``, ``thresholds``, optionally the
    monitor's batch ``number``) parsed and sorted oldest first: ``at`` a datetime, ``report``
    a DriftReport or None."""
    rows: list[dict[str, Any]] = []
    for i, rec in enumerate(history):
        if not isinstance(rec, dict) or "batch_at" not in rec:
            raise TypeError(f"history[{i}] must be a dict with at least 'batch_at' (unix seconds)")
        rep = rec.get("report")
        rows.append(
            {
                "at": _dt.datetime.fromtimestamp(float(rec["batch_at"])),
                "report": coerce_report(rep) if rep is not None else None,
                "metrics": dict(rec.get("metrics") or {}),
                "bands": dict(rec.get("bands") or {}),
                "thresholds": dict(rec.get("thresholds") or {}),
                "number": rec.get("number"),
            }
        )
    rows.sort(key=lambda r: r["at"])
    return rows


def render_panel(
    report: DriftReport | dict[str, Any],
    history: Sequence[dict[str, Any]] | None = None,
    max_plots: int = 6,
    max_folded: int = 50,
) -> str:
    """The static drift panel as HTML: verdict, per-column table, charts, optional timeline.

    The drifted columns' distributions (up to ``max_plots``, strongest first) show at once;
    the other columns' (up to ``max_folded``, highest scores first, so a report of thousands
    of columns stays small) fold away under "the other N columns" until the reader opens one.
    ``history`` is a list of past batches: dicts with ``batch_at`` (unix seconds), ``report``
    (a DriftReport or its dict), ``metrics`` (e.g. ``{"accuracy": 0.8}``) and ``thresholds``
    (e.g. ``{"accuracy": 0.82, "drift_share": 0.5}``).
    """
    report = coerce_report(report)
    plotted = plot_columns(report, max_plots)
    shown = {id(c) for c in plotted}
    others = [c for c in ordered(report) if c.hist and id(c) not in shown]
    folded = {id(c) for c in sorted(others, key=_strength, reverse=True)[: max(max_folded, 0)]}
    scored = any(c.score is not None for c in report.columns)
    return panel_html(
        report,
        distributions=[distribution_svg(c, show_legend=i == 0) for i, c in enumerate(plotted)],
        others=[(c, distribution_svg(c)) for c in others if id(c) in folded],
        n_others=len(others),
        scores=scores_svg(report) if scored and not plotted else None,
        timeline=timeline_svg(history_rows(history)) if history else None,
    )


def _strength(c: DriftColumn) -> float:
    """How close a column came to drifting (drifted ones first; unscored ones last)."""
    s = c.strength()
    return (1e9 if c.drifted else 0.0) + (s if s is not None and s == s else -1.0)
