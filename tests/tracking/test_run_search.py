"""Run search expressions (mlnb/store/query.py): parsing, matching, paging over a real registry."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlnb.errors import ValidationError
from mlnb.store.query import (
    Both,
    Comparison,
    Either,
    matches,
    parse,
    render,
    search,
)
from mlnb.store.registry import Registry

KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_\-]{0,8}", fullmatch=True).filter(
    lambda k: k.lower() not in ("and", "or")
)
NUMBERS = st.floats(allow_nan=False, allow_infinity=False, width=32).map(float)
TEXTS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
OPS = st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "~"])


def comparisons() -> st.SearchStrategy[Comparison]:
    scoped = st.builds(
        Comparison, st.sampled_from(["metrics", "params", "tags"]), KEYS, OPS, NUMBERS | TEXTS
    )
    field = st.builds(
        Comparison,
        st.just(""),
        st.sampled_from(["name", "experiment", "status", "source", "user"]),
        OPS,
        TEXTS,
    )
    return scoped | field


QUERIES = st.recursive(
    comparisons(),
    lambda inner: st.builds(Both, inner, inner) | st.builds(Either, inner, inner),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(QUERIES)
def test_a_rendered_query_parses_back_to_itself(query) -> None:
    assert parse(render(query)) == query


RUNS = st.fixed_dictionaries(
    {
        "name": TEXTS,
        "status": st.sampled_from(["finished", "failed"]),
        "metrics": st.dictionaries(KEYS, NUMBERS, max_size=3),
        "params": st.dictionaries(KEYS, NUMBERS | TEXTS, max_size=3),
        "tags": st.dictionaries(KEYS, TEXTS, max_size=2),
    }
)


@settings(max_examples=300, deadline=None)
@given(QUERIES, RUNS)
def test_and_or_mean_what_they_say(query, run) -> None:
    if isinstance(query, Both):
        assert matches(query, run) == (matches(query.left, run) and matches(query.right, run))
    elif isinstance(query, Either):
        assert matches(query, run) == (matches(query.left, run) or matches(query.right, run))


@settings(max_examples=300, deadline=None)
@given(KEYS, NUMBERS, NUMBERS)
def test_numeric_comparisons_agree_with_python(key, actual, wanted) -> None:
    run = {"metrics": {key: actual}}
    for op, expected in [
        (">", actual > wanted),
        (">=", actual >= wanted),
        ("<", actual < wanted),
        ("<=", actual <= wanted),
        ("=", actual == wanted),
        ("!=", actual != wanted),
    ]:
        assert matches(parse(f"metrics.{key} {op} {wanted!r}"), run) is expected


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_text_parses_or_says_what_is_wrong(text) -> None:
    try:
        parse(text)
    except ValidationError as exc:
        assert "Example: metrics.accuracy > 0.9" in str(exc)


def test_the_documented_example() -> None:
    query = parse("metrics.accuracy > 0.9 and params.C < 1")
    good = {"metrics": {"accuracy": 0.93}, "params": {"C": 0.5}}
    assert matches(query, good)
    assert not matches(query, {"metrics": {"accuracy": 0.93}, "params": {"C": 2}})
    assert not matches(query, {"metrics": {}, "params": {"C": 0.5}})  # no metric, no match
    assert matches(parse("name ~ LOGREG or status = failed"), {"name": "notebook-logreg"})
    assert matches(parse("params.solver = 'lbfgs'"), {"params": {"solver": "lbfgs"}})
    assert matches(
        parse("(metrics.a > 1 or metrics.b > 1) and tags.team = ml"),
        {"metrics": {"b": 2}, "tags": {"team": "ml"}},
    )
    assert not matches(parse("metrics.loss < 1"), {"metrics": {"loss": math.nan}})


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("metrics.accuracy >", "ends too early"),
        ("metrics.accuracy 0.9", "expected an operator"),
        ("accuracy > 0.9", "unknown field 'accuracy'"),
        ("metrics.accuracy > 0.9 and", "ends too early"),
        ("metrics.accuracy > 0.9 params.C < 1", "expected 'and', 'or' or the end"),
        ("(metrics.a > 1", "expected ')'"),
        ("name = 'open", "unclosed quote"),
    ],
)
def test_bad_searches_say_what_is_wrong_and_where(text, fragment) -> None:
    with pytest.raises(ValidationError, match="Example: metrics.accuracy") as info:
        parse(text)
    assert fragment in str(info.value)


def test_search_pages_through_a_real_registry(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "reg")
    try:
        for i in range(120):
            run = reg.runs.start("sweep" if i % 2 else "other", name=f"run-{i}", environment={})
            reg.runs.log_params(run, {"C": i / 100})
            reg.runs.log_metrics(run, {"accuracy": 0.5 + i / 240})
            if i % 10 == 0:
                reg.runs.set_tags(run, {"keep": "yes"})
            reg.runs.end(run)
        page, total = search(reg.runs, "", limit=50, offset=50)
        assert total == 120 and len(page) == 50 and page[0]["name"] == "run-69"
        page, total = search(reg.runs, "metrics.accuracy > 0.9 and params.C < 1.1", limit=10)
        assert total == 13 and all(r["metrics"]["accuracy"] > 0.9 for r in page)
        page, total = search(reg.runs, "tags.keep = yes", experiment="other", limit=50)
        assert total == 12 and {r["experiment"] for r in page} == {"other"}
        page, total = search(reg.runs, "metrics.accuracy > 0", limit=50, offset=100)
        assert total == 120 and len(page) == 20
    finally:
        reg.close()
