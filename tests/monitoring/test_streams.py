"""Within-batch detection: a Page-Hinkley test on the per-row error stream fires mid-batch
when rows arrive one by one, and stays quiet on a stable stream."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

import mlnb
from mlnb.errors import ValidationError
from mlnb.monitoring.streams import PageHinkley


def _first_alarm(stream: np.ndarray, detector: PageHinkley) -> int | None:
    for i, value in enumerate(stream):
        if detector.update(float(value)) == "up":
            return i
    return None


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), before=st.floats(0.05, 0.2), rise=st.floats(0.15, 0.3))
def test_a_rise_in_the_error_rate_is_found_soon_after_it_starts(seed, before, rise):
    rng = np.random.default_rng(seed)
    change = 2000
    stream = np.r_[rng.random(change) < before, rng.random(3000) < before + rise].astype(float)
    alarm = _first_alarm(stream, PageHinkley())
    assert alarm is not None and change <= alarm < change + 2.5 * 40 / (rise - 0.02)


def test_a_stable_stream_raises_no_alarm():
    false_alarms = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        stream = (rng.random(10_000) < 0.15).astype(float)
        false_alarms += _first_alarm(stream, PageHinkley()) is not None
    assert false_alarms <= 1  # at most 1 of 20 streams of 10,000 stable rows


def test_bad_detector_settings_are_refused():
    with pytest.raises(ValidationError, match="threshold > 0"):
        PageHinkley(threshold=0)


def _rows(n: int, seed: int, flip: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-3 * x))).astype(int)
    return pd.DataFrame({"x": x, "y": 1 - y if flip else y})


def test_observe_opens_an_incident_mid_batch_and_logs_full_batches(registry):
    reference = _rows(3000, 0)
    model = LogisticRegression().fit(reference[["x"]], reference["y"])
    monitor = mlnb.Monitor(
        name="live", reference=reference, target="y", predictor=model, batch_size=500
    )
    good, bad = _rows(400, 1), _rows(400, 2, flip=True)
    alert_at, batches = None, []
    for i, row in enumerate(pd.concat([good, bad], ignore_index=True).to_dict("records")):
        label = row.pop("y")
        out = monitor.observe(row, labels=[label])
        if out.batch is not None:
            batches.append(out.batch)
        if out.alerts and alert_at is None:
            alert_at = i
    assert alert_at is not None and 400 <= alert_at < 500  # before the first batch is full
    (incident,) = registry.alerts.find(monitor="live")
    assert incident["metric"] == "error_stream" and incident["kind"] == "error_stream_rise"
    assert len(batches) == 1 and batches[0].report.n_rows_cur == 500
    rest = monitor.flush()
    assert rest is not None and rest.report.n_rows_cur == 300
    assert monitor.flush() is None


def test_observe_without_labels_follows_the_estimated_error(registry):
    reference = _rows(3000, 0)
    model = LogisticRegression().fit(reference[["x"]], reference["y"])
    monitor = mlnb.Monitor(name="live", reference=reference, target="y", predictor=model)
    confident = _rows(300, 1)
    confident["x"] = confident["x"] * 3  # far from the boundary: few errors expected
    unsure = _rows(1500, 2)
    unsure["x"] = unsure["x"] * 0.05  # at the boundary: about half wrong
    fired = []
    for frame in (confident, unsure):
        for start in range(0, len(frame), 50):  # 50 rows per request
            fired += monitor.observe(frame.iloc[start : start + 50].drop(columns="y")).alerts
    assert fired and fired[0]["metric"] == "error_stream"


def test_observe_from_several_threads_keeps_every_row(registry):
    import threading

    reference = _rows(2000, 0)
    model = LogisticRegression().fit(reference[["x"]], reference["y"])
    monitor = mlnb.Monitor(name="live", reference=reference, target="y", predictor=model)
    live = _rows(800, 5)

    def feed(part: pd.DataFrame) -> None:
        for row in part.drop(columns="y").to_dict("records"):
            monitor.observe(row)

    threads = [threading.Thread(target=feed, args=(live.iloc[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    batch = monitor.flush()
    assert batch is not None and batch.report.n_rows_cur == 800
    assert "accuracy" in batch.estimates  # label-free: scores came from the predictor
