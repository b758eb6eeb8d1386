"""Small churn-like data and models for the model registry and gate tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

FEATURES = ["tenure", "charges", "support_calls"]


def churn_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """Customers with a churn label that depends on tenure, charges and support calls."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 72, n)
    charges = rng.normal(70, 20, n).round(2)
    calls = rng.poisson(1.5, n)
    region = rng.choice(["north", "south", "east"], n)
    logit = -0.08 * tenure + 0.04 * (charges - 70) + 0.9 * calls + 0.6
    churned = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(
        {
            "tenure": tenure,
            "charges": charges,
            "support_calls": calls,
            "region": region,
            "churned": churned,
        }
    )


@pytest.fixture(autouse=True)
def forget_gates_registered_in_code():
    """Gates defined with mlnb.Gate(...) are process-wide; each test starts without any."""
    from mlnb.lifecycle.gate import _registered

    _registered.clear()
    yield
    _registered.clear()


@pytest.fixture(scope="session")
def train_frame() -> pd.DataFrame:
    return churn_frame(1500, seed=1)


@pytest.fixture(scope="session")
def holdout_frame() -> pd.DataFrame:
    return churn_frame(800, seed=2)


@pytest.fixture(scope="session")
def good_model(train_frame):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=500).fit(train_frame[FEATURES], train_frame["churned"])


@pytest.fixture(scope="session")
def forest_model(train_frame):
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=30, max_depth=6, random_state=0).fit(
        train_frame[FEATURES], train_frame["churned"]
    )


@pytest.fixture(scope="session")
def weak_model(train_frame):
    from sklearn.dummy import DummyClassifier

    return DummyClassifier(strategy="most_frequent").fit(
        train_frame[FEATURES], train_frame["churned"]
    )


class RegionRule(ClassifierMixin, BaseEstimator):
    """A deliberately (un)fair rule: predicts churn from support calls, and, when ``biased``,
    for every customer in the north regardless of anything else."""

    def __init__(self, biased: bool = True) -> None:
        self.biased = biased

    def fit(self, X, y):
        self.classes_ = np.array([0, 1])
        self.feature_names_in_ = np.array(list(X.columns), dtype=object)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        out = (X["support_calls"].to_numpy() >= 2).astype(int)
        if self.biased:
            out[X["region"].to_numpy() == "north"] = 1
        return out
