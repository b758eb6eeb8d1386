"""False-alarm rate and power of the categorical drift test on small references.

Draws ``--trials`` resamples: a category column with 2-50 categories (shares from a flat
Dirichlet), a reference of 300-1,000 rows and a batch of 300-1,000 rows. Under "no shift"
both come from the same shares, so every drift verdict is a false alarm and the rate should
sit within sampling error of the test's nominal 5%. Under "shift" the batch's shares are
mixed 30% towards another draw, and the rate is the power. The verdict is mlnb's whole column
verdict (test plus the new-values rule), with default settings.

    PYTHONPATH=. python bench/bench_drift_false_alarms.py                 # this checkout
    PYTHONPATH=/work/main python bench/bench_drift_false_alarms.py        # another (before)

It also reports, on the same draws, scipy's goodness-of-fit test against the reference's
shares (what the categorical test used to be) and scipy's two-sample ``chi2_contingency``.

A second scenario, ``high_cardinality``, runs ``--hc-trials`` draws of a 2,000-category
column (flat Dirichlet shares), a 20,000-100,000-row reference and a 10,000-row batch: the
large reference gets the Jensen-Shannon distance (threshold 0.1), and sampling noise alone on
sparse categories reads ~0.13-0.17. ``js_at_0.1`` is the verdict of the raw distance against
the fixed threshold (what mlnb did before the threshold was lifted above the no-shift noise
floor); ``mlnb`` is today's whole column verdict; power is reported on 30% and 10% mixes.

    PYTHONPATH=. python bench/bench_drift_false_alarms.py --trials 400 --hc-trials 100
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, chisquare

import mlnb
from mlnb.monitoring.drift import drift

ALPHA = 0.05


def draw(rng: np.random.Generator, shifted: bool) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """One reference/current pair of category columns."""
    k = int(rng.integers(2, 51))
    n_ref, n_cur = int(rng.integers(300, 1001)), int(rng.integers(300, 1001))
    shares = rng.dirichlet(np.ones(k))
    cur_shares = 0.7 * shares + 0.3 * rng.dirichlet(np.ones(k)) if shifted else shares
    names = np.array([f"c{i:02d}" for i in range(k)])
    ref = pd.DataFrame({"c": names[rng.choice(k, n_ref, p=shares)]})
    cur = pd.DataFrame({"c": names[rng.choice(k, n_cur, p=cur_shares)]})
    return ref, cur, k


def scipy_verdicts(ref: pd.DataFrame, cur: pd.DataFrame) -> tuple[bool, bool]:
    """(goodness-of-fit drifts, two-sample contingency drifts) on the same counts."""
    rc, cc = ref["c"].value_counts(), cur["c"].value_counts()
    keys = list(rc.index)
    if len(keys) < 2:
        return False, False
    f_obs = np.array([cc.get(k, 0) for k in keys], dtype=float)
    f_exp = rc.to_numpy(dtype=float) * f_obs.sum() / rc.sum()
    gof = chisquare(f_obs, f_exp).pvalue < ALPHA
    union = sorted(set(rc.index) | set(cc.index))
    table = np.array([[rc.get(k, 0) for k in union], [cc.get(k, 0) for k in union]])
    two = chi2_contingency(table).pvalue < ALPHA
    return bool(gof), bool(two)


def rates(trials: int, seed: int, shifted: bool) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    hits = {"mlnb": 0, "scipy_goodness_of_fit": 0, "scipy_chi2_contingency": 0}
    tests: dict[str, int] = {}
    for _ in range(trials):
        ref, cur, _k = draw(rng, shifted)
        res = drift(ref, cur).column("c")
        tests[str(res.test)] = tests.get(str(res.test), 0) + 1
        hits["mlnb"] += bool(res.drifted)
        gof, two = scipy_verdicts(ref, cur)
        hits["scipy_goodness_of_fit"] += gof
        hits["scipy_chi2_contingency"] += two
    return {"trials": trials, "rates": {k: v / trials for k, v in hits.items()}, "tests": tests}


HC_CATEGORIES = 2000
HC_BATCH = 10_000


def draw_high_cardinality(
    rng: np.random.Generator, mix: float
) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """A 2,000-category reference of 20k-100k rows and a 10k-row batch (mixed ``mix`` of the
    way towards another draw of shares: 0 is no shift), and the population JS distance."""
    shares = rng.dirichlet(np.ones(HC_CATEGORIES))
    cur_shares = (1 - mix) * shares + mix * rng.dirichlet(np.ones(HC_CATEGORIES))
    names = np.array([f"k{i:04d}" for i in range(HC_CATEGORIES)])
    n_ref = int(rng.integers(20_000, 100_001))
    ref = pd.DataFrame({"c": names[rng.choice(HC_CATEGORIES, n_ref, p=shares)]})
    cur = pd.DataFrame({"c": names[rng.choice(HC_CATEGORIES, HC_BATCH, p=cur_shares)]})
    return ref, cur, float(jensenshannon(shares, cur_shares))


def high_cardinality_rates(trials: int, seed: int, mix: float) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    hits = {"mlnb": 0, "js_at_0.1": 0, "scipy_chi2_contingency": 0}
    scores: list[float] = []
    population: list[float] = []
    for _ in range(trials):
        ref, cur, true_js = draw_high_cardinality(rng, mix)
        population.append(true_js)
        res = drift(ref, cur).column("c")
        hits["mlnb"] += bool(res.drifted)
        hits["js_at_0.1"] += bool(res.score is not None and res.score >= 0.1)
        hits["scipy_chi2_contingency"] += scipy_verdicts(ref, cur)[1]
        scores.append(float(res.score or 0.0))
    return {
        "trials": trials,
        "rates": {k: v / trials for k, v in hits.items()},
        "median_js": round(float(np.median(scores)), 4),
        "median_population_js": round(float(np.median(population)), 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--hc-trials", type=int, default=100, help="high-cardinality draws")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    se = math.sqrt(ALPHA * (1 - ALPHA) / args.trials)
    out = {
        "mlnb_from": mlnb.__file__,
        "no_shift": rates(args.trials, args.seed, shifted=False),
        "shift_30pct_mix": rates(args.trials, args.seed + 1, shifted=True),
        "high_cardinality": {
            "setup": f"{HC_CATEGORIES} categories, 20k-100k reference rows, {HC_BATCH} batch rows",
            "no_shift": high_cardinality_rates(args.hc_trials, args.seed + 2, 0.0),
            "shift_30pct_mix": high_cardinality_rates(args.hc_trials, args.seed + 3, 0.3),
            "shift_10pct_mix": high_cardinality_rates(args.hc_trials, args.seed + 4, 0.1),
        },
        "nominal": ALPHA,
        "band_95pct": [round(ALPHA - 1.96 * se, 4), round(ALPHA + 1.96 * se, 4)],
    }
    print(json.dumps(out, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
