"""Names in any script: model names, aliases and pipeline names take Unicode letters, and
drift figures over CJK column names print no font warnings into the notebook."""

from __future__ import annotations

import base64
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlnb
from mlnb.errors import ValidationError
from mlnb.monitoring.drift.panel import panel_png
from mlnb.pipelines.config import validate_pipeline_name
from tests.conftest import run_cell


def test_register_model_takes_unicode_letters(ip, registry):
    run_cell(
        ip,
        "import numpy as np\nfrom sklearn.linear_model import LogisticRegression\n"
        "X = np.random.default_rng(0).normal(size=(60, 2))\n"
        "clf = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))",
    )
    result = run_cell(ip, "v = %register_model clf --name modèle-ü --alias célèbre")
    result.raise_error()
    assert ip.user_ns["v"].name == "modèle-ü"
    assert mlnb.get_model_version("modèle-ü@célèbre").version == 1
    run_cell(ip, "%register_model clf --name 客户流失").raise_error()
    assert mlnb.load_model("客户流失@latest").predict(ip.user_ns["X"]).shape == (60,)


@pytest.mark.parametrize("bad", ["a b", "_x", "x@y", "x/y", "-x", "é" * 101, ""])
def test_names_outside_the_grammar_are_still_refused(registry, bad):
    from mlnb.store.refs import check_model_name

    with pytest.raises(ValidationError, match="letters"):
        check_model_name(bad)


def test_pipeline_names_take_unicode_letters():
    assert validate_pipeline_name("entraînement-客户") == "entraînement-客户"
    with pytest.raises(ValidationError):
        validate_pipeline_name("two words")


def test_drift_figures_over_cjk_columns_leak_no_font_warnings(tmp_path):
    rng = np.random.default_rng(0)
    reference = pd.DataFrame(
        {
            "客户年龄": rng.normal(size=400),
            "月费": rng.normal(size=400),
            "城市": rng.choice(["北京", "上海"], 400),
        }
    )
    current = reference.copy()
    current["月费"] += 1.0
    report = mlnb.drift(reference, current)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a 'Glyph ... missing' warning would fail here
        # matplotlib at its floor calls pyparsing names that newer pyparsing deprecates
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="matplotlib")
        html = report._repr_html_()
        png = panel_png(report, tmp_path / "panel.png")  # the matplotlib export
    assert "月费" in html and "<img" in html
    charts = re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', html)
    assert any("月费" in base64.b64decode(c).decode() for c in charts)  # drawn by the browser
    assert Path(png).read_bytes().startswith(b"\x89PNG")


def test_an_installed_wide_font_is_used_for_the_glyphs(monkeypatch):
    from matplotlib import font_manager

    from mlnb.monitoring.drift import figures

    class Font:
        def __init__(self, name: str) -> None:
            self.name = name

    figures.font_families.cache_clear()
    monkeypatch.setattr(
        font_manager.fontManager, "ttflist", [Font("DejaVu Sans"), Font("Noto Sans CJK JP")]
    )
    try:
        assert figures.font_families() == ["DejaVu Sans", "Noto Sans CJK JP"]
    finally:
        figures.font_families.cache_clear()
