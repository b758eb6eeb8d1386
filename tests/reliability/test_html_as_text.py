"""HTML and script in run names, params, metric names, model descriptions and feature names
render as text: in the notebook's HTML outputs (escaped) and in the sidebar (which builds the
DOM through text nodes only; checked over its whole TypeScript source)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd

import mlnb
from mlnb.render.models import models_html, version_html
from mlnb.render.runs import compare_html, runs_html

PAYLOAD = '<script>alert("x")</script><img src=x onerror=alert(1)>'
SIDEBAR_SRC = Path(__file__).resolve().parents[2] / "labextension" / "src"


class _Elements(HTMLParser):
    """The elements, attributes and script bodies a browser would build from an HTML string."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        self.tags.append(tag)
        self.attrs += [name for name, _ in attrs]
        self._in_script = tag == "script"

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        self._in_script = False

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        if self._in_script:
            self.scripts.append(data)


def assert_injected_markup_is_text(html_text: str, shows_payload: bool = True) -> None:
    parsed = _Elements()
    parsed.feed(html_text)
    assert "img" not in parsed.tags, html_text[:300]
    assert "onerror" not in parsed.attrs
    assert not any('alert("x")' in body for body in parsed.scripts)
    if shows_payload:
        assert "&lt;script&gt;" in html_text  # the payload is there, as text


def _runs_with_html(registry) -> list[int]:
    ids = []
    for i in range(2):
        with mlnb.track(PAYLOAD, registry=registry, params={PAYLOAD: PAYLOAD}) as run:
            mlnb.log_metric(PAYLOAD, 0.5 + i)
            mlnb.set_tag("note", PAYLOAD)
        ids.append(run.id)
    return ids


def test_run_tables_and_comparisons_escape_html(registry):
    ids = _runs_with_html(registry)
    outputs = [
        runs_html(registry.runs.find(limit=None)),
        compare_html(registry.runs.compare(ids)),
    ]
    for html_text in outputs:
        assert_injected_markup_is_text(html_text)


def test_magic_outputs_escape_html(ip, registry):
    _runs_with_html(registry)
    shown = ip.run_line_magic("runs", "")
    assert_injected_markup_is_text(shown._repr_html_())


def test_model_widgets_escape_html_in_descriptions_and_features(registry):
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({PAYLOAD: [0.0, 1.0, 2.0, 3.0]})
    model = LogisticRegression().fit(X, [0, 0, 1, 1])
    version = mlnb.register_model(model, "churn", X=X, description=PAYLOAD, registry=registry)
    assert_injected_markup_is_text(version_html(version.to_dict()))
    assert_injected_markup_is_text(models_html(mlnb.models(registry=registry)), shows_payload=False)


def test_the_sidebar_never_writes_html_strings_into_the_page():
    sources = sorted(SIDEBAR_SRC.glob("*.ts"))
    assert len(sources) >= 5
    sinks = re.compile(
        r"\.innerHTML\s*=|\.outerHTML\s*=|insertAdjacentHTML|dangerouslySetInnerHTML|"
        r"document\.write|\beval\(|new Function\("
    )
    offenders = [
        f"{p.name}:{n}: {line.strip()}"
        for p in sources
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if sinks.search(line) and not line.strip().startswith(("*", "//"))
    ]
    assert offenders == []
