"""Drift verdicts a user would check first: no drift on identical data, drift exactly
where the data was shifted, for small (exact tests) and large (distances) references."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlnb.monitoring.drift import DriftConfig, DriftReport, Profile, drift, fit_profile, score
from tests.drift.frames import NUMERIC, SHIFTED, permuted, reference_frame, shifted_frame


@pytest.mark.parametrize("n", [300, 1000, 5000])
def test_identical_inputs_have_no_drift(n):
    ref = reference_frame(n)
    report = drift(ref, ref)
    assert report.n_drifted == 0
    assert not report.dataset_drift
    assert all(c.status == "ok" for c in report.columns)
    assert report.n_columns == len(ref.columns)


def test_small_reference_uses_exact_tests_and_finds_exactly_the_shifted_columns():
    ref = reference_frame(800)
    cur = permuted(ref)  # unchanged columns: same values, other order
    cur["x0"] = cur["x0"] + ref["x0"].std()
    cur["x1"] = cur["x1"] + ref["x1"].std()
    cur["plan"] = np.random.default_rng(3).choice(
        ["basic", "plus", "pro"], size=len(cur), p=[0.2, 0.3, 0.5]
    )
    report = drift(ref, cur)
    assert set(report.drifted_columns) == SHIFTED
    tests = {c.column: c.test for c in report.columns}
    assert {tests[c] for c in NUMERIC} == {"ks"}
    assert tests["plan"] == tests["region"] == "chisquare"
    assert all(c.p_value is not None for c in report.columns)
    assert report.small_reference


def test_large_reference_uses_distances_and_finds_exactly_the_shifted_columns():
    report = drift(reference_frame(20_000, seed=0), shifted_frame(10_000, seed=1))
    assert set(report.drifted_columns) == SHIFTED
    by = {c.column: c for c in report.columns}
    assert {by[c].test for c in NUMERIC} == {"wasserstein"}
    assert by["plan"].test == by["region"].test == "jensenshannon"
    assert by["x0"].score == pytest.approx(1.0, abs=0.05)  # one std, normed by the std
    assert all(by[c].score < 0.05 for c in NUMERIC[2:])
    assert report.n_drifted == 3 and report.n_columns == 8
    assert report.share_drifted == pytest.approx(3 / 8)
    assert not report.dataset_drift  # 3/8 < 0.5


def test_dataset_drift_follows_threshold_share():
    ref, cur = reference_frame(5000), shifted_frame(5000)
    assert drift(ref, cur, threshold_share=0.3).dataset_drift
    assert not drift(ref, cur, threshold_share=0.5).dataset_drift


def test_profile_is_fitted_once_and_reused_for_many_batches():
    profile = fit_profile(reference_frame(5000))
    clean = score(profile, reference_frame(3000, seed=5))
    shifted = score(profile, shifted_frame(3000, seed=6))
    assert clean.n_drifted == 0
    assert set(shifted.drifted_columns) == SHIFTED
    assert clean.n_rows_ref == shifted.n_rows_ref == 5000
    assert shifted.n_rows_cur == 3000


def test_chunked_current_gives_the_same_report_as_one_frame():
    profile = fit_profile(reference_frame(5000))
    cur = shifted_frame(6000)
    whole = score(profile, cur)
    chunks = score(profile, (cur.iloc[i : i + 1000] for i in range(0, len(cur), 1000)))
    for a, b in zip(whole.columns, chunks.columns, strict=True):
        assert a.drifted == b.drifted
        assert a.score == pytest.approx(b.score, rel=1e-9)
    assert chunks.n_rows_cur == 6000


def test_chunked_current_on_small_reference_matches_scipy_beyond_ten_thousand_rows():
    from scipy.stats import ks_2samp

    ref = reference_frame(500)
    cur = shifted_frame(25_000, seed=9)
    profile = fit_profile(ref)
    report = score(profile, (cur.iloc[i : i + 5000] for i in range(0, len(cur), 5000)))
    for name in NUMERIC:
        expected = ks_2samp(ref[name], cur[name])
        res = report.column(name)
        assert res.statistic == expected.statistic
        assert res.p_value == pytest.approx(expected.pvalue, rel=1e-12, abs=1e-300)


def test_per_column_and_monitor_wide_methods_and_thresholds():
    ref, cur = reference_frame(5000), shifted_frame(5000)
    cfg = DriftConfig(
        per_column={"x0": "psi", "x2": {"method": "ks", "threshold": 0.01}, "plan": "chisquare"},
        num_method="wasserstein",
        thresholds={"psi": 0.2},
    )
    report = score(fit_profile(ref), cur, config=cfg)
    by = {c.column: c for c in report.columns}
    assert (by["x0"].test, by["x0"].threshold) == ("psi", 0.2)
    assert (by["x2"].test, by["x2"].threshold) == ("ks", 0.01)
    assert by["x2"].p_value is not None and not by["x2"].drifted
    assert by["plan"].test == "chisquare" and by["plan"].drifted
    assert by["x0"].drifted and by["x0"].score > 0.2


@pytest.mark.parametrize("method", ["ks", "chisquare", "psi", "wasserstein", "jensenshannon"])
def test_every_numeric_method_separates_shifted_from_stable(method):
    ref = reference_frame(5000)
    cur = permuted(ref)
    cur[["x0", "x1"]] += 1.0
    report = drift(ref, cur, num_method=method)
    by = {c.column: c for c in report.columns}
    assert by["x0"].test == method
    assert by["x0"].drifted and by["x1"].drifted
    assert not any(by[c].drifted for c in NUMERIC[2:])


def test_target_and_prediction_are_reported_but_not_counted():
    ref = reference_frame(4000)
    ref["label"] = (ref["x0"] > 0).astype(int)
    ref["pred"] = np.clip(ref["x0"] * 0.3 + 0.5, 0, 1)
    cur = reference_frame(4000, seed=3)
    cur["label"] = (cur["x0"] > 0).astype(int)
    cur["pred"] = np.clip(cur["x0"] * 0.3 + 0.9, 0, 1)  # predictions moved up
    profile = fit_profile(ref, target="label", prediction="pred")
    report = score(profile, cur)
    assert report.prediction_drift is not None and report.prediction_drift.drifted
    assert report.prediction_drift.role == "prediction"
    assert report.target_drift is not None and not report.target_drift.drifted
    assert report.n_drifted == 0  # features did not move
    assert report.n_columns == 8
    without_labels = score(profile, cur.drop(columns=["label"]))
    assert without_labels.target_drift.status == "missing_column"
    assert "labels may arrive later" in without_labels.target_drift.note


def test_low_cardinality_integers_and_bools_are_categorical():
    rng = np.random.default_rng(0)
    ref = pd.DataFrame(
        {
            "children": rng.integers(0, 4, 3000),
            "stars": rng.integers(1, 11, 3000),
            "score": rng.integers(0, 500, 3000),
            "flag": rng.random(3000) < 0.3,
            "half": rng.choice([0.5, 1.5, 2.5], 3000),
        }
    )
    kinds = {name: col.kind for name, col in fit_profile(ref).columns.items()}
    assert kinds == {
        "children": "categorical",
        "stars": "categorical",
        "score": "numeric",
        "flag": "categorical",
        "half": "categorical",
    }


def test_binary_category_on_small_reference_uses_z_test():
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"churned": rng.choice(["yes", "no"], 600, p=[0.2, 0.8])})
    cur = pd.DataFrame({"churned": rng.choice(["yes", "no"], 600, p=[0.45, 0.55])})
    res = drift(ref, cur).column("churned")
    assert res.test == "ztest" and res.drifted and res.p_value < 1e-6


def test_progress_bar_on_chunks_and_frames(capsys):
    profile = fit_profile(reference_frame(2000), progress=True)
    score(profile, reference_frame(1000), progress=True)
    score(profile, iter([reference_frame(500), reference_frame(500, seed=4)]), progress=True)
    err = capsys.readouterr().err
    assert "fitting profile" in err and "scoring drift" in err


def test_report_and_profile_are_json_round_trippable():
    profile = fit_profile(reference_frame(3000))
    text = json.dumps(profile.to_dict())
    again = Profile.from_dict(json.loads(text))
    cur = shifted_frame(2000)
    a, b = score(profile, cur), score(again, cur)
    assert [c.to_dict() for c in a.columns] == [c.to_dict() for c in b.columns]
    report_text = json.dumps(a.to_dict())
    back = DriftReport.from_dict(json.loads(report_text))
    assert back.to_dict() == a.to_dict()
    assert back.dataset_drift == a.dataset_drift and back.n_drifted == a.n_drifted


def test_profile_is_compact_and_keeps_no_rows_for_large_references():
    ref = reference_frame(50_000)
    ref.loc[123, "x0"] = 987654.321  # a unique raw value
    d = Profile.from_dict(fit_profile(ref).to_dict()).to_dict()
    text = json.dumps(d)
    assert all(c["sample"] is None for c in d["columns"])
    assert len(text) < 40_000 * len(ref.columns)
    # a small reference keeps its (bounded) exact sample for exact tests
    small = fit_profile(reference_frame(200)).to_dict()
    assert all(len(c["sample"]) == 200 for c in small["columns"] if c["family"] == "numeric")


def test_summary_text_is_a_plain_table():
    text = drift(reference_frame(3000), shifted_frame(3000)).summary_text()
    assert "3 of 8 columns drifted" in text
    assert "x0" in text and "DRIFT" in text and "wasserstein" in text
    assert "<" not in text


def test_the_package_itself_is_callable_like_the_drift_function():
    import mlnb
    import mlnb.monitoring.drift

    ref, cur = reference_frame(2000), shifted_frame(2000)
    report = mlnb.drift(ref, cur, threshold_share=0.3)
    assert isinstance(report, DriftReport)
    assert set(report.drifted_columns) == SHIFTED and report.dataset_drift


def test_drift_takes_a_config_object_and_keyword_overrides():
    ref, cur = reference_frame(3000), shifted_frame(3000)
    cfg = DriftConfig(threshold_share=0.3, per_column={"x0": "psi"})
    report = drift(ref, cur, config=cfg, threshold_share=0.9)
    assert report.threshold_share == 0.9 and not report.dataset_drift
    assert report.column("x0").test == "psi"
