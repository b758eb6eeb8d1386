"""Dask DataFrames: fit and score partition by partition on the workers, merge on the client.

Nothing here imports dask unless a Dask object was passed in (``is_dask`` only looks at the
type's module name). Fitting computes one :class:`Profile` per partition on the workers and
merges them on the client in partition order, exactly as the chunked pandas path merges
chunks, so ``fit_profile(ddf)`` equals ``fit_profile(<the same partitions as pandas chunks>)``.
Scoring counts each partition on the profile's fixed bins and category tables, and the
client sums the counts: ``score(profile, ddf)`` equals ``score(profile, ddf.compute())``.
"""

from __future__ import annotations

from typing import Any

from mlnb.errors import ValidationError


def is_dask(obj: Any) -> bool:
    """True for any Dask collection (DataFrame, Series, Array, Bag, Delayed)."""
    return type(obj).__module__.startswith("dask")


def dask_frame(obj: Any, what: str) -> Any:
    """The Dask DataFrame ``obj`` is, or a ValidationError saying how to make one."""
    import dask.dataframe as dd

    if isinstance(obj, dd.DataFrame):
        from mlnb.monitoring.drift._frames import check_frame

        check_frame(obj._meta, what)
        return obj
    if isinstance(obj, dd.Series):
        hint = "use series.to_frame() to make a one-column Dask DataFrame"
    else:
        hint = (
            "convert it to a Dask DataFrame (e.g. dask.dataframe.from_dask_array(arr, "
            "columns=[...]) or bag.to_dataframe()), or to pandas with .compute()"
        )
    raise ValidationError(
        f"{what} is a Dask {type(obj).__name__}; mlnb accepts Dask DataFrames only: {hint}"
    )


def compute(obj: Any) -> Any:
    """Materialise a Dask collection (predictions, labels) on the client; others pass through."""
    return obj.compute() if is_dask(obj) else obj


def _worker_config(cfg: Any) -> Any:
    """Settings for a task on a worker: one thread, Dask already runs partitions in parallel."""
    import dataclasses

    return dataclasses.replace(cfg, n_jobs=1)


def _fit_partition(part: Any, cfg: Any, roles: dict[str, str]) -> Any:
    from mlnb.monitoring.drift.profile import fit_frame

    if len(part) == 0:
        return None
    keep_sample = len(part) <= cfg.small_ref_rows  # a sample survives only if all rows fit
    return fit_frame(part, cfg, cfg.n_bins, keep_sample=keep_sample, roles=roles)


def fit_dask(ddf: Any, cfg: Any, roles: dict[str, str]) -> list[Any]:
    """Per-partition profiles, fitted on the workers, in partition order (empty ones dropped)."""
    import dask

    wcfg = _worker_config(cfg)
    tasks = [dask.delayed(_fit_partition)(p, wcfg, roles) for p in ddf.to_delayed()]
    parts = dask.compute(*tasks)
    out = []
    for part in parts:
        if part is not None:
            part.config = cfg
            out.append(part)
    return out


def _score_partition(part: Any, profile: Any, cfg: Any) -> Any:
    from mlnb.monitoring.drift.scoring import _Scorer

    scorer = _Scorer(profile, cfg)
    try:
        scorer.add(part, 0)
    finally:
        scorer.close()
    return scorer.detach()


def score_dask(ddf: Any, profile: Any, cfg: Any) -> list[Any]:
    """One scorer (accumulated counts) per partition, computed on the workers."""
    import dask

    wcfg = _worker_config(cfg)
    shared = dask.delayed(profile, pure=True, traverse=False)
    tasks = [dask.delayed(_score_partition)(p, shared, wcfg) for p in ddf.to_delayed()]
    return list(dask.compute(*tasks))
