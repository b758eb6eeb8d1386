"""Recognising fitted scikit-learn models and describing their input signature."""

from __future__ import annotations

import sys
from typing import Any


def is_estimator(obj: Any) -> bool:
    """A scikit-learn style estimator (has fit and get_params); cheap, imports nothing."""
    if isinstance(obj, type) or "sklearn" not in sys.modules:
        return False
    from sklearn.base import BaseEstimator

    return isinstance(obj, BaseEstimator)


def is_fitted(obj: Any) -> bool:
    if not is_estimator(obj):
        return False
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    try:
        check_is_fitted(obj)
        return True
    except NotFittedError:
        return False
    except Exception:
        return False


def flat_params(estimator: Any, prefix: str = "") -> dict[str, Any]:
    """Scalar hyper-parameters of an estimator (nested ones with sklearn's ``a__b`` names)."""
    try:
        params = estimator.get_params(deep=True)
    except Exception:
        return {}
    out: dict[str, Any] = {}
    for key, value in params.items():
        if value is None or isinstance(value, (bool, int, float, str)):
            out[f"{prefix}{key}"] = value
    return out


def signature(estimator: Any, X: Any = None) -> dict[str, Any]:
    """Input column names and dtypes the model was fitted on (from X, else the estimator)."""
    sig: dict[str, Any] = {}
    n = getattr(estimator, "n_features_in_", None)
    if n is not None:
        sig["n_features"] = int(n)
    names = getattr(estimator, "feature_names_in_", None)
    if X is not None and hasattr(X, "dtypes") and hasattr(X, "columns"):
        sig["inputs"] = [
            {"name": str(c), "dtype": str(t)} for c, t in zip(X.columns, X.dtypes, strict=True)
        ]
    elif names is not None:
        sig["inputs"] = [{"name": str(c), "dtype": None} for c in names]
    classes = getattr(estimator, "classes_", None)
    if classes is not None:
        try:
            sig["classes"] = [c.item() if hasattr(c, "item") else c for c in classes]
        except Exception:
            pass
    return sig


def class_name(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def fit_token(obj: Any) -> int:
    """Changes when an estimator is refitted (its fitted attributes are new objects)."""
    try:
        attrs = [v for k, v in vars(obj).items() if k.endswith("_") and not k.startswith("_")]
    except TypeError:  # no __dict__ (slots, builtins): never looks refitted
        return 0
    return hash(tuple(id(v) for v in attrs))
