"""Small synthetic frames with known drift for the drift tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

NUMERIC = [f"x{i}" for i in range(6)]
SHIFTED = {"x0", "x1", "plan"}


def reference_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """Six standard-normal columns, a three-way category and a stable category."""
    rng = np.random.default_rng(seed)
    data = {name: rng.normal(size=n) for name in NUMERIC}
    data["plan"] = rng.choice(["basic", "plus", "pro"], size=n, p=[0.5, 0.3, 0.2])
    data["region"] = rng.choice(["north", "south", "east", "west"], size=n)
    return pd.DataFrame(data)


def shifted_frame(n: int, seed: int = 1) -> pd.DataFrame:
    """Same generator, with x0/x1 shifted by one std and the plan shares reversed."""
    df = reference_frame(n, seed)
    rng = np.random.default_rng(seed + 100)
    df["x0"] = df["x0"] + 1.0
    df["x1"] = df["x1"] + 1.0
    df["plan"] = rng.choice(["basic", "plus", "pro"], size=n, p=[0.2, 0.3, 0.5])
    return df


def permuted(df: pd.DataFrame, seed: int = 7) -> pd.DataFrame:
    """The same values in another row order (same distribution, exactly)."""
    rng = np.random.default_rng(seed)
    return df.iloc[rng.permutation(len(df))].reset_index(drop=True)


def monitor_history(
    n: int = 4, first_number: int = 7, thresholds: dict | None = None
) -> list[dict]:
    """A regression monitor's batch rows, seconds apart, every other batch shifted: what the
    panel timelines draw (batch numbers from ``first_number``)."""
    import time

    from mlnb.monitoring.drift import fit_profile, score

    profile = fit_profile(reference_frame(3000))
    start = time.mktime((2025, 1, 1, 0, 0, 0, 0, 0, -1))
    return [
        {
            "batch_at": start + i,  # seconds apart: the axis shows batch numbers
            "number": first_number + i,
            "report": score(
                profile, shifted_frame(800, seed=i) if i % 2 else reference_frame(800, seed=i)
            ),
            "metrics": {"r2": 0.7 - 0.05 * i, "mae": 50.0 + 3 * i, "rmse": 61.0 + 4 * i},
            "thresholds": thresholds if thresholds is not None else {"r2": 0.6},
        }
        for i in range(n)
    ]
