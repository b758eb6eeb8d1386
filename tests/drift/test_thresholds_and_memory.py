"""Learned thresholds from reference chunks, and bounded memory on chunked inputs."""

from __future__ import annotations

import numpy as np
import pytest

from mlnb.errors import ValidationError
from mlnb.monitoring.drift import fit_profile, learn_threshold, reference_chunk_scores, score
from tests.drift.frames import NUMERIC, reference_frame, shifted_frame


def test_learn_threshold_is_mean_plus_minus_sigmas():
    low, high = learn_threshold([0.8, 0.82, 0.84, 0.86], sigmas=3)
    values = np.array([0.8, 0.82, 0.84, 0.86])
    assert low == pytest.approx(values.mean() - 3 * values.std(ddof=1))
    assert high == pytest.approx(values.mean() + 3 * values.std(ddof=1))
    assert learn_threshold([1.0, float("nan"), 3.0, None], sigmas=0) == (2.0, 2.0)


@pytest.mark.parametrize("bad", [[], [1.0], [float("inf"), 2.0]])
def test_learn_threshold_needs_two_finite_values(bad):
    with pytest.raises(ValidationError, match="at least 2 finite"):
        learn_threshold(bad)


def test_reference_chunk_scores_give_thresholds_that_catch_real_shift():
    ref = reference_frame(20_000)
    table = reference_chunk_scores(ref, n_chunks=10)
    assert list(table["chunk"]) == list(range(10))
    assert set(NUMERIC) | {"plan", "region", "share_drifted"} <= set(table.columns)
    assert (table["share_drifted"] == 0).all()
    low, high = learn_threshold(table["x0"])
    assert 0 <= high < 0.1  # chunk-to-reference noise is far below the default threshold
    shifted = score(fit_profile(ref), shifted_frame(2000)).column("x0").score
    assert shifted > high


def test_reference_chunk_scores_validates_input():
    with pytest.raises(ValidationError, match="n_chunks"):
        reference_chunk_scores(reference_frame(100), n_chunks=1)
    with pytest.raises(ValidationError, match="fewer than n_chunks"):
        reference_chunk_scores(reference_frame(5), n_chunks=10)


MEMORY_PROBE = """
import resource, sys
import numpy as np
from mlnb.monitoring.drift import fit_profile, score
from tests.drift.frames import shifted_frame

n_chunks, rows = int(sys.argv[1]), int(sys.argv[2])
chunk_mb = shifted_frame(rows).memory_usage(deep=True).sum() / 2**20
warm = fit_profile(shifted_frame(rows, seed=1))
score(warm, shifted_frame(rows, seed=2))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
profile = fit_profile(shifted_frame(rows, seed=10 + i) for i in range(n_chunks))
report = score(profile, (shifted_frame(rows, seed=500 + i) for i in range(n_chunks)))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
assert report.n_rows_cur == profile.n_rows == n_chunks * rows
print(chunk_mb, peak - base)
"""


def test_chunked_fit_and_score_keep_memory_bounded_by_a_chunk(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    n_chunks, rows = 30, 50_000
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(n_chunks), str(rows)],
        capture_output=True,
        text=True,
        check=True,
        cwd=root,
        env={**__import__("os").environ, "PYTHONPATH": str(root)},
    )
    chunk_mb, growth_mb = map(float, out.stdout.split())
    # all chunks at once would need 30 chunks of memory; the stream needs one chunk plus
    # temporaries and per-thread allocator pools (a few chunks), independent of n_chunks
    assert growth_mb < 8 * chunk_mb, (growth_mb, chunk_mb)
