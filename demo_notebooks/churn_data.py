"""Synthetic customer-churn data for the mlnb demo notebooks and end-to-end tests.

The story: month 0 is the development data. Most customers never call support; those with a
problem of their own call three times or more, and they are the ones who leave. A churn model
trained on it reaches about 92% accuracy, with support calls as its main signal.

Live batches then arrive monthly and the market moves: prices rise (``monthly_charges``),
basic-plan customers are migrated to higher plans (``plan``), and a cheaper competitor makes
price matter a little to every customer. From month 2 a network outage spreads (slowly at
first, through most of the network in months 3-4, to every quiet customer by month 6), and
each customer it hits calls support twice (``support_calls``). Two calls lie between the
development data's quiet customers and its troubled ones, a count it almost never had, so the
month-0 model is unsure about them: it gives them a churn probability near 50%. Whether they
leave turns on the price they pay (about half of them leave, more as prices rise), which the
month-0 model does not weigh at all, so it is right about half of the time for them. Its
accuracy slides from ~92% through ~83% in month 3 to 55-65% by month 6, and its confidence
slides with it: this covariate shift into the region where the model is unsure is what
label-free estimation (CBPE) sees before the labels arrive. Estimated and realized accuracy
cross 80% together in month 4, the steepest step, for every seed tried (0-7); after that the
price effect (concept drift, which no label-free estimate can see) mostly keeps the realized
accuracy below the estimate, by up to 0.2. A model retrained on recent months learns the
price effect and recovers to ~88%.

Only the columns in ``SHIFTED_FEATURES`` change their distribution. Columns are drawn by
stratified sampling (fixed shares of rows in each of 17 quantile strata), so month-to-month
sampling noise in the untouched columns stays small but real, far below drift thresholds,
and the drift story holds for any seed. The shift is complete at ``SHIFT_COMPLETE_MONTH``;
later months stay in the new regime.

This module deliberately does not import mlnb: it stands for "the data the team has".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

TARGET = "churned"
ID_COLUMN = "customer_id"
NUMERIC_FEATURES = [
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "support_calls",
    "age",
]
CATEGORICAL_FEATURES = ["plan", "contract", "region", "payment_method", "has_streaming"]
FEATURES = NUMERIC_FEATURES + CATEGORICAL_FEATURES
COLUMNS = [
    ID_COLUMN,
    "tenure_months",
    "plan",
    "contract",
    "monthly_charges",
    "total_charges",
    "support_calls",
    "region",
    "payment_method",
    "has_streaming",
    "age",
    TARGET,
]

# The features whose distribution moves in the live months; every other feature stays put.
SHIFTED_FEATURES = ["support_calls", "monthly_charges", "plan"]
SHIFT_COMPLETE_MONTH = 6
_SHIFT_PACE = 0.85  # < 1: the market moves a little faster early on, then settles
FIRST_YEAR = 2026

PLANS = ["basic", "standard", "premium"]
CONTRACTS = ["month-to-month", "one-year", "two-year"]
REGIONS = ["north", "south", "east", "west"]
PAYMENT_METHODS = ["electronic check", "mailed check", "bank transfer", "credit card"]

_PLAN_PRICE = {"basic": 30.0, "standard": 60.0, "premium": 90.0}
_STREAMING_PRICE = 10.0
_PLAN_MIX_BEFORE = np.array([0.45, 0.35, 0.20])
_PLAN_MIX_AFTER = np.array([0.25, 0.40, 0.35])
_CONTRACT_MIX = np.array([0.55, 0.25, 0.20])
_REGION_MIX = np.array([0.30, 0.25, 0.25, 0.20])
_PAYMENT_MIX = np.array([0.35, 0.20, 0.22, 0.23])
_STREAMING_SHARE = 0.40
_TROUBLE_SHARE = 0.30  # customers with a problem of their own, who call repeatedly
_TROUBLE_MIN_CALLS = 3
_TROUBLE_EXTRA_CALLS_MEAN = 1.5
_QUIET_CALLS_MEAN = 0.05
_OUTAGE_CALLS = 2  # each customer the outage hits calls twice about it
_OUTAGE_START = 1  # the last month before the outage (it hits its first customers in month 2)
_OUTAGE_REACH = 1.0  # share of the quiet customers hit once the outage is at its worst
_PRICE_RISE_AFTER = 18.0
_TOTAL_CHARGES_MISSING_SHARE = 0.03
_STRATA = 17  # prime, so no category share lines up exactly with a stratum edge

# Reference scales used to standardise features inside the churn model (month-0 values).
_TENURE_CENTER, _TENURE_SCALE = 24.0, 20.0
_CHARGES_CENTER, _CHARGES_SCALE = 57.0, 24.0
_CALLS_CENTER, _CALLS_SCALE = 1.5, 1.22
_AGE_CENTER, _AGE_SCALE = 45.0, 14.0


@dataclass(frozen=True)
class _ChurnDrivers:
    """Log-odds weights of the true churn process in one market regime."""

    intercept: float
    support_calls: float
    tenure: float
    monthly_charges: float
    age: float
    month_to_month: float
    two_year: float
    electronic_check: float
    streaming: float

    def blend(self, other: _ChurnDrivers, share: float) -> _ChurnDrivers:
        """Weights part-way (``share`` in [0, 1]) from this regime to ``other``.

        The effects move along an arc rather than a straight line, so a regime half-way keeps
        as much signal as either end (churn stays as predictable while its causes change).
        """
        arc = math.sqrt(math.hypot(1 - share, share))
        values = {
            name: ((1 - share) * getattr(self, name) + share * getattr(other, name))
            / (1.0 if name == "intercept" else arc)
            for name in self.__dataclass_fields__
        }
        return _ChurnDrivers(**values)


# Month 0: support trouble drives churn (three or more calls about a problem of their own);
# short tenure and flexible contracts add a little.
_DRIVERS_BEFORE = _ChurnDrivers(
    intercept=-0.9,
    support_calls=1.46,
    tenure=-0.2,
    monthly_charges=0.0,
    age=-0.1,
    month_to_month=0.15,
    two_year=-0.15,
    electronic_check=0.15,
    streaming=-0.1,
)
# After the shift: a cheaper competitor makes price matter to every customer (the rest stays).
_DRIVERS_AFTER = replace(_DRIVERS_BEFORE, intercept=-1.3, monthly_charges=0.5)
# Customers the outage hit go shopping: whether they leave turns on what they pay, not on the
# calls the outage made them place (about half of them leave).
_SHOPPING_INTERCEPT = -4.5
_SHOPPING_PRICE = 5.0


def shift_share(month: int) -> float:
    """How far the market has moved at ``month``: 0 at month 0, 1 from SHIFT_COMPLETE_MONTH."""
    if month < 0:
        raise ValueError(f"month must be >= 0 (0 is the development data); got {month}")
    return min(month / SHIFT_COMPLETE_MONTH, 1.0) ** _SHIFT_PACE


def outage_share(month: int) -> float:
    """Share of the quiet customers the outage has reached at ``month``: it spreads slowly,
    sweeps through the network around months 3-4, and has hit them all by SHIFT_COMPLETE_MONTH."""
    x = min(max(month - _OUTAGE_START, 0) / (SHIFT_COMPLETE_MONTH - _OUTAGE_START), 1.0)
    shift_share(month)  # validates month
    return _OUTAGE_REACH * x * x * (3 - 2 * x)


def make_customers(n: int, month: int = 0, seed: int = 0) -> pd.DataFrame:
    """One month's customers with their churn label; month 0 is the development data.

    The same ``(n, month, seed)`` always gives the same frame; different months or seeds give
    different customers.
    """
    import pandas as pd

    if n < 1:
        raise ValueError(f"n must be a positive number of rows; got {n}")
    share = shift_share(month)
    rng = np.random.default_rng([seed, month])

    tenure = _draw_tenure(rng, n)
    contract = _draw_contract_linked_to_tenure(rng, tenure)
    historic_plan = _draw_category(rng, PLANS, _PLAN_MIX_BEFORE, n)
    plan = _migrate_basic_customers(rng, historic_plan, share)
    has_streaming = _stratified_uniform(rng, n) < _STREAMING_SHARE
    extras = 6.0 * _normal_quantile(_stratified_uniform(rng, n))  # add-ons minus discounts
    monthly = _monthly_charges(plan, has_streaming, extras, price_rise=_PRICE_RISE_AFTER * share)
    historic_monthly = _monthly_charges(historic_plan, has_streaming, extras, price_rise=0.0)
    total = _total_charges(rng, tenure, historic_monthly)
    trouble_calls, hit_by_outage = _draw_support_calls(rng, n, outage_share(month))
    support_calls = trouble_calls + _OUTAGE_CALLS * hit_by_outage
    region = _draw_category(rng, REGIONS, _REGION_MIX, n)
    payment = _draw_category(rng, PAYMENT_METHODS, _PAYMENT_MIX, n)
    age = _draw_age(rng, n)

    drivers = _DRIVERS_BEFORE.blend(_DRIVERS_AFTER, share)
    log_odds = _churn_log_odds(
        drivers, tenure, monthly, trouble_calls, age, contract, payment, has_streaming
    )
    shopping = _SHOPPING_INTERCEPT + _SHOPPING_PRICE * (monthly - _CHARGES_CENTER) / _CHARGES_SCALE
    log_odds = np.where(hit_by_outage, shopping, log_odds)
    churned = (rng.random(n) < _sigmoid(log_odds)).astype(np.int64)

    frame = pd.DataFrame(
        {
            ID_COLUMN: _customer_ids(month, n),
            "tenure_months": tenure,
            "plan": pd.Categorical(plan, categories=PLANS),
            "contract": pd.Categorical(contract, categories=CONTRACTS),
            "monthly_charges": np.round(monthly, 2),
            "total_charges": np.round(total, 2),
            "support_calls": support_calls,
            "region": pd.Categorical(region, categories=REGIONS),
            "payment_method": pd.Categorical(payment, categories=PAYMENT_METHODS),
            "has_streaming": has_streaming,
            "age": age,
            TARGET: churned,
        }
    )
    return frame[COLUMNS]


def make_batch(month: int, n: int = 2000, seed: int = 0) -> pd.DataFrame:
    """The live batch that arrives in ``month`` (>= 1), labels included."""
    if month < 1:
        raise ValueError(
            f"live batches start at month 1 (month 0 is development data); got {month}"
        )
    return make_customers(n, month=month, seed=seed)


def make_monthly_batches(
    n_months: int = 6, rows: int = 2000, seed: int = 0
) -> dict[int, pd.DataFrame]:
    """Live batches for months 1..n_months, keyed by month number."""
    if n_months < 1:
        raise ValueError(f"n_months must be at least 1; got {n_months}")
    return {month: make_batch(month, rows, seed) for month in range(1, n_months + 1)}


def month_csv_name(month: int) -> str:
    """File name for a month's batch: month 0 is January 2026, month 1 February, and so on."""
    shift_share(month)  # validates month
    year, month_of_year = divmod(month, 12)
    return f"customers_{FIRST_YEAR + year}_{month_of_year + 1:02d}.csv"


def month_from_csv_name(path: str | Path) -> int:
    """Inverse of ``month_csv_name``: the month number a ``customers_YYYY_MM.csv`` file holds."""
    stem = Path(path).stem
    parts = stem.split("_")
    if len(parts) != 3 or parts[0] != "customers" or not (parts[1] + parts[2]).isdigit():
        raise ValueError(f"expected a file named customers_YYYY_MM.csv; got {Path(path).name!r}")
    year, month_of_year = int(parts[1]), int(parts[2])
    if not 1 <= month_of_year <= 12 or year < FIRST_YEAR:
        raise ValueError(f"{Path(path).name!r} is not a month from {FIRST_YEAR}-01 on")
    return (year - FIRST_YEAR) * 12 + month_of_year - 1


def write_month_csv(folder: str | Path, month: int, n: int = 2000, seed: int = 0) -> Path:
    """Write month ``month``'s customers to ``folder/customers_YYYY_MM.csv`` and return the path.

    This is how new data "arrives" for the pipeline demo, which watches the folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / month_csv_name(month)
    temporary = path.with_suffix(".csv.partial")
    make_customers(n, month=month, seed=seed).to_csv(temporary, index=False)
    temporary.replace(path)  # a watcher never sees a half-written file
    return path


def read_month_csv(path: str | Path) -> pd.DataFrame:
    """Read a file written by ``write_month_csv`` back with the same column types."""
    import pandas as pd

    frame = pd.read_csv(path, dtype={ID_COLUMN: str})
    for column, categories in [
        ("plan", PLANS),
        ("contract", CONTRACTS),
        ("region", REGIONS),
        ("payment_method", PAYMENT_METHODS),
    ]:
        frame[column] = pd.Categorical(frame[column], categories=categories)
    frame["has_streaming"] = frame["has_streaming"].astype(bool)
    return frame[COLUMNS]


def split_features(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """The model inputs (``FEATURES``) and the label of a customer frame."""
    return frame[FEATURES], frame[TARGET]


def build_model() -> Pipeline:
    """The demo's churn model: scaled numerics + one-hot categories into a logistic regression.

    A Pipeline over a ColumnTransformer, so it has a column signature and saves with skops.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    categorical = OneHotEncoder(handle_unknown="ignore")
    preprocess = ColumnTransformer(
        [("numeric", numeric, NUMERIC_FEATURES), ("categorical", categorical, CATEGORICAL_FEATURES)]
    )
    return Pipeline([("preprocess", preprocess), ("classifier", LogisticRegression(max_iter=1000))])


# -- sampling helpers -------------------------------------------------------------------------


def _stratified_uniform(rng: np.random.Generator, n: int) -> np.ndarray:
    """n uniforms in [0, 1), spread evenly over _STRATA equal strata, in random order.

    Within a stratum the draws are free, so samples still differ a little month to month,
    but the shares per stratum are fixed and sampling noise stays far below drift thresholds.
    """
    stratum = rng.permutation(n) * _STRATA // n
    return (stratum + rng.random(n)) / _STRATA


def _draw_category(
    rng: np.random.Generator, names: list[str], probs: np.ndarray, n: int
) -> np.ndarray:
    """Categories with (almost exactly) the given shares, in random order."""
    edges = np.cumsum(probs)[:-1]
    return np.asarray(names, dtype=object)[
        np.searchsorted(edges, _stratified_uniform(rng, n), side="right")
    ]


def _draw_tenure(rng: np.random.Generator, n: int) -> np.ndarray:
    """Months as a customer, 1-72: many new customers, a long tail of loyal ones."""
    u = _stratified_uniform(rng, n)
    return np.floor(1 + 72 * u**1.5).astype(np.int64)


def _draw_contract_linked_to_tenure(rng: np.random.Generator, tenure: np.ndarray) -> np.ndarray:
    """Contracts in their usual shares, longer ones going mostly to long-tenure customers."""
    n = len(tenure)
    counts = [
        np.sum(_draw_category(rng, CONTRACTS, _CONTRACT_MIX, n) == name) for name in CONTRACTS
    ]
    score = (tenure - _TENURE_CENTER) / _TENURE_SCALE + rng.normal(0, 1.0, n)
    by_score = np.argsort(score, kind="stable")
    contract = np.empty(n, dtype=object)
    for name, rows in zip(CONTRACTS, np.split(by_score, np.cumsum(counts)[:-1]), strict=True):
        contract[rows] = name
    return contract


def _migrate_basic_customers(
    rng: np.random.Generator, plan: np.ndarray, share: float
) -> np.ndarray:
    """Move basic-plan customers up so the plan mix goes from _PLAN_MIX_BEFORE towards AFTER."""
    target = (1 - share) * _PLAN_MIX_BEFORE + share * _PLAN_MIX_AFTER
    moving_share = _PLAN_MIX_BEFORE[0] - target[0]
    if moving_share <= 0:
        return plan
    basic = np.flatnonzero(plan == "basic")
    n_moving = int(round(moving_share / _PLAN_MIX_BEFORE[0] * len(basic)))
    movers = rng.permutation(basic)[:n_moving]
    to_premium_share = (target[2] - _PLAN_MIX_BEFORE[2]) / moving_share
    n_premium = int(round(to_premium_share * n_moving))
    migrated = plan.copy()
    migrated[movers[:n_premium]] = "premium"
    migrated[movers[n_premium:]] = "standard"
    return migrated


def _monthly_charges(
    plan: np.ndarray, has_streaming: np.ndarray, extras: np.ndarray, price_rise: float
) -> np.ndarray:
    """Plan price + streaming add-on + the customer's other add-ons and discounts."""
    price = np.select([plan == name for name in PLANS], [_PLAN_PRICE[name] for name in PLANS])
    return np.maximum(price + _STREAMING_PRICE * has_streaming + extras + price_rise, 10.0)


def _total_charges(
    rng: np.random.Generator, tenure: np.ndarray, historic_monthly: np.ndarray
) -> np.ndarray:
    """Charges to date at the prices and plans customers had; blank for some (billing gaps)."""
    total = tenure * historic_monthly * rng.normal(1.0, 0.04, len(tenure))
    missing = _stratified_uniform(rng, len(tenure)) < _TOTAL_CHARGES_MISSING_SHARE
    return np.where(missing, np.nan, np.maximum(total, 0.0))


def _draw_support_calls(
    rng: np.random.Generator, n: int, outage: float
) -> tuple[np.ndarray, np.ndarray]:
    """Calls about the customer's own trouble, and who the outage made call too: most
    customers rarely call, those with a problem call repeatedly; ``outage`` of the quiet ones
    are hit."""
    trouble = _stratified_uniform(rng, n) < _TROUBLE_SHARE
    quiet_calls = _draw_poisson(rng, _QUIET_CALLS_MEAN, n)
    trouble_calls = _TROUBLE_MIN_CALLS + _draw_poisson(rng, _TROUBLE_EXTRA_CALLS_MEAN, n)
    hit = ~trouble & (_stratified_uniform(rng, n) < outage)
    return np.where(trouble, trouble_calls, quiet_calls), hit


def _draw_poisson(rng: np.random.Generator, mean: float, n: int) -> np.ndarray:
    """Poisson counts by inverse CDF of stratified uniforms."""
    k = np.arange(60)
    log_pmf = k * math.log(mean) - mean - np.array([math.lgamma(i + 1) for i in k])
    cdf = np.cumsum(np.exp(log_pmf))
    return np.searchsorted(cdf, _stratified_uniform(rng, n) * cdf[-1], side="right").astype(
        np.int64
    )


def _draw_age(rng: np.random.Generator, n: int) -> np.ndarray:
    """Adult customers, centred on the mid-forties."""
    age = np.round(_AGE_CENTER + _AGE_SCALE * _normal_quantile(_stratified_uniform(rng, n)))
    return np.clip(age, 18, 90).astype(np.int64)


def _normal_quantile(u: np.ndarray) -> np.ndarray:
    """Standard normal quantiles of u."""
    from scipy.special import ndtri

    return ndtri(u)


def _churn_log_odds(
    drivers: _ChurnDrivers,
    tenure: np.ndarray,
    monthly: np.ndarray,
    support_calls: np.ndarray,
    age: np.ndarray,
    contract: np.ndarray,
    payment: np.ndarray,
    has_streaming: np.ndarray,
) -> np.ndarray:
    """Log-odds of churning under one regime's drivers."""
    return (
        drivers.intercept
        + drivers.support_calls * (support_calls - _CALLS_CENTER) / _CALLS_SCALE
        + drivers.tenure * (tenure - _TENURE_CENTER) / _TENURE_SCALE
        + drivers.monthly_charges * (monthly - _CHARGES_CENTER) / _CHARGES_SCALE
        + drivers.age * (age - _AGE_CENTER) / _AGE_SCALE
        + drivers.month_to_month * (contract == "month-to-month")
        + drivers.two_year * (contract == "two-year")
        + drivers.electronic_check * (payment == "electronic check")
        + drivers.streaming * has_streaming
    )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _customer_ids(month: int, n: int) -> np.ndarray:
    """Readable, unique-per-month ids such as ``C03-000042``."""
    return np.char.add(f"C{month:02d}-", np.char.zfill(np.arange(n).astype(str), 6)).astype(object)
