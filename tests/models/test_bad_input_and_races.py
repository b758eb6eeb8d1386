"""Bad promotions are refused clearly; concurrent promotions (real processes, one registry
file) always leave exactly one production version and a consistent history."""

from __future__ import annotations

import multiprocessing as mp

import pytest
from conftest import FEATURES

import mlnb
from mlnb.errors import NotFoundError, RegistryError, ValidationError


@pytest.fixture
def two_models(registry, train_frame, good_model, weak_model):
    X = train_frame[FEATURES]
    mlnb.register_model(good_model, "churn", X=X)
    mlnb.register_model(weak_model, "churn", X=X)
    mlnb.register_model(weak_model, "fraud", X=X)


def production_versions(registry, name="churn"):
    return [
        v["version"] for v in registry.models.get(name)["versions"] if v["stage"] == "production"
    ]


def test_promoting_a_missing_version_or_model(registry, two_models):
    with pytest.raises(NotFoundError, match="churn has no version 7; its versions are 1, 2"):
        mlnb.promote("churn", 7)
    with pytest.raises(NotFoundError, match="no registered model named 'churm'.*churn"):
        mlnb.promote("churm", 1)
    with pytest.raises(ValidationError, match="start at 1"):
        mlnb.promote("churn", 0)


def test_promoting_a_version_of_another_model(registry, two_models):
    fraud = mlnb.get_model_version("fraud/1")
    with pytest.raises(ValidationError, match="belongs to model 'fraud', not 'churn'"):
        mlnb.promote("churn", fraud)
    with pytest.raises(ValidationError, match="version of model 'fraud', not 'churn'"):
        mlnb.promote("churn", "fraud/1")
    assert production_versions(registry) == [] and production_versions(registry, "fraud") == []


def test_promoting_an_archived_version_or_to_the_same_stage(registry, two_models):
    mlnb.promote("churn", 1)
    mlnb.promote("churn", 2)
    with pytest.raises(ValidationError, match="version 1 is archived.*mlnb rollback churn"):
        mlnb.promote("churn", 1)
    with pytest.raises(ValidationError, match="already in production"):
        mlnb.promote("churn", 2)
    with pytest.raises(ValidationError, match="choose one of staging, production, archived"):
        mlnb.promote("churn", 2, to="prod")
    with pytest.raises(ValidationError, match="without a gate"):
        mlnb.promote("churn", 1, to="staging", holdout="x.csv")
    assert production_versions(registry) == [2]
    assert len(registry.models.get("churn")["transitions"]) == 3


def test_a_stale_view_of_production_changes_nothing(registry, two_models):
    """What a promotion that lost a race sees: production moved since its gate started."""
    mlnb.promote("churn", 1)
    with pytest.raises(
        RegistryError, match="changed while this promotion ran.*Nothing was changed"
    ):
        registry.models.transition("churn", 2, "production", expected_production_id=None)
    assert production_versions(registry) == [1]
    assert len(registry.models.get("churn")["transitions"]) == 1


def test_the_unique_index_backs_up_the_one_production_rule(registry, two_models):
    mlnb.promote("churn", 1)
    with pytest.raises(Exception, match="UNIQUE|unique"):
        registry.db.write("UPDATE model_versions SET stage = 'production' WHERE version = 2")
    assert production_versions(registry) == [1]


def replay(transitions):
    """Final stages implied by the recorded history alone."""
    stage = {}
    for t in transitions:
        assert stage.get(t["version"], "none") == t["from_stage"], t
        stage[t["version"]] = t["to_stage"]
    return stage


def run_race(home, versions, gate):
    from race_worker import race_promote

    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(versions))
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=race_promote, args=(home, v, gate, barrier, queue)) for v in versions
    ]
    for p in procs:
        p.start()
    outcomes = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return outcomes


def assert_consistent(registry, outcomes):
    model = registry.models.get("churn")
    assert len(production_versions(registry)) == 1
    final = {v["version"]: v["stage"] for v in model["versions"]}
    assert {v: s for v, s in final.items() if s != "none"} == replay(model["transitions"])
    promoted = [o for o in outcomes if o[1] == "promoted"]
    assert promoted, outcomes
    for _version, kind, message in outcomes:
        if kind != "promoted":
            assert kind == "RegistryError", message
            assert (
                "changed while this promotion ran" in message and "Nothing was changed" in message
            )
    # every winner replaced exactly the version that was in production when it committed
    to_production = [t for t in model["transitions"] if t["to_stage"] == "production"]
    for version, _kind, previous in promoted:
        mine = next(i for i, t in enumerate(to_production) if t["version"] == version)
        before = to_production[mine - 1]["version"] if mine else None
        assert previous == before


def test_concurrent_promotions_end_with_exactly_one_production_version(
    registry, train_frame, holdout_frame, weak_model, tmp_path
):
    X = train_frame[FEATURES]
    for _ in range(7):
        mlnb.register_model(weak_model, "churn", X=X)
    home = str(registry.home)
    # four quick promotions released at the same instant
    outcomes = run_race(home, [1, 2, 3, 4], None)
    assert_consistent(registry, outcomes)
    # three gated promotions: each reads production, spends time in its gate, then commits;
    # the first commit wins and the others must notice that production moved under them
    holdout_frame.to_csv(tmp_path / "holdout.csv", index=False)
    (tmp_path / "gates.yaml").write_text(
        "gates:\n  g:\n    holdout: holdout.csv\n    target: churned\n    checks:\n"
        "      - min_metric: {metric: accuracy, threshold: 0.0}\n"
    )
    before = len(registry.models.get("churn")["transitions"])
    outcomes = run_race(home, [5, 6, 7], f"{tmp_path}/gates.yaml:g")
    assert_consistent(registry, outcomes)
    winners = [o[0] for o in outcomes if o[1] == "promoted"]
    added = registry.models.get("churn")["transitions"][before:]
    assert len(added) == 2 * len(winners)  # each win: one archive + one promotion
    assert len(registry.models.get("churn")["gate_results"]) == 3  # every attempt is on record
