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
