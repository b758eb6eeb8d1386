"""Drift results: one :class:`ColumnResult` per column and a :class:`DriftReport` for the batch.

Both are plain data that round-trip through JSON (``to_dict``/``from_dict``) so the registry
can store them; they carry compact histograms for the panels, never raw rows.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from mlnb.errors import NotFoundError, ValidationError

FORMAT = "mlnb.monitoring.drift.report/1"

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
        import math

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
        """True when at least ``threshold_share`` of the measured feature columns drifted."""
        return self.n_columns > 0 and self.share_drifted >= self.threshold_share

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
        head = "DATASET DRIFT" if self.dataset_drift else "no dataset drift"
        return (
            f"{head}: {self.n_drifted} of {self.n_columns} columns drifted "
            f"({self.share_drifted:.0%}, threshold {self.threshold_share:.0%}); "
            f"{self.n_rows_cur:,} rows vs {self.n_rows_ref:,} reference rows"
        )

    def summary_text(self) -> str:
        """A plain-text table for terminals and logs."""
        header = ("column", "type", "test", "score", "thresh", "drift", "missing Δ", "status")
        rows = [header]
        for c in self.columns:
            rows.append(
                (
                    _clip(c.column, 28) + ("" if c.role == "feature" else f" [{c.role}]"),
                    c.kind,
                    c.test or "-",
                    _fmt(c.score),
                    _fmt(c.threshold),
                    "DRIFT" if c.drifted else "-",
                    f"{c.missing_change:+.1%}" if c.missing_change else "0",
                    c.status,
                )
            )
        widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
        lines = [self.verdict_text(), ""]
        for j, r in enumerate(rows):
            lines.append(
                "  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
            )
            if j == 0:
                lines.append("  ".join("-" * w for w in widths))
        notes = [f"  {c.column}: {c.note}" for c in self.columns if c.note]
        if notes:
            lines += ["", "notes:"] + notes
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary_text()

    def _repr_html_(self) -> str:
        from mlnb.monitoring.drift.panel import render_panel

        return render_panel(self)


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if v == 0:
        return "0"
    if abs(v) < 1e-3:
        return f"{v:.1e}"
    return f"{v:.4f}" if abs(v) < 10 else f"{v:.4g}"


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
