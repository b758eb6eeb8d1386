"""Drift settings: which test each column gets, its threshold, and fit-time resolution.

Defaults follow Evidently so users see familiar verdicts: references of at most 1000 rows
use KS (numeric) and chi-square or a two-proportion z-test (categorical) with p < 0.05;
larger references use the Wasserstein distance normed by the reference std (numeric) and
the Jensen-Shannon distance (categorical), both drifting at >= 0.1. A dataset drifts when at
least ``threshold_share`` of its feature columns drift.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlnb.errors import ValidationError

# Canonical method names and the spellings users bring from Evidently, scipy or papers.
METHOD_ALIASES: dict[str, str] = {
    "ks": "ks",
    "kolmogorov_smirnov": "ks",
    "chisquare": "chisquare",
    "chi2": "chisquare",
    "chisq": "chisquare",
    "chi_square": "chisquare",
    "ztest": "ztest",
    "z": "ztest",
    "psi": "psi",
    "wasserstein": "wasserstein",
    "wasserstein_normed": "wasserstein",
    "wasserstein_distance": "wasserstein",
    "jensenshannon": "jensenshannon",
    "jensen_shannon": "jensenshannon",
    "js": "jensenshannon",
}
METHODS = ("ks", "chisquare", "ztest", "psi", "wasserstein", "jensenshannon")

# Methods whose score is a p-value (drift when p < threshold); the others are distances
# (drift when distance >= threshold).
P_VALUE_METHODS = frozenset({"ks", "chisquare", "ztest"})

# PSI: 0.1 follows Evidently; the credit-scoring rule of thumb reads 0.1-0.2 as "moderate" and
# >= 0.2 as "significant" shift, so pass thresholds={"psi": 0.2} for that convention.
DEFAULT_THRESHOLDS: dict[str, float] = {
    "ks": 0.05,
    "chisquare": 0.05,
    "ztest": 0.05,
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.1,
    "constant": 0.01,  # the new-values rule: a constant reference makes every other value new
}


def canonical_method(name: object, where: str) -> str:
    """Return the canonical method name for ``name`` or raise naming ``where`` it came from."""
    if not isinstance(name, str) or name.lower() not in METHOD_ALIASES:
        raise ValidationError(
            f"{where}: unknown drift method {name!r}; choose one of {', '.join(METHODS)}"
        )
    return METHOD_ALIASES[name.lower()]


@dataclass
class DriftConfig:
    """How to test each column and when to call drift; overridable per column and per monitor.

    Scoring fields:
      threshold_share: the dataset drifts when this share of feature columns drifts (0.5).
      method / num_method / cat_method: test for all / numeric / categorical columns, one of
        ks, chisquare, ztest, psi, wasserstein, jensenshannon (None = automatic: KS and
        chi-square/z-test for references of <= small_ref_rows rows, else normed Wasserstein
        and Jensen-Shannon). A method that does not fit a column leaves it on the default.
      per_column: {"age": "psi"} or {"age": {"method": "psi", "threshold": 0.2}}; a method
        that does not fit the named column is an error. A column detected as an identifier
        or free text (excluded with a note) is scored when named here.
      threshold / num_threshold / cat_threshold / per_column_threshold: override the
        method defaults (p < 0.05 for ks/chisquare/ztest; >= 0.1 for wasserstein,
        jensenshannon and psi; >= 0.01 share of new values for constant columns).
      thresholds: per-method defaults, e.g. {"psi": 0.2} for the credit-scoring convention.
      columns / exclude: restrict which feature columns are scored.
      unseen_share_threshold: a categorical column also drifts when more than this share of
        its values are categories the reference never had (0.01).
      min_rows: a column needs this many values in the batch for a verdict (30); fewer
        get the status "too_few" and do not count, so a 1-row batch never reports drift.
      multivariate / multivariate_threshold: also test the numeric features together
        (PCA reconstruction error, see drift.multivariate); the dataset drifts when the
        batch's error moves by this relative amount (0.1) and by 3 standard errors.
      n_jobs: threads for scoring columns in parallel (default: up to 4).
    Fit-time fields (shape the stored profile):
      small_ref_rows (1000): references up to this size keep their values for exact tests.
      n_bins (1000): quantile bins per numeric column; coarse_bins (10): bins for PSI,
        Jensen-Shannon and chi-square on numeric columns.
      max_categories (1000): category table size; rarer categories are pooled as "other".
      max_discrete_values (10): numeric columns with at most this many distinct whole
        numbers (or at most 5 distinct values) are tested as categories, as Evidently does.
    """

    threshold_share: float = 0.5
    method: str | None = None
    num_method: str | None = None
    cat_method: str | None = None
    per_column: dict[str, Any] = field(default_factory=dict)
    threshold: float | None = None
    num_threshold: float | None = None
    cat_threshold: float | None = None
    per_column_threshold: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    columns: list[str] | None = None
    exclude: list[str] = field(default_factory=list)
    small_ref_rows: int = 1000
    n_bins: int = 1000
    coarse_bins: int = 10
    max_categories: int = 1000
    max_discrete_values: int = 10
    unseen_share_threshold: float = 0.01
    min_rows: int = 30
    multivariate: bool = True
    multivariate_threshold: float = 0.1
    n_jobs: int | None = None

    def __post_init__(self) -> None:
        self._validate_numbers()
        self.method = self._method_or_none(self.method, "method")
        self.num_method = self._method_or_none(self.num_method, "num_method")
        self.cat_method = self._method_or_none(self.cat_method, "cat_method")
        self.per_column, per_column_thresholds = self._split_per_column(self.per_column)
        self.per_column_threshold = {
            **{
                str(k): _threshold(v, f"per_column_threshold[{k!r}]")
                for k, v in dict(self.per_column_threshold or {}).items()
            },
            **per_column_thresholds,
        }
        self.thresholds = {
            canonical_method(k, "thresholds") if k != "constant" else "constant": _threshold(
                v, f"thresholds[{k!r}]"
            )
            for k, v in dict(self.thresholds or {}).items()
        }
        for name in ("threshold", "num_threshold", "cat_threshold"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, _threshold(value, name))
        if self.columns is not None:
            self.columns = [str(c) for c in _as_list(self.columns, "columns")]
        self.exclude = [str(c) for c in _as_list(self.exclude, "exclude")]

    def _validate_numbers(self) -> None:
        if not 0 < float(self.threshold_share) <= 1:
            raise ValidationError(
                f"threshold_share must be in (0, 1], got {self.threshold_share!r} "
                "(0.5 means the dataset drifts when half of its columns drift)"
            )
        for name, low in (
            ("small_ref_rows", 0),
            ("n_bins", 10),
            ("coarse_bins", 2),
            ("max_categories", 2),
            ("max_discrete_values", 0),
            ("min_rows", 1),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValidationError(f"{name} must be an integer >= {low}, got {value!r}")
        if not 0 < float(self.multivariate_threshold):
            raise ValidationError(
                f"multivariate_threshold must be > 0, got {self.multivariate_threshold!r} "
                "(0.1 means a 10% change in reconstruction error)"
            )
        if not 0 <= float(self.unseen_share_threshold) <= 1:
            raise ValidationError(
                f"unseen_share_threshold must be in [0, 1], got {self.unseen_share_threshold!r}"
            )
        if self.n_jobs is not None and (not isinstance(self.n_jobs, int) or self.n_jobs < 1):
            raise ValidationError(f"n_jobs must be a positive integer or None, got {self.n_jobs!r}")

    @staticmethod
    def _method_or_none(value: object, where: str) -> str | None:
        return None if value is None else canonical_method(value, where)

    @staticmethod
    def _split_per_column(per_column: object) -> tuple[dict[str, str], dict[str, float]]:
        if not isinstance(per_column, Mapping):
            raise ValidationError(
                "per_column must be a dict like {'age': 'psi'} or "
                f"{{'age': {{'method': 'psi', 'threshold': 0.2}}}}, got {type(per_column).__name__}"
            )
        methods: dict[str, str] = {}
        thresholds: dict[str, float] = {}
        for column, spec in per_column.items():
            where = f"per_column[{column!r}]"
            if isinstance(spec, Mapping):
                unknown = set(spec) - {"method", "threshold"}
                if unknown:
                    raise ValidationError(
                        f"{where}: unknown keys {sorted(unknown)}; use 'method' and 'threshold'"
                    )
                if spec.get("method") is not None:
                    methods[str(column)] = canonical_method(spec["method"], where)
                if spec.get("threshold") is not None:
                    thresholds[str(column)] = _threshold(spec["threshold"], where)
            else:
                methods[str(column)] = canonical_method(spec, where)
        return methods, thresholds

    @property
    def workers(self) -> int:
        """Threads used to score columns in parallel."""
        return self.n_jobs or max(1, min(4, os.cpu_count() or 1))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serializable settings."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> DriftConfig:
        """Rebuild settings from :meth:`to_dict`, ignoring keys from newer versions."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in dict(data or {}).items() if k in known})

    @classmethod
    def from_kwargs(cls, base: DriftConfig | None = None, **kwargs: Any) -> DriftConfig:
        """Settings from keyword arguments (e.g. ``drift(ref, cur, threshold_share=0.3)``)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ValidationError(
                f"unknown drift option(s) {', '.join(map(repr, unknown))}; "
                f"valid options are {', '.join(sorted(known))}"
            )
        if base is None:
            return cls(**kwargs)
        return cls(**{**base.to_dict(), **kwargs})


def coerce_config(config: DriftConfig | Mapping[str, Any] | None) -> DriftConfig | None:
    """Accept a DriftConfig, a dict of its fields, or None."""
    if config is None or isinstance(config, DriftConfig):
        return config
    if isinstance(config, Mapping):
        return DriftConfig.from_kwargs(**dict(config))
    raise ValidationError(
        f"config must be a DriftConfig or a dict of its fields, got {type(config).__name__}"
    )


def _threshold(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value == value:
        raise ValidationError(f"{where}: threshold must be a number, got {value!r}")
    if value < 0 or value == float("inf"):
        raise ValidationError(f"{where}: threshold must be finite and >= 0, got {value!r}")
    return float(value)


def _as_list(value: object, where: str) -> list[Any]:
    if isinstance(value, str):
        return [value]
    try:
        return list(value)  # type: ignore[call-overload]
    except TypeError:
        raise ValidationError(f"{where} must be a list of column names, got {value!r}") from None
