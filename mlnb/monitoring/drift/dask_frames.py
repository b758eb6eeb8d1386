"""Dask DataFrames: fit and score partition by partition on the workers, merge on the client.

Nothing here imports dask unless a Dask object was passed in (``is_dask`` only looks at the
type's module name), and nothing here knows profiles or scorers: ``profile`` and ``scoring``
hand their per-partition functions to :func:`map_partitions`.

Fitting computes one profile per partition on the workers and merges them on the client in partition order, exactly as the chunked pandas path merges
chunks, so ``fit_profile(ddf)`` equals ``fit_profile(<the same partitions as pandas chunks>)``.
Scoring counts each partition on the profile's fixed bins and category tables, and the
client sums the counts: ``score(profile, ddf)`` equals ``score(profile, ddf.compute())``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from mlnb.errors import ValidationError
from mlnb.monitoring.drift._frames import check_frame

T = TypeVar("T")


def is_dask(obj: Any) -> bool:
    """True for any Dask collection (DataFrame, Series, Array, Bag, Delayed)."""
    return type(obj).__module__.startswith("dask")


def dask_frame(obj: Any, what: str) -> Any:
    """The Dask DataFrame ``obj`` is, or a ValidationError saying how to make one."""
    import dask.dataframe as dd

    if isinstance(obj, dd.DataFrame):
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


def worker_config(cfg: Any) -> Any:
    """Settings for a task on a worker: one thread, Dask already runs partitions in parallel."""
    return dataclasses.replace(cfg, n_jobs=1)


def map_partitions(
    ddf: Any, fn: Callable[..., T], *args: Any, shared: tuple[Any, ...] = ()
) -> list[T]:
    """``fn(partition, position, *shared, *args)`` for every partition (``position``: its
    number, as a chunk's in a stream), computed on the workers, in partition order;
    ``shared`` objects (a profile) are shipped to the workers once."""
    import dask

    handles = [dask.delayed(obj, pure=True, traverse=False) for obj in shared]
    tasks = [dask.delayed(fn)(part, k, *handles, *args) for k, part in enumerate(ddf.to_delayed())]
    return list(dask.compute(*tasks))
