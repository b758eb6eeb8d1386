"""Reference profiles: the compact statistics a batch is scored against.

A profile holds, per column, what the drift tests need and nothing more: quantile bin edges
with counts, mean/std/min/max and missing/inf counts for numbers; category count tables for
categories; and, only for small references (<= ``small_ref_rows`` rows), the exact values so
that KS matches scipy on raw data. Profiles fitted on chunks or partitions merge into one.
"""

from __future__ import annotations

import base64
import functools
import math
import re
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import numpy as np

from mlnb.errors import ValidationError
from mlnb.monitoring.drift._binning import Binner
from mlnb.monitoring.drift._frames import (
    category_counts,
    category_hashes,
    column_family,
    iter_frames,
    numeric_values,
    split_finite,
)
from mlnb.monitoring.drift._pool import OrderedPool, jobs_per_task
from mlnb.monitoring.drift._progress import Progress
from mlnb.monitoring.drift._scratch import blocks, centered_sum_of_squares
from mlnb.monitoring.drift.config import DriftConfig, coerce_config
from mlnb.monitoring.drift.dask_frames import dask_frame, is_dask, map_partitions, worker_config
from mlnb.monitoring.drift.multivariate import Moments, feature_columns, stride

# Stored in registries: never rename with the module. /2 adds hashed category membership and
# identifier/free-text detection; /1 profiles still load and score (membership past the
# category table unknown, as it was).
FORMAT = "mlnb.drift.profile/2"
FORMATS_READ = frozenset({"mlnb.drift.profile/1", FORMAT})
# Categories past the table are remembered as 64-bit hashes, up to this many per column
# (8 bytes each); a never-seen value is mistaken for one of m remembered values with
# probability at most m / 2**64 (1.4e-14 at the cap).
MAX_MEMBER_HASHES = 250_000
# A text column with at least this many values, nearly all distinct, is an identifier
# (or free text when most values are long and hold spaces): excluded from drift.
ID_MIN_VALUES = 50
ID_DISTINCT_SHARE = 0.9
TEXT_DISTINCT_SHARE = 0.5
TEXT_MIN_LENGTH = 20
# An integer column is an identifier when its values are nearly all distinct (as above) and
# either its name says so (customer_id, CustomerID, uuid, key) or its distinct values fill at
# least 80% of their range (a row number or an auto-increment sequence). Independent draws
# of a genuine feature cannot do both: at >= 90% distinct they cover at most ~20% of their
# range, so ages, counts and wide-range amounts (income in dollars) stay scored.
ID_DENSE_SHARE = 0.8
ID_NAME_TOKENS = frozenset({"id", "ids", "uuid", "guid", "key", "pk", "identifier"})
# Edges are placed from a sorted sample of this many values per bin; counts always use every
# value, so the sample only decides where bins fall, not what they hold.
EDGE_SAMPLE_PER_BIN = 20
# Values of a chunk outside the range of the part it is counted into are held apart, up to
# this many per column and side, then fitted as a part of their own.
SPILL_MAX_VALUES = 16_384
# Values held apart, when at most this many at the end, are counted into the part as edges
# of their own (exact), rather than fitted as a part and merged.
FOLD_MAX_VALUES = 4096
# A chunk holding this many times (plus 6 sigma of counting noise) the mass a part's bin held
# when the bins were placed comes from another distribution: it is fitted anew, not counted in.
CROWDED_FACTOR = 3.0
EVIDENTLY_DISCRETE_ANY = 5  # numeric columns with <= 5 distinct values are tested as categories


@dataclass
class NumericSummary:
    """Finite values of a numeric column: moments, range and a fine quantile histogram.

    ``edges`` are strictly increasing (``edges[0] == min``, ``edges[-1] == max``) and bin i is
    ``[edges[i], edges[i+1])``, the last one closed; a single value is ``edges == [v]``.
    ``atoms[j]`` counts values exactly equal to ``edges[j]`` when there are ties (>= 2), so
    that merging profiles keeps point masses (zero-inflated or rounded data) in place.
    """

    n: int
    mean: float
    m2: float
    min: float
    max: float
    edges: np.ndarray
    counts: np.ndarray
    atoms: np.ndarray
    # the binner the fit counted with, on exactly these edges (reused to score)
    binner: Binner | None = field(default=None, repr=False, compare=False)

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / self.n) if self.n else 0.0

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the binner (its lookup tables weigh ~300 kB; rebuilt on use)."""
        return {**self.__dict__, "binner": None}

    @classmethod
    def from_values(cls, x: np.ndarray, n_bins: int) -> NumericSummary | None:
        """Summary of finite float64 values (None when there are none)."""
        n = len(x)
        if n == 0:
            return None
        lo, hi = float(x.min()), float(x.max())
        mean = float(x.mean())
        m2 = centered_sum_of_squares(x, mean) if n > 1 else 0.0
        if lo == hi:
            return cls(
                n, lo, 0.0, lo, hi, np.array([lo]), np.array([float(n)]), np.array([float(n)])
            )
        sample_size = EDGE_SAMPLE_PER_BIN * n_bins
        discrete: np.ndarray | None  # every distinct value, when there are few
        if n <= sample_size:
            ordered = np.sort(x)
            distinct = np.count_nonzero(np.diff(ordered)) + 1
            discrete = np.unique(ordered) if distinct <= n_bins // 2 else None
            ranks = np.round(_edge_levels(n_bins) * (n - 1)).astype(np.intp)
            edges = np.unique(np.concatenate([[lo], ordered[ranks], [hi]]))
        else:
            pick = np.random.default_rng(0).integers(0, n, sample_size)
            ordered = np.sort(x[pick])
            discrete = _discrete_support(x, ordered, n_bins)
            if discrete is None:
                edges = _sampled_edges(x, ordered, n_bins, lo, hi)
        if discrete is not None:
            edges = discrete
        binner = None
        if n <= sample_size:  # all values are sorted: count by binary search on the edges
            bounds = edges.copy()
            bounds[-1] = np.nextafter(hi, np.inf)
            counts = np.diff(np.searchsorted(ordered, bounds, side="left"))
            atoms = np.searchsorted(ordered, edges, "right") - np.searchsorted(
                ordered, edges, "left"
            )
        else:
            tied = np.searchsorted(ordered, edges, "right") - np.searchsorted(
                ordered, edges, "left"
            )
            heavy = max(2, EDGE_SAMPLE_PER_BIN // 2)  # a value holding >= half a bin's mass
            binner = Binner(edges)
            if discrete is not None:
                counts, atoms = _counts_and_atoms(x, binner, count_ties=True)
            else:
                flagged = edges[tied >= heavy]
                counts, atoms = _counts_and_atoms(
                    x, binner, count_ties=len(flagged) > 0, confirm=(flagged, n_bins)
                )
            counts = counts[1:-1]  # every value is within the range
        # a discrete column's values all sit on edges, singletons included
        atoms = np.where(atoms >= (1 if discrete is not None else 2), atoms, 0).astype(float)
        return cls(n, mean, m2, lo, hi, edges, counts.astype(float), atoms, binner)

    def add_moments(self, n: int, mean: float, m2: float) -> None:
        """Fold the moments of ``n`` more values into these (Chan et al.'s pairwise update)."""
        total = self.n + n
        pooled = (self.mean * self.n + mean * n) / total
        self.m2 = self.m2 + self.n * (self.mean - pooled) ** 2 + m2 + n * (mean - pooled) ** 2
        self.n, self.mean = total, pooled

    def cumulative_below(self, knots: np.ndarray) -> np.ndarray:
        """Mass strictly below each knot: ties sit on their edge, the rest spreads evenly."""
        if len(self.edges) == 1:
            return np.where(knots > self.edges[0], float(self.n), 0.0)
        interior = self.counts - self.atoms[:-1]
        interior[-1] -= self.atoms[-1]
        spread = np.interp(knots, self.edges, np.concatenate([[0.0], np.cumsum(interior)]))
        tied = np.concatenate([[0.0], np.cumsum(self.atoms)])
        return spread + tied[np.searchsorted(self.edges, knots, side="left")]

    def atoms_at(self, knots: np.ndarray) -> np.ndarray:
        """Tied counts sitting exactly on each knot."""
        pos = np.minimum(np.searchsorted(self.edges, knots), len(self.edges) - 1)
        return np.where(self.edges[pos] == knots, self.atoms[pos], 0.0)

    def to_dict(self) -> dict[str, Any]:
        tied = np.flatnonzero(self.atoms)
        return {
            "n": self.n,
            "mean": self.mean,
            "m2": self.m2,
            "min": self.min,
            "max": self.max,
            "edges": self.edges.tolist(),
            "counts": _compact_counts(self.counts),
            "atoms": [[int(i), _num(self.atoms[i])] for i in tied],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NumericSummary:
        edges = np.asarray(d["edges"], dtype=float)
        atoms = np.zeros(len(edges))
        for i, count in d.get("atoms", []):
            atoms[int(i)] = float(count)
        return cls(
            int(d["n"]),
            float(d["mean"]),
            float(d["m2"]),
            float(d["min"]),
            float(d["max"]),
            edges,
            np.asarray(d["counts"], dtype=float),
            atoms,
        )


def _discrete_support(x: np.ndarray, ordered_sample: np.ndarray, n_bins: int) -> np.ndarray | None:
    """Every distinct value as an edge when the column is discrete (few distinct values in
    the sample, hence most likely in all of it), so each value's mass sits on its own edge and
    distances are exact; None for continuous data (decided on the sample, at no cost)."""
    if np.count_nonzero(np.diff(ordered_sample)) >= n_bins // 2:
        return None
    import pandas as pd

    values = pd.unique(x)  # hashing, not sorting: linear time
    if len(values) > n_bins or len(values) < 2:
        return None
    return np.sort(values)


def _sampled_edges(
    x: np.ndarray, ordered: np.ndarray, n_bins: int, lo: float, hi: float
) -> np.ndarray:
    """Edges at the quantile levels: the body from a sorted sample, the fine tail levels from
    the exact extreme values (a sample cannot resolve 1e-5 quantiles of heavy tails)."""
    levels = _edge_levels(n_bins)
    step = 1.0 / n_bins
    body = (levels >= step) & (levels <= 1 - step)
    m = len(ordered)
    body_edges = ordered[np.round(levels[body] * (m - 1)).astype(np.intp)]
    k = max(1, int(m * step))
    n = len(x)
    low = np.sort(x[x < ordered[k]])
    high = np.sort(x[x > ordered[m - 1 - k]])
    low_ranks = np.round(levels[levels < step] * (n - 1)).astype(np.intp)
    from_top = (n - 1) - np.round(levels[levels > 1 - step] * (n - 1)).astype(np.intp)
    tails = [low[low_ranks[low_ranks < len(low)]]]
    tails.append(high[len(high) - 1 - from_top[from_top < len(high)]])
    return np.unique(np.concatenate([[lo], body_edges, *tails, [hi]]))


def _counts_and_atoms(
    x: np.ndarray,
    binner: Binner,
    count_ties: bool,
    outside: list[np.ndarray] | None = None,
    confirm: tuple[np.ndarray, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact bin counts of ``x`` (first and last: below and above the edge range) and, when
    the edge sample showed ties, counts of values equal to each edge (heavy ties always show
    in the sample). The values beyond the range are appended to ``outside`` when given.

    ``confirm`` (the edges the sample flagged, and the bin count) has the first block's exact
    ties bear the sample out before every block pays for counting them (all-zero atoms when
    they do not)."""
    edges = binner.edges
    k = len(edges) - 1
    counts = np.zeros(k + 2, dtype=np.int64)
    atoms = np.zeros(k + 1, dtype=np.int64)
    for i, part in enumerate(blocks(len(x))):
        xb = x[part]
        idx = binner.index(xb)
        block = np.bincount(idx, minlength=k + 2)
        counts += block
        if outside is not None:
            for at in (0, k + 1):
                if block[at]:
                    outside.append(binner.in_bin(xb, idx, int(block[at]), at))
        if count_ties:
            ties = binner.edge_ties(xb, idx)
            if i == 0 and confirm is not None:
                count_ties = _ties_borne_out(ties, xb, *confirm)
            if count_ties:
                atoms += ties
    return counts, atoms


def _ties_borne_out(ties: np.ndarray, xb: np.ndarray, flagged: np.ndarray, n_bins: int) -> bool:
    """Whether a block's exact ties confirm the ones a sample flagged on ``flagged`` edges.

    The sample holds ~20 values per bin, so a value with a fifth of a bin's mass shows ten
    copies now and then among a thousand edges (integer data with ten values per bin), and
    every later count and score would pay for ties that barely move a distance. A block is
    ~3x the sample and exact: some edge must hold half a bin's share of it. Flagged edges
    outside the block's values (data sorted or clustered by this column) cannot be judged
    there, so the ties are kept."""
    if ties.max() >= 0.5 * len(xb) / n_bins:
        return True
    return bool(np.any((flagged < xb.min()) | (flagged > xb.max())))


@functools.lru_cache(maxsize=8)
def _edge_levels(n_bins: int) -> np.ndarray:
    """Quantile levels of the edges: equal mass, plus finer steps in both tails.

    Tail bins of heavy-tailed data are wide; splitting the outermost ones at 1e-4 .. 1e-7
    keeps the even-spread-within-a-bin assumption from distorting distances there.
    """
    tail = 10.0 ** -np.arange(np.ceil(np.log10(n_bins)) + 1, 8)
    levels = np.unique(np.concatenate([np.linspace(0, 1, n_bins + 1), tail, 1 - tail]))
    levels.flags.writeable = False
    return levels


def merge_numeric(parts: list[NumericSummary], n_bins: int) -> NumericSummary | None:
    """One summary from several: exact moments and range, histogram on the union of edges.

    Each part's mass is read off at every part's edges (ties stay on their value, the rest
    spreads evenly within its own bins), then the union is thinned back to about ``n_bins``
    bins by keeping the edges nearest to the fit's quantile levels (and every heavy tie),
    which keeps bin masses exact sums of union bins.
    """
    parts = [p for p in parts if p is not None and p.n > 0]
    if not parts:
        return None
    n = sum(p.n for p in parts)
    mean = sum(p.mean * p.n for p in parts) / n
    m2 = sum(p.m2 + p.n * (p.mean - mean) ** 2 for p in parts)
    lo, hi = min(p.min for p in parts), max(p.max for p in parts)
    knots = np.unique(np.concatenate([p.edges for p in parts]))
    if len(knots) == 1:
        mass = np.array([float(n)])
        return NumericSummary(n, mean, m2, lo, hi, knots, mass, mass.copy())
    below = cast(np.ndarray, sum(p.cumulative_below(knots) for p in parts))
    atoms = cast(np.ndarray, sum(p.atoms_at(knots) for p in parts))
    cum = np.concatenate([[0.0], below[1:-1], [float(n)]])
    summary = NumericSummary(n, mean, m2, lo, hi, knots, np.diff(cum), atoms)
    return _thin(summary, n_bins)


def _thin(s: NumericSummary, n_bins: int) -> NumericSummary:
    """Keep the edges nearest to the fit's quantile levels (about ``n_bins`` bins) and the
    edges holding heavy ties, so point masses are not smeared."""
    fractions = _edge_levels(n_bins)[1:-1]
    if len(s.counts) <= len(fractions) + 1:
        return s
    cum = np.concatenate([[0.0], np.cumsum(s.counts)])
    levels = cum[-1] * fractions
    right = np.clip(np.searchsorted(cum, levels), 1, len(cum) - 1)
    nearer_left = (levels - cum[right - 1]) < (cum[right] - levels)
    heavy = np.flatnonzero(s.atoms >= cum[-1] / n_bins)
    picks = np.unique(np.concatenate([[0], right - nearer_left, heavy, [len(cum) - 1]]))
    if len(picks) == len(s.edges):
        return s  # every edge kept: nothing to thin
    s.binner = None
    s.edges = s.edges[picks]
    s.counts = np.diff(cum[picks])
    s.atoms = s.atoms[picks]
    return s


@dataclass
class ColumnProfile:
    """What the reference looked like in one column."""

    name: str
    family: str
    n_rows: int
    n_missing: int = 0
    n_posinf: int = 0
    n_neginf: int = 0
    category_dtype: bool = False
    dtype: str = ""
    numeric: NumericSummary | None = None
    categories: dict[Any, float] | None = None
    other_count: float = 0.0
    n_distinct: int = 0
    sample: np.ndarray | None = None
    role: str = "feature"
    # sorted hashes of the categories outside ``categories`` (None: not known, as in /1)
    members: np.ndarray | None = field(default=None, repr=False)
    looks_like: str = ""  # "identifier" or "text" for columns excluded from drift
    _binner: Binner | None = field(default=None, repr=False, compare=False)

    @property
    def kind(self) -> str:
        """'numeric', 'categorical', 'constant', 'empty', 'datetime', 'identifier' or 'text'."""
        if self.family == "datetime":
            return "datetime"
        if self.looks_like and self.role == "feature":
            return self.looks_like
        if self.family == "numeric" and not self.category_dtype:
            s = self.numeric
            if s is None or s.n == 0:
                return "empty"
            if s.min == s.max:
                return "constant"
            table = self.categories
            if table is not None and (
                len(table) <= EVIDENTLY_DISCRETE_ANY or all(isinstance(k, int) for k in table)
            ):
                return "categorical"
            return "numeric"
        table = self.categories or {}
        if not table and not self.other_count:
            return "empty"
        if len(table) == 1 and not self.other_count:
            return "constant"
        return "categorical"

    @property
    def n_present(self) -> int:
        """Values that are neither missing nor infinite."""
        return self.n_rows - self.n_missing - self.n_posinf - self.n_neginf

    def binner(self) -> Binner:
        """Cached fast binner on this column's edges (numeric columns with a spread)."""
        if self._binner is None:
            assert self.numeric is not None and len(self.numeric.edges) >= 2
            self._binner = self.numeric.binner or Binner(self.numeric.edges)
        return self._binner

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "role": self.role,
            "family": self.family,
            "dtype": self.dtype,
            "category_dtype": self.category_dtype,
            "n_rows": self.n_rows,
            "n_missing": self.n_missing,
            "n_posinf": self.n_posinf,
            "n_neginf": self.n_neginf,
            "numeric": self.numeric.to_dict() if self.numeric is not None else None,
            "categories": (
                [[k, _num(v)] for k, v in self.categories.items()]
                if self.categories is not None
                else None
            ),
            "other_count": _num(self.other_count),
            "n_distinct": self.n_distinct,
            "sample": self.sample.tolist() if self.sample is not None else None,
            "members": _encode_hashes(self.members),
            "looks_like": self.looks_like,
        }
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ColumnProfile:
        return cls(
            name=str(d["name"]),
            role=d.get("role", "feature"),
            family=d["family"],
            dtype=d.get("dtype", ""),
            category_dtype=bool(d.get("category_dtype", False)),
            n_rows=int(d["n_rows"]),
            n_missing=int(d.get("n_missing", 0)),
            n_posinf=int(d.get("n_posinf", 0)),
            n_neginf=int(d.get("n_neginf", 0)),
            numeric=NumericSummary.from_dict(d["numeric"]) if d.get("numeric") else None,
            categories=(
                {k: float(v) for k, v in d["categories"]}
                if d.get("categories") is not None
                else None
            ),
            other_count=float(d.get("other_count", 0)),
            n_distinct=int(d.get("n_distinct", 0)),
            sample=np.asarray(d["sample"], dtype=float) if d.get("sample") is not None else None,
            members=_decode_hashes(d.get("members")),
            looks_like=str(d.get("looks_like") or ""),
        )


def _encode_hashes(hashes: np.ndarray | None) -> str | None:
    if hashes is None:
        return None
    return base64.b64encode(hashes.astype("<u8").tobytes()).decode("ascii")


def _decode_hashes(text: str | None) -> np.ndarray | None:
    if text is None:
        return None
    return np.frombuffer(base64.b64decode(text), dtype="<u8").astype(np.uint64)


class Profile:
    """A fitted reference: per-column statistics, row count, roles and the fit settings."""

    def __init__(
        self,
        columns: dict[str, ColumnProfile],
        n_rows: int,
        config: DriftConfig,
        target: str | None = None,
        prediction: str | None = None,
        created_at: float | None = None,
        moments: Moments | None = None,
    ) -> None:
        self.columns = columns
        self.n_rows = n_rows
        self.config = config
        self.target = target
        self.prediction = prediction
        self.created_at = time.time() if created_at is None else created_at
        self.moments = moments  # of the numeric features, for multivariate drift

    @property
    def is_small(self) -> bool:
        """True when the reference is small enough for exact p-value tests."""
        return self.n_rows <= self.config.small_ref_rows

    @property
    def column_names(self) -> list[str]:
        return list(self.columns)

    def __repr__(self) -> str:
        kinds: dict[str, int] = {}
        for col in self.columns.values():
            kinds[col.kind] = kinds.get(col.kind, 0) + 1
        parts = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        return f"Profile(n_rows={self.n_rows}, columns={len(self.columns)}: {parts})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-serializable form (``json.dumps`` works on it)."""
        return {
            "format": FORMAT,
            "n_rows": self.n_rows,
            "target": self.target,
            "prediction": self.prediction,
            "created_at": self.created_at,
            "config": self.config.to_dict(),
            "columns": [c.to_dict() for c in self.columns.values()],
            "moments": self.moments.to_dict() if self.moments is not None else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Profile:
        """Rebuild a profile saved with :meth:`to_dict`."""
        if not isinstance(d, Mapping) or d.get("format") not in FORMATS_READ:
            raise ValidationError(
                f"not a drift profile: expected a dict with format {FORMAT!r} "
                "(made by Profile.to_dict())"
            )
        cols = [ColumnProfile.from_dict(c) for c in d["columns"]]
        return cls(
            {c.name: c for c in cols},
            int(d["n_rows"]),
            DriftConfig.from_dict(d.get("config")),
            target=d.get("target"),
            prediction=d.get("prediction"),
            created_at=d.get("created_at"),
            moments=Moments.from_dict(d["moments"]) if d.get("moments") else None,
        )

    @classmethod
    def merge(cls, *profiles: Profile) -> Profile:
        """Combine profiles fitted on disjoint chunks or partitions of the same data."""
        if len(profiles) == 1 and isinstance(profiles[0], list | tuple):
            profiles = tuple(profiles[0])
        if not profiles:
            raise ValidationError("Profile.merge needs at least one profile")
        for p in profiles:
            if not isinstance(p, Profile):
                raise ValidationError(
                    f"Profile.merge takes Profile objects, got {type(p).__name__}"
                )
        first = profiles[0]
        for p in profiles[1:]:
            if list(p.columns) != list(first.columns):
                missing = sorted(set(first.columns) ^ set(p.columns))
                raise ValidationError(
                    f"cannot merge profiles with different columns (differing: {missing})"
                )
            if (p.target, p.prediction) != (first.target, first.prediction):
                raise ValidationError("cannot merge profiles with different target/prediction")
        cfg = first.config
        n_rows = sum(p.n_rows for p in profiles)
        columns = {
            name: _merge_columns([p.columns[name] for p in profiles], cfg, cfg.n_bins, n_rows)
            for name in first.columns
        }
        return cls(
            columns,
            n_rows,
            cfg,
            first.target,
            first.prediction,
            moments=_merge_moments([p.moments for p in profiles]),
        )


def _merge_moments(parts: list[Moments | None]) -> Moments | None:
    """All parts' moments together (None when any part has none)."""
    if not parts or any(m is None for m in parts):
        return None
    if len({tuple(cast(Moments, m).columns) for m in parts}) > 1:
        return None  # a column's type differed between chunks: no joint test
    merged = cast(Moments, parts[0])
    for m in parts[1:]:
        merged = merged.merge(cast(Moments, m))
    return merged


def _merge_columns(
    cols: list[ColumnProfile], cfg: DriftConfig, n_bins: int, n_rows: int
) -> ColumnProfile:
    known = {c.family for c in cols} - {"empty"}
    if len(known) > 1:
        raise ValidationError(
            f"column {cols[0].name!r} has different types in different chunks: "
            f"{sorted(known)}; make its dtype consistent before fitting"
        )
    family = known.pop() if known else "empty"
    out = ColumnProfile(
        name=cols[0].name,
        family=family,
        n_rows=sum(c.n_rows for c in cols),
        n_missing=sum(c.n_missing for c in cols),
        n_posinf=sum(c.n_posinf for c in cols),
        n_neginf=sum(c.n_neginf for c in cols),
        category_dtype=any(c.category_dtype for c in cols),
        dtype=next((c.dtype for c in cols if c.family != "empty"), cols[0].dtype),
        role=cols[0].role,
    )
    if family == "numeric":
        out.numeric = merge_numeric([c.numeric for c in cols if c.numeric is not None], n_bins)
    tables = [c.categories for c in cols if c.family != "empty" or c.categories]
    if family != "numeric" or out.category_dtype:
        _merge_tables(out, cols, cfg.max_categories)
    elif tables and all(t is not None for t in tables):
        merged: dict[Any, float] = {}
        for t in cast(list[dict[Any, float]], tables):  # none is None (checked above)
            for k, v in t.items():
                merged[k] = merged.get(k, 0.0) + v
        out.categories = merged if len(merged) <= cfg.max_discrete_values else None
        out.n_distinct = len(merged)
    if family == "numeric" and not out.category_dtype:
        _merge_identifier(out, cols)
    if n_rows <= cfg.small_ref_rows and family == "numeric":
        numeric_parts = [c for c in cols if c.family == "numeric"]
        if numeric_parts and all(c.sample is not None for c in numeric_parts):
            out.sample = np.sort(np.concatenate([c.sample for c in numeric_parts]))
    return out


def _merge_identifier(out: ColumnProfile, cols: list[ColumnProfile]) -> None:
    """An integer column stays an identifier when every part large enough to tell says so."""
    voters = [c for c in cols if c.family == "numeric" and c.n_present >= ID_MIN_VALUES]
    if voters and all(c.looks_like == "identifier" for c in voters):
        out.looks_like = "identifier"
        out.n_distinct = min(out.n_present, sum(c.n_distinct for c in cols))


def _merge_tables(out: ColumnProfile, cols: list[ColumnProfile], max_categories: int) -> None:
    merged: dict[Any, float] = {}
    other = 0.0
    for c in cols:
        other += c.other_count
        for k, v in (c.categories or {}).items():
            merged[k] = merged.get(k, 0.0) + v
    out.categories, dropped, dropped_keys = _truncate(merged, max_categories)
    out.other_count = other + dropped
    known = [c for c in cols if c.other_count]
    if all(c.members is not None for c in known) and len(dropped_keys) <= MAX_MEMBER_HASHES:
        hashes = [cast(np.ndarray, c.members) for c in known]
        out.members = _members(hashes + [category_hashes(dropped_keys)], out.categories)
    if out.members is not None:
        out.n_distinct = len(out.categories) + len(out.members)
    elif not out.other_count:
        out.n_distinct = len(out.categories)
    else:
        out.n_distinct = max([len(merged)] + [c.n_distinct for c in cols])
    parts = {c.looks_like for c in cols if c.family != "empty"}
    out.looks_like = _looks_like(out, None) or (parts.pop() if len(parts) == 1 else "")


def _members(hashes: list[np.ndarray], table: dict[Any, float]) -> np.ndarray | None:
    """Sorted hashes of the categories outside ``table`` (None past MAX_MEMBER_HASHES)."""
    union = np.unique(np.concatenate(hashes)) if hashes else np.empty(0, np.uint64)
    if len(union) and table:
        union = union[~np.isin(union, category_hashes(list(table)))]
    return union if len(union) <= MAX_MEMBER_HASHES else None


def _looks_like(col: ColumnProfile, sample_keys: list[Any] | None) -> str:
    """'identifier' or 'text' for a text column whose values are nearly all distinct."""
    n = col.n_present
    if col.family != "string" or n < ID_MIN_VALUES or col.n_distinct < TEXT_DISTINCT_SHARE * n:
        return ""
    keys = sample_keys if sample_keys is not None else list(col.categories or {})[:500]
    texts = [k for k in keys[:500] if isinstance(k, str)]
    long_spaced = sum(1 for k in texts if len(k) >= TEXT_MIN_LENGTH and " " in k.strip())
    if texts and long_spaced >= 0.5 * len(texts):
        return "text"
    return "identifier" if col.n_distinct >= ID_DISTINCT_SHARE * n else ""


def _integer_dtype(dtype: Any) -> bool:
    """True for numpy and pandas nullable integer dtypes (not floats, not bools)."""
    kind = getattr(dtype, "kind", "")
    return kind in ("i", "u") and str(dtype) not in ("bool", "boolean")


def _id_name(name: str) -> bool:
    """True when the column name's last word is id, uuid, key...: customer_id, CustomerID."""
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+", name)
    return bool(words) and words[-1].lower() in ID_NAME_TOKENS


def _integer_identifier(name: str, x: np.ndarray, s: NumericSummary | None) -> tuple[str, int]:
    """('identifier', distinct count) for an integer column holding ids, else ('', count or 0).

    Nearly all values distinct is necessary (ages and counts repeat), but wide-range amounts
    are nearly distinct too, so a second signal must hold: an id-like name, or distinct values
    filling at least ID_DENSE_SHARE of their range (row numbers, sequences)."""
    if s is None or s.n < ID_MIN_VALUES:
        return "", 0
    width = s.max - s.min + 1
    if width < ID_DISTINCT_SHARE * s.n:  # too narrow a range for that many distinct values
        return "", 0
    import pandas as pd

    distinct = len(pd.unique(x))
    if distinct < ID_DISTINCT_SHARE * s.n:
        return "", distinct
    if _id_name(name) or distinct >= ID_DENSE_SHARE * width:
        return "identifier", distinct
    return "", distinct


def _truncate(table: dict[Any, float], limit: int) -> tuple[dict[Any, float], float, list[Any]]:
    """The ``limit`` most frequent categories, the count of the rest and their keys."""
    if len(table) <= limit:
        return table, 0.0, []
    ranked = sorted(table.items(), key=lambda kv: kv[1], reverse=True)
    kept = dict(ranked[:limit])
    rest = ranked[limit:]
    return kept, float(sum(v for _, v in rest)), [k for k, _ in rest]


def fit_column(
    series: Any,
    name: str,
    cfg: DriftConfig,
    n_bins: int,
    keep_sample: bool,
    expected: list[Any] | None = None,
) -> ColumnProfile:
    """Profile one column of one frame (``expected``: categories seen in earlier chunks)."""
    family, is_cat = column_family(series)
    col = ColumnProfile(
        name=name,
        family=family,
        n_rows=len(series),
        category_dtype=is_cat,
        dtype=str(series.dtype),
    )
    if family == "numeric" and not is_cat:
        x, n_nan, n_pos, n_neg = split_finite(numeric_values(series))
        col.n_missing, col.n_posinf, col.n_neginf = n_nan, n_pos, n_neg
        col.numeric = NumericSummary.from_values(x, n_bins)
        col.categories = _discrete_values(x, col.numeric, cfg.max_discrete_values)
        col.n_distinct = len(col.categories) if col.categories is not None else 0
        if col.categories is None and _integer_dtype(series.dtype):
            col.looks_like, distinct = _integer_identifier(name, x, col.numeric)
            col.n_distinct = distinct or col.n_distinct
        if keep_sample:
            col.sample = np.sort(x)
    elif family == "datetime":
        col.n_missing = int(series.isna().sum())
    else:
        table, col.n_missing = category_counts(series, family, expected)
        col.n_distinct = len(table)
        truncated, col.other_count, dropped = _truncate(
            {k: float(v) for k, v in table.items()}, cfg.max_categories
        )
        col.categories = truncated
        if dropped and len(dropped) <= MAX_MEMBER_HASHES:
            col.members = _members([category_hashes(dropped)], {})
        col.looks_like = _looks_like(col, list(table)[:500])
        if family == "numeric" and keep_sample:  # numeric categories keep their values
            x, *_ = split_finite(numeric_values(series))
            col.sample = np.sort(x)
    return col


def _discrete_values(
    x: np.ndarray, summary: NumericSummary | None, limit: int
) -> dict[Any, float] | None:
    """Exact value counts when the column holds at most ``limit`` distinct values."""
    if summary is None:
        return {}
    if len(summary.edges) > limit:
        return None
    values, counts = np.unique(x, return_counts=True)
    if len(values) > limit:
        return None
    return {
        (int(v) if float(v).is_integer() and abs(v) < 2**53 else float(v)): float(c)
        for v, c in zip(values.tolist(), counts.tolist(), strict=True)
    }


def fit_frame(
    df: Any,
    cfg: DriftConfig,
    n_bins: int,
    keep_sample: bool,
    roles: dict[str, str],
    position: int = 0,
) -> Profile:
    """Profile of one DataFrame, the ``position``-th of a stream (histograms not yet
    thinned: a part to merge)."""
    fitter = _Fitter(cfg, roles, n_bins)
    try:
        fitter.add(df, keep_sample, position)
    finally:
        fitter.close()
    return fitter.parts()


def _moments_without(x: np.ndarray, out: np.ndarray | None, n_in: int) -> tuple[float, float]:
    """Mean and sum of squared deviations of the ``n_in`` values of ``x`` that are not in
    ``out`` (few): taken off the sums, with no copy of the rest. When ``out`` holds nearly all
    the spread the difference keeps few digits, but those values join the part's moments
    later, where they swamp that error just the same."""
    if out is None:
        mean = float(x.mean())
        return mean, centered_sum_of_squares(x, mean) if n_in > 1 else 0.0
    mean = (float(x.sum()) - float(out.sum())) / n_in
    if n_in == 1:
        return mean, 0.0
    m2 = centered_sum_of_squares(x, mean) - float(np.sum((out - mean) ** 2))
    return mean, max(m2, 0.0)


class _OpenNumeric:
    """A numeric column's part that later chunks are counted into, on its own bins.

    Fitting a chunk from scratch (a sorted sample for the edges, a new binner, a merge)
    costs several times more than counting it on bins already placed. A later chunk from
    the same distribution is therefore counted exactly on this part's edges; its values
    outside the part's range are kept apart (``below``/``above``, fitted as parts of their
    own), and a chunk that would crowd any bin (a shift between chunks) is fitted anew, so
    bins keep holding comparable masses.
    """

    def __init__(self, col: ColumnProfile, n_bins: int) -> None:
        self.col = col
        self.n_bins = n_bins
        summary = cast(NumericSummary, col.numeric)
        self.binner = summary.binner or Binner(summary.edges)
        self.all_atoms = bool(summary.atoms.sum() == summary.n)  # every value on an edge
        self.count_ties = bool(summary.atoms.any())
        # the bins' masses when they were placed: what a later chunk is judged against
        self.mass = summary.counts / summary.n
        self.limit: tuple[int, np.ndarray] | None = None  # (values, crowding limit per bin)
        self.dtype: Any = None  # the last chunk dtype that passed the check
        self.below, self.above = _Held(), _Held()

    @staticmethod
    def can_grow(col: ColumnProfile, series: Any, n_bins: int) -> bool:
        """Continuous numeric parts whose edges came from a full-size sample (integer columns
        are fitted chunk by chunk: each chunk votes on whether they hold identifiers)."""
        s = col.numeric
        return (
            col.family == "numeric"
            and not col.category_dtype
            and not _integer_dtype(series.dtype)
            and col.categories is None
            and col.sample is None
            and s is not None
            and s.n > EDGE_SAMPLE_PER_BIN * n_bins
            and len(s.edges) >= 2
        )

    def absorb(self, series: Any) -> bool:
        """Count a chunk into this part; False (nothing changed) when it must be refitted."""
        col = self.col
        if series.dtype is not self.dtype:
            if str(series.dtype) != col.dtype or column_family(series) != ("numeric", False):
                return False
            self.dtype = series.dtype
        x, n_nan, n_pos, n_neg = split_finite(numeric_values(series))
        s = cast(NumericSummary, col.numeric)
        beyond: list[np.ndarray] = []  # values outside the part's range, kept apart
        counts, atoms = _counts_and_atoms(x, self.binner, self.count_ties, beyond)
        counts = counts[1:-1]
        out = np.concatenate(beyond) if beyond else None
        n_in = len(x) - (0 if out is None else len(out))
        if (counts > self._crowding_limit(len(x))).any() or (
            self.all_atoms and int(atoms.sum()) != n_in
        ):
            return False
        if out is not None:
            self.below.add(out[out < s.min])
            self.above.add(out[out > s.max])
        if n_in:
            s.add_moments(n_in, *_moments_without(x, out, n_in))
            s.counts = s.counts + counts
            if self.count_ties:
                tied = s.atoms + atoms
                s.atoms = np.where(tied >= (1 if self.all_atoms else 2), tied, 0.0)
        col.n_rows += len(series) - (len(x) - n_in)
        col.n_missing += n_nan
        col.n_posinf += n_pos
        col.n_neginf += n_neg
        return True

    def _crowding_limit(self, n: int) -> np.ndarray:
        """Counts per bin past which a chunk of ``n`` values crowds it: ``CROWDED_FACTOR``
        times its share plus 6 sigma of counting noise (cached: equal chunks share it)."""
        if self.limit is None or self.limit[0] != n:
            expected = n * self.mass
            self.limit = (n, CROWDED_FACTOR * expected + 6.0 * np.sqrt(expected) + 10.0)
        return self.limit[1]

    def fold_held(self, limit: int) -> None:
        """Count the values held apart into the part itself when at most ``limit`` are held:
        each distinct value becomes an edge (so they are exact), where a part of their own
        would cost a fit and a merge. More are left for :meth:`spilled`."""
        held = self.below.n + self.above.n
        if not held or held > limit:
            return
        s = cast(NumericSummary, self.col.numeric)
        below, above = self.below.take(), self.above.take()
        values = np.concatenate([below, above])
        edges, counts, atoms = s.edges, s.counts, s.atoms
        if len(below):
            u, c = np.unique(below, return_counts=True)
            edges = np.concatenate([u, edges])
            counts = np.concatenate([c.astype(float), counts])
            atoms = np.concatenate([self._tied(c), atoms])
        if len(above):
            u, c = np.unique(above, return_counts=True)
            # the old maximum leaves the closed last bin for the bin it now opens, [max, u0);
            # the new last bin [u(m-2), u(m-1)] is closed and holds both its edges' values
            at_max = min(max(1.0, float(atoms[-1])), float(counts[-1]))
            tail = np.concatenate([[at_max], c[:-1].astype(float)])
            tail[-1] += c[-1]
            counts = np.concatenate([counts[:-1], [counts[-1] - at_max], tail])
            edges = np.concatenate([edges, u])
            atoms = np.concatenate([atoms, self._tied(c)])
        mean_v = float(values.mean())
        s.add_moments(len(values), mean_v, centered_sum_of_squares(values, mean_v))
        s.min, s.max = float(edges[0]), float(edges[-1])
        s.edges, s.counts, s.atoms, s.binner = edges, counts, atoms, None
        self.col.n_rows += len(values)

    def _tied(self, counts: np.ndarray) -> np.ndarray:
        """Atoms for values that sit on their own edges (singletons count when all do)."""
        return np.where(counts >= (1 if self.all_atoms else 2), counts, 0).astype(float)

    def spilled(self, keep: int) -> list[ColumnProfile]:
        """Parts fitted from the values kept apart, once more than ``keep`` are held."""
        parts = []
        for side in (self.below, self.above):
            if side.n and side.n > keep:
                x = side.take()
                part = ColumnProfile(
                    name=self.col.name,
                    family="numeric",
                    n_rows=len(x),
                    dtype=self.col.dtype,
                    role=self.col.role,
                    numeric=NumericSummary.from_values(x, self.n_bins),
                )
                parts.append(part)
        return parts


class _Held:
    """One side's values held apart: the arrays, and how many values they hold in all (kept
    as a count so that a long stream does not re-add the lengths at every chunk)."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []
        self.n = 0

    def add(self, values: np.ndarray) -> None:
        if len(values):
            self.parts.append(values)
            self.n += len(values)

    def take(self) -> np.ndarray:
        """All the values held, which are then no longer held."""
        values = np.concatenate(self.parts) if self.parts else np.empty(0)
        self.parts, self.n = [], 0
        return values


_MOMENTS_KEY = object()  # the moments' jobs run in order, like a column's


class _Fitter:
    """Fits frames one after another into one profile.

    Each column's chunk profiles merge as a binary counter (every row goes through
    O(log chunks) merges, exactly as whole profiles would), and the merge runs in the worker
    thread that has just fitted the column, so merging is as parallel as fitting.
    """

    def __init__(self, cfg: DriftConfig, roles: dict[str, str], n_bins: int) -> None:
        self.cfg = cfg
        self.roles = roles
        self.n_bins = n_bins
        self.stacks: dict[str, list[tuple[int, ColumnProfile]]] = {}
        self.open: dict[str, _OpenNumeric | None] = {}
        self.seen: dict[str, list[Any]] = {}  # a text column's categories so far
        self.features: tuple[Any, list[str]] | None = None
        self.moments: list[tuple[int, Moments | None]] = []
        self.n_rows = 0
        self.pool: OrderedPool | None = None

    def add(self, df: Any, keep_sample: bool, position: int) -> None:
        """Fit the ``position``-th frame of the stream and merge it into what came before."""
        names = _selected_columns(df, self.cfg, self.roles)
        by_name = {str(c): c for c in df.columns}
        for name in names:
            self.stacks.setdefault(name, [])
            self.open.setdefault(name, None)
        step = stride(position, len(df))  # a long stream's later chunks add fewer rows
        self.n_rows += len(df)

        def fit(name: str) -> None:
            series = df[by_name[name]]
            current = self.open[name]
            if current is not None and current.absorb(series):
                for part in current.spilled(SPILL_MAX_VALUES):
                    _push(self.stacks[name], part, self._merge_columns)
                return
            col = fit_column(series, name, self.cfg, self.n_bins, keep_sample, self.seen.get(name))
            col.role = self.roles.get(name, "feature")
            if col.categories and not col.other_count and col.family == "string":
                self.seen[name] = list(col.categories)  # the next chunk looks these up
            self._close(name)
            if _OpenNumeric.can_grow(col, series, self.n_bins):
                self.open[name] = _OpenNumeric(col, self.n_bins)
            else:
                _push(self.stacks[name], col, self._merge_columns)

        def moments() -> None:
            numeric = self._feature_columns(df, names) if self.cfg.multivariate else []
            part = Moments.of_frame(df, numeric, step) if len(numeric) >= 2 else None
            _push(self.moments, part, lambda a, b: _merge_moments([a, b]))

        jobs: list[tuple[Hashable, Callable[[], object]]] = [(_MOMENTS_KEY, moments)]
        jobs += [(name, functools.partial(fit, name)) for name in names]
        self._run(jobs, parallel=len(df) * len(names) >= 200_000, per_task=jobs_per_task(len(df)))

    def _merge_columns(self, a: ColumnProfile, b: ColumnProfile) -> ColumnProfile:
        return _merge_columns([a, b], self.cfg, 2 * self.n_bins, a.n_rows + b.n_rows)

    def _feature_columns(self, df: Any, names: list[str]) -> list[str]:
        """The multivariate test's columns, looked up again only when the dtypes change."""
        key = (tuple(names), tuple(df.dtypes.tolist()))
        if self.features is None or self.features[0] != key:
            self.features = (key, feature_columns(df, names, self.roles))
        return self.features[1]

    def _close(self, name: str) -> None:
        """Push the column's growing part (and its spilled values) onto its merge stack."""
        current = self.open[name]
        if current is None:
            return
        self.open[name] = None
        current.fold_held(FOLD_MAX_VALUES)
        for part in [current.col, *current.spilled(0)]:
            _push(self.stacks[name], part, self._merge_columns)

    def _run(
        self,
        jobs: list[tuple[Hashable, Callable[[], object]]],
        parallel: bool,
        per_task: int = 1,
    ) -> None:
        """Queue the jobs on the threads (a column's jobs in order; the next chunk may start
        while this one finishes) or run them here, after whatever is queued."""
        if self.cfg.workers > 1 and parallel:
            if self.pool is None:
                self.pool = OrderedPool(self.cfg.workers)
            self.pool.submit(jobs, per_task)
            return
        self._drain()
        for _, job in jobs:
            job()

    def _drain(self) -> None:
        if self.pool is not None:
            self.pool.drain()

    def parts(self) -> Profile:
        """The profile of a single frame, unthinned (for merging with other parts)."""
        self._drain()
        for name in self.stacks:
            self._close(name)
        cols = {name: stack[0][1] for name, stack in self.stacks.items()}
        moments = _without_excluded(self.moments[0][1], cols)
        return Profile(cols, self.n_rows, self.cfg, moments=moments)

    def profile(self) -> Profile:
        """Everything fitted so far as one profile, histograms thinned to ``n_bins``."""
        cols: dict[str, ColumnProfile] = {}

        def collapse(name: str) -> None:
            self._close(name)
            cols[name] = _collapse_column([c for _, c in self.stacks[name]], self.cfg)

        jobs: list[tuple[Hashable, Callable[[], object]]] = [
            (name, functools.partial(collapse, name)) for name in self.stacks
        ]
        self._run(jobs, parallel=len(self.stacks) > 1 and self.n_rows >= 200_000)
        self._drain()
        moments = _without_excluded(_merge_moments([m for _, m in self.moments]), cols)
        return Profile({n: cols[n] for n in self.stacks}, self.n_rows, self.cfg, moments=moments)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None


def _without_excluded(moments: Moments | None, cols: dict[str, ColumnProfile]) -> Moments | None:
    """The moments without identifier and free-text columns (not features): the moments of
    a subset of columns are the matching entries of the whole's, so this is exact."""
    excluded = {name for name, c in cols.items() if c.looks_like}
    if moments is None or not excluded & set(moments.columns):
        return moments
    keep = np.array([i for i, c in enumerate(moments.columns) if c not in excluded], dtype=int)
    if len(keep) < 2:
        return None
    return moments.subset(keep)


def _selected_columns(df: Any, cfg: DriftConfig, roles: dict[str, str]) -> list[str]:
    names = [str(c) for c in df.columns]
    if cfg.columns is not None:
        wanted = list(dict.fromkeys(list(cfg.columns) + list(roles)))
        absent = [c for c in wanted if c not in names]
        if absent:
            raise ValidationError(f"columns {absent} are not in the reference data")
        names = wanted
    return [n for n in names if n not in cfg.exclude or n in roles]


def fit_profile(
    reference: Any,
    target: str | None = None,
    prediction: str | None = None,
    config: DriftConfig | Mapping[str, Any] | None = None,
    progress: bool = False,
    **config_kwargs: Any,
) -> Profile:
    """Fit a reference once into compact statistics to score later batches against.

    ``reference`` is a DataFrame, an iterable of DataFrame chunks (memory stays bounded by
    one chunk plus the profile), or a Dask DataFrame (each partition is profiled on the
    workers, and the profiles merge here exactly as chunks do). ``target``/``prediction``
    name those columns, if present.
    """
    cfg = coerce_config(config)
    cfg = DriftConfig.from_kwargs(cfg, **config_kwargs) if config_kwargs or cfg is None else cfg
    roles = _roles(target, prediction)
    if is_dask(reference):
        return _fit_dask(reference, cfg, roles, target, prediction)
    import pandas as pd

    chunks: Iterable[Any] = [reference] if isinstance(reference, pd.DataFrame) else reference
    fitter = _Fitter(cfg, roles, cfg.n_bins)
    columns: list[str] | None = None
    bar = Progress(progress, "fitting profile", unit="chunk")
    try:
        for i, df in enumerate(iter_frames(chunks, "reference")):
            if len(df) == 0:
                continue
            names = [str(c) for c in df.columns]
            if columns is None:
                columns = names
                _check_roles(names, roles)
            elif names != columns:
                raise ValidationError(
                    f"reference chunk {i} has columns {names[:10]}, expected the same columns "
                    f"as the first chunk {columns[:10]}"
                )
            small_so_far = fitter.n_rows + len(df) <= cfg.small_ref_rows
            fitter.add(df, keep_sample=small_so_far, position=i)
            bar.update(1)
        bar.close()
        if not fitter.n_rows:
            raise ValidationError(
                "the reference data has no rows; pass at least one row to fit a profile"
            )
        profile = _finish(fitter.profile())
    finally:
        fitter.close()
    profile.target, profile.prediction = target, prediction
    return profile


def _fit_dask(
    reference: Any, cfg: DriftConfig, roles: dict[str, str], target: Any, prediction: Any
) -> Profile:
    """Profiles of the partitions fitted on the Dask workers, merged here in partition order
    exactly as the chunked path merges chunks."""
    ddf = dask_frame(reference, "reference")
    _check_roles([str(c) for c in ddf.columns], roles)
    stack: list[tuple[int, Profile]] = []
    for part in map_partitions(ddf, _fit_partition, worker_config(cfg), roles):
        if part is None:  # an empty partition
            continue
        part.config = cfg
        _push(stack, part, lambda a, b: _merge_at(a, b, 2 * cfg.n_bins))
    if not stack:
        raise ValidationError(
            "the reference data has no rows; pass at least one row to fit a profile"
        )
    profile = _finish(_collapse(stack, cfg))
    profile.target, profile.prediction = target, prediction
    return profile


def _finish(profile: Profile) -> Profile:
    """Drop the membership hashes of columns excluded as identifiers or free text: they are
    never scored, and a million ids would weigh 8 MB in the stored profile."""
    for col in profile.columns.values():
        if col.kind in ("identifier", "text"):
            col.members = None
    return profile


def _fit_partition(
    part: Any, position: int, cfg: DriftConfig, roles: dict[str, str]
) -> Profile | None:
    """The profile of one Dask partition, fitted on a worker (None when it is empty)."""
    if len(part) == 0:
        return None
    keep_sample = len(part) <= cfg.small_ref_rows  # a sample survives only if all rows fit
    return fit_frame(part, cfg, cfg.n_bins, keep_sample, roles, position)


_Part = TypeVar("_Part")


def _push(
    stack: list[tuple[int, _Part]], part: _Part, merge: Callable[[_Part, _Part], _Part]
) -> None:
    """Binary-counter merging: each row goes through O(log chunks) merges."""
    level = 0
    while stack and stack[-1][0] == level:
        _, prev = stack.pop()
        part = merge(prev, part)
        level += 1
    stack.append((level, part))


def _merge_at(a: Profile, b: Profile, bins: int) -> Profile:
    cfg = a.config
    n_rows = a.n_rows + b.n_rows
    cols = {
        name: _merge_columns([a.columns[name], b.columns[name]], cfg, bins, n_rows)
        for name in a.columns
    }
    return Profile(cols, n_rows, cfg, moments=_merge_moments([a.moments, b.moments]))


def _collapse(stack: list[tuple[int, Profile]], cfg: DriftConfig) -> Profile:
    parts = [p for _, p in stack]
    n_rows = sum(p.n_rows for p in parts)
    cols = {
        name: _collapse_column([p.columns[name] for p in parts], cfg) for name in parts[0].columns
    }
    return Profile(cols, n_rows, cfg, moments=_merge_moments([p.moments for p in parts]))


def _collapse_column(parts: list[ColumnProfile], cfg: DriftConfig) -> ColumnProfile:
    """One column's parts merged, its histogram thinned to ``cfg.n_bins``."""
    if len(parts) == 1:
        col = parts[0]
        if col.numeric is not None:
            col.numeric = _thin(col.numeric, cfg.n_bins)
        return col
    return _merge_columns(parts, cfg, cfg.n_bins, sum(c.n_rows for c in parts))


def _roles(target: str | None, prediction: str | None) -> dict[str, str]:
    roles: dict[str, str] = {}
    for role, name in (("target", target), ("prediction", prediction)):
        if name is not None:
            if not isinstance(name, str):
                raise ValidationError(f"{role} must be a column name (str), got {name!r}")
            roles[name] = role
    if target is not None and target == prediction:
        raise ValidationError(
            f"target and prediction must be different columns, both are {target!r}"
        )
    return roles


def _check_roles(names: list[str], roles: dict[str, str]) -> None:
    for name, role in roles.items():
        if name not in names:
            raise ValidationError(
                f"{role} column {name!r} is not in the reference data (columns: {names[:20]})"
            )


def _compact_counts(counts: np.ndarray) -> list[float] | list[int]:
    if np.all(counts == np.round(counts)):
        return counts.astype(np.int64).tolist()
    return np.round(counts, 6).tolist()


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() else float(v)
