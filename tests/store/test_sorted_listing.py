"""Sorted run listings are read through indexes in SQL; the order must be exactly the
Python reference's (``sort_runs``): ties and valueless runs newest first, metric before
param before run field, only finite numbers ordered."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlnb.errors import ValidationError
from mlnb.store.registry import Registry
from mlnb.store.runs import sort_runs

KEYS = ["acc", "C", "started_at", "id"]
# Few distinct values so that ties are common; non-finite and non-numeric values included.
NUMBERS = st.sampled_from([0.5, 0.9, 0.9, 1.0, -2.0, 3, 0, math.inf, -math.inf, math.nan])
PARAM_VALUES = st.one_of(NUMBERS, st.sampled_from(["x", True, None, [1], 10**400, "-1"]))

run_spec = st.fixed_dictionaries(
    {
        "experiment": st.sampled_from(["a", "b"]),
        "status": st.sampled_from(["finished", "failed"]),
        # metric histories: the latest step's value is the one listings show
        "metrics": st.dictionaries(
            st.sampled_from(KEYS), st.lists(NUMBERS, min_size=1, max_size=3), max_size=2
        ),
        "params": st.dictionaries(st.sampled_from(KEYS), PARAM_VALUES, max_size=2),
    }
)


def fill(reg: Registry, specs: list[dict]) -> None:
    for spec in specs:
        run_id = reg.runs.start(experiment=spec["experiment"])
        reg.runs.log_params(run_id, spec["params"])
        for key, values in spec["metrics"].items():
            for value in values:
                reg.runs.log_metrics(run_id, {key: value})
        reg.runs.end(run_id, spec["status"])


def ids(runs: list) -> list[int]:
    return [r["id"] for r in runs]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    specs=st.lists(run_spec, max_size=12),
    sort=st.sampled_from(KEYS + ["name", "missing"]),
    descending=st.booleans(),
    limit=st.sampled_from([None, 1, 3, 50]),
    experiment=st.sampled_from([None, "a"]),
    status=st.sampled_from([None, "failed"]),
)
def test_sql_order_equals_the_python_sort(
    tmp_path_factory, specs, sort, descending, limit, experiment, status
) -> None:
    reg = Registry(tmp_path_factory.mktemp("reg"))
    try:
        fill(reg, specs)
        every = reg.runs.find(experiment=experiment, status=status, limit=None)
        want = sort_runs(every, sort, descending)
        want = want if limit is None else want[:limit]
        got = reg.runs.find(
            experiment=experiment, status=status, limit=limit, sort=sort, descending=descending
        )
        assert ids(got) == ids(want)
        assert got == want  # the same records, params and latest metrics included
    finally:
        reg.close()


def test_a_later_step_replaces_the_listed_value_and_an_earlier_one_does_not(registry) -> None:
    run_id = registry.runs.start()
    registry.runs.log_metrics(run_id, {"loss": 0.5}, step=5)
    registry.runs.log_metrics(run_id, {"loss": 0.1}, step=2)  # back-filled history
    assert registry.runs.get(run_id)["metrics"] == {"loss": 0.5}
    registry.runs.log_metrics(run_id, {"loss": 0.3}, step=5)  # same step: the newer wins
    assert registry.runs.find(sort="loss")[0]["metrics"] == {"loss": 0.3}


def test_top_by_a_metric_among_many_runs(registry) -> None:
    for i in range(300):
        run_id = registry.runs.start(experiment="e")
        registry.runs.log_metrics(run_id, {"acc": (i * 37) % 101 / 100})
        registry.runs.end(run_id)
    top = registry.runs.find(sort="acc", limit=5)
    assert [r["metrics"]["acc"] for r in top] == [1.0, 1.0, 1.0, 0.99, 0.99]
    bottom = registry.runs.find(sort="acc", limit=3, descending=False)
    assert [r["metrics"]["acc"] for r in bottom] == [0.0, 0.0, 0.0]


def test_a_negative_limit_is_refused(registry) -> None:
    with pytest.raises(ValidationError, match="limit must be 0 or more"):
        registry.runs.find(limit=-1, sort="acc")
