"""Cron, time zone, parameter and option validation: what `pipeline create` refuses and why."""

from __future__ import annotations

import datetime as dt
import keyword

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

import mlnb
from mlnb.errors import ValidationError
from mlnb.pipelines.config import (
    PipelineConfig,
    cron_slots,
    missed_slots,
    parse_on_alert,
    parse_param,
    validate_cron,
    validate_pipeline_name,
    zone,
)


@pytest.mark.parametrize(
    "expr, field",
    [
        ("61 * * * *", "minute"),
        ("0 24 * * *", "hour"),
        ("0 3 32 * *", "day-of-month"),
        ("0 3 * 13 *", "month"),
        ("0 3 * * funday", "day-of-week"),
    ],
)
def test_invalid_cron_names_the_wrong_field(expr, field):
    with pytest.raises(ValidationError, match=f"the {field} field"):
        validate_cron(expr)


@pytest.mark.parametrize("expr", ["0 3 * *", "0 0 3 * * * *", "", "every day"])
def test_cron_needs_five_fields(expr):
    with pytest.raises(ValidationError, match="expected 5 fields"):
        validate_cron(expr)


def test_cron_macros_and_spacing_are_accepted():
    assert validate_cron("@daily") == "@daily"
    assert validate_cron("  0   3 * * 1-5 ") == "0 3 * * 1-5"


def test_unknown_timezone_is_refused_with_examples():
    with pytest.raises(ValidationError, match="IANA name"):
        zone("Mars/Olympus")
    assert zone("Europe/Berlin").utcoffset(dt.datetime(2026, 1, 1)) == dt.timedelta(hours=1)


def test_schedule_is_evaluated_in_its_time_zone():
    after = dt.datetime(2026, 1, 10, 0, 0, tzinfo=dt.UTC)
    until = dt.datetime(2026, 1, 11, 0, 0, tzinfo=dt.UTC)
    (slot,) = cron_slots("0 3 * * *", "Europe/Berlin", after, until)
    assert slot.astimezone(dt.UTC).hour == 2  # 03:00 in Berlin is 02:00 UTC in winter
    (summer,) = cron_slots(
        "0 3 * * *", "Europe/Berlin", after.replace(month=7), until.replace(month=7)
    )
    assert summer.astimezone(dt.UTC).hour == 1


def test_gate_without_a_stage_and_bad_limits_are_refused():
    with pytest.raises(ValidationError, match="--promote-to"):
        PipelineConfig(gate="churn_gate").validate()
    with pytest.raises(ValidationError, match="--retries"):
        PipelineConfig(retries=-1).validate()
    with pytest.raises(ValidationError, match="--timeout"):
        PipelineConfig(timeout_seconds=0).validate()
    with pytest.raises(ValidationError, match="--catchup"):
        PipelineConfig(catchup="all").validate()
    with pytest.raises(ValidationError, match="--max-concurrent"):
        PipelineConfig(max_concurrent=0).validate()


def test_names_params_and_alert_specs():
    with pytest.raises(ValidationError, match="pipeline name"):
        validate_pipeline_name("churn train")
    assert parse_param("lr=0.1") == ("lr", 0.1)
    assert parse_param("path=data/x.csv") == ("path", "data/x.csv")
    assert parse_param("cols=['a', 'b']") == ("cols", ["a", "b"])
    with pytest.raises(ValidationError, match="NAME=VALUE"):
        parse_param("lr")
    assert parse_on_alert("churn:accuracy_below_threshold,dataset_drift") == (
        "churn",
        ["accuracy_below_threshold", "dataset_drift"],
    )
    with pytest.raises(ValidationError, match="monitor name"):
        parse_on_alert(":x")


_literals = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**9), 10**9)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet="abcxyz _-./", max_size=8).filter(lambda s: s == s.strip()),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=5,
)


_names = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda k: not keyword.iskeyword(k)  # keywords are refused as names (tested elsewhere)
)


@given(key=_names, value=_literals)
def test_param_values_round_trip_through_their_repr(key, value):
    assert parse_param(f"{key}={value!r}") == (key, value)


_cron_field = {
    "minute": st.sampled_from(["*", "0", "15", "*/10", "5,35", "0-30/15"]),
    "hour": st.sampled_from(["*", "3", "*/6", "1-5", "0,12"]),
    "dom": st.sampled_from(["*", "1", "15", "1-7"]),
    "month": st.sampled_from(["*", "1", "*/3", "6-8"]),
    "dow": st.sampled_from(["*", "0", "1-5", "6"]),
}


@settings(max_examples=60, deadline=None)
@given(
    fields=st.tuples(*_cron_field.values()),
    tz=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]),
    start=st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2027, 1, 1)),
    hours=st.integers(1, 24 * 40),
)
def test_cron_slots_are_the_matching_times_inside_the_window(fields, tz, start, hours):
    expr = " ".join(fields)
    after = start.replace(tzinfo=dt.UTC)
    until = after + dt.timedelta(hours=hours)
    slots = cron_slots(expr, tz, after, until)
    assert all(after < s <= until for s in slots)
    # as instants: two wall times an hour apart in a DST fall-back compare equal in their zone
    instants = [s.astimezone(dt.UTC) for s in slots]
    assert instants == sorted(set(instants))
    for s in slots:
        assert croniter.match(expr, s.astimezone(zone(tz)).replace(tzinfo=None))


@settings(max_examples=150, deadline=None)
@given(
    expr=st.sampled_from(
        ["* * * * *", "*/7 * * * *", "30 2 * * *", "0 0 * * 1", "15,45 9-17 * * 1-5", "0 3 1 * *"]
    ),
    tz=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]),
    start=st.datetimes(
        min_value=dt.datetime(2025, 1, 1),
        max_value=dt.datetime(2027, 1, 1),
        timezones=st.just(dt.UTC),
    ),
    minutes=st.integers(0, 4 * 24 * 60),
)
def test_missed_slots_agree_with_stepping_through_every_slot(expr, tz, start, minutes):
    """The constant-time catch-up finds the same first and latest slot and count as listing
    every slot one by one (DST changes included)."""
    until = start + dt.timedelta(minutes=minutes, seconds=17)
    slots = cron_slots(expr, tz, start, until)
    missed = missed_slots(expr, tz, start, until, limit=50)
    if not slots:
        assert missed is None
        return
    assert missed is not None
    assert (missed.first, missed.latest) == (slots[0], slots[-1])
    assert missed.count == min(len(slots), 50) and missed.more == (len(slots) > 50)


def test_a_month_of_missed_minutes_is_one_catch_up_run_counted_as_100_plus(registry, notebook):
    from mlnb.pipelines.triggers import schedule_fires

    p = mlnb.create_pipeline("every-minute", notebook, schedule="* * * * *", registry=registry)
    now = dt.datetime.fromtimestamp(p["config"]["schedule_anchor"], dt.UTC) + dt.timedelta(days=30)
    (fire,) = schedule_fires(
        registry, registry.pipelines.get("every-minute"), PipelineConfig.from_dict(p["config"]), now
    )
    assert "one run for 100+ slot(s) missed" in fire.reason
    assert fire.details["slots"] == 100 and fire.details["slots_more"] is True


def test_catch_up_across_a_spring_forward_finds_the_latest_slot():
    """Waking at 03:07 EDT, just after New York skips 02:00-03:00: croniter stepping back from
    there lands at "02:59 EST", after the wake-up; the latest slot is still 03:07 (found by
    hypothesis in test_any_tick_pattern_runs_each_due_time_at_most_once)."""
    after = dt.datetime.fromisoformat("2026-03-05T02:14:00-05:00")
    until = dt.datetime(2026, 3, 8, 7, 7, tzinfo=dt.UTC)
    missed = missed_slots("*/7 * * * *", "America/New_York", after, until)
    slots = cron_slots("*/7 * * * *", "America/New_York", after, until)
    assert missed is not None
    assert missed.latest == slots[-1] == until
    assert missed.first == slots[0]
