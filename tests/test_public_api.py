"""``import mlnb`` offers one way to do each thing; names that moved still answer, with a
warning that says where they went."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

import mlnb


def test_every_public_name_resolves_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in mlnb.__all__:
            assert getattr(mlnb, name) is not None, name


def test_public_api_has_no_duplicate_objects() -> None:
    seen: dict[int, str] = {}
    for name in mlnb.__all__:
        value = getattr(mlnb, name)
        if isinstance(value, str):  # __version__
            continue
        assert id(value) not in seen, f"mlnb.{name} is mlnb.{seen.get(id(value))} again"
        seen[id(value)] = name


@pytest.mark.parametrize("name", ["start_run", "gates", "alerts", "PromotionResult", "GateResult"])
def test_moved_names_warn_and_still_work(name: str) -> None:
    with pytest.warns(DeprecationWarning, match=f"mlnb.{name} is deprecated"):
        assert getattr(mlnb, name) is not None


def test_drift_is_a_plain_function() -> None:
    assert callable(mlnb.drift) and type(mlnb.drift).__name__ == "function"


@pytest.mark.parametrize(
    ("imports", "heavy"),
    [
        ("mlnb, mlnb.cli", ("pandas", "sklearn", "matplotlib", "IPython", "skops")),
        ("mlnb.magics.core", ("pandas", "sklearn", "matplotlib", "skops")),
    ],
)
def test_surfaces_start_without_heavy_imports(imports: str, heavy: tuple[str, ...]) -> None:
    """`mlnb --help` and `%load_ext mlnb` stay fast: the data stack loads when a command runs."""
    code = f"import sys, {imports}; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
