"""The grammar of model references: churn/3, churn@3, churn@production, churn@champion."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlnb.errors import ValidationError
from mlnb.store.refs import ModelRef, check_alias, parse_model_ref

names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,20}", fullmatch=True)
aliases = names.filter(
    lambda a: (
        not a.isdigit() and a.lower() not in {"none", "staging", "production", "archived", "latest"}
    )
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("churn/3", ModelRef("churn", version=3)),
        ("churn@3", ModelRef("churn", version=3)),
        ("churn@production", ModelRef("churn", alias="production")),
        ("churn@Staging", ModelRef("churn", alias="staging")),
        ("churn@champion", ModelRef("churn", alias="champion")),
        ("churn", ModelRef("churn")),
        ("models:/churn/2", ModelRef("churn", version=2)),
        (" churn-v2.x@latest ", ModelRef("churn-v2.x", alias="latest")),
    ],
)
def test_references_parse(text, expected):
    assert parse_model_ref(text) == expected


@pytest.mark.parametrize(
    "text", ["", "churn/0", "churn@", "/3", "churn/three", "a b@c", "churn@x@y"]
)
def test_bad_references_are_refused_with_the_grammar(text):
    with pytest.raises(ValidationError, match="churn/3|start at 1|not valid"):
        parse_model_ref(text)


@given(names, st.integers(min_value=1, max_value=10**6))
def test_version_refs_round_trip(name, version):
    ref = parse_model_ref(f"{name}/{version}")
    assert ref == ModelRef(name, version=version)
    assert parse_model_ref(str(ref)) == ref
    assert parse_model_ref(f"{name}@{version}") == ref


@given(names, aliases)
def test_alias_refs_round_trip(name, alias):
    ref = parse_model_ref(f"{name}@{alias}")
    assert ref == ModelRef(name, alias=alias)
    assert parse_model_ref(str(ref)) == ref


@pytest.mark.parametrize("alias", ["production", "staging", "latest", "42", "bad alias"])
def test_stage_names_and_numbers_are_not_free_aliases(alias):
    with pytest.raises(ValidationError):
        check_alias(alias)
