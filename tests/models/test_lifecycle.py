"""Registering versions, stages, aliases, references, rollback and lineage on a real registry."""

from __future__ import annotations

import pytest
from conftest import FEATURES

import mlnb
from mlnb.errors import NotFoundError, ValidationError
from mlnb.lifecycle.versions import load_model


def stages(registry, name="churn"):
    return {v["version"]: v["stage"] for v in registry.models.get(name)["versions"]}


@pytest.fixture
def three_versions(registry, train_frame, good_model, forest_model, weak_model):
    X = train_frame[FEATURES]
    return [mlnb.register_model(m, "churn", X=X) for m in (good_model, forest_model, weak_model)]


def test_versions_are_numbered_and_point_at_their_artifact_and_run(registry, three_versions):
    assert [v.version for v in three_versions] == [1, 2, 3]
    v2 = three_versions[1]
    assert v2.stage == "none" and v2.ref == "churn/2"
    assert v2.class_name.endswith("RandomForestClassifier")
    assert v2.inputs == FEATURES
    artifact = registry.models.artifact(v2.artifact_id)
    assert artifact["object_hash"] == v2.object_hash and artifact["run_id"] == v2.run_id
    assert registry.runs.get(v2.run_id)["status"] == "finished"


def test_register_from_a_run_reference_and_an_artifact_id(registry, forest_model):
    with mlnb.track("fit", registry=registry) as run:
        mlnb.log_model(forest_model, name="forest")
    v1 = mlnb.register_model(f"runs:/{run.id}/forest", "churn")
    v2 = mlnb.register_model(f"artifact:{v1.artifact_id}", "churn-copy")
    assert v1.run_id == run.id and v2.artifact_id == v1.artifact_id
    with pytest.raises(ValidationError, match="saved no model named 'nope'"):
        mlnb.register_model(f"runs:/{run.id}/nope", "churn")


def test_register_inside_an_active_run_saves_into_that_run(registry, good_model):
    with mlnb.track("train", registry=registry) as run:
        v = mlnb.register_model(good_model, "churn")
    assert v.run_id == run.id


def test_registering_an_unfitted_model_is_refused(registry):
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(ValidationError, match="not fitted"):
        mlnb.register_model(LogisticRegression(), "churn")


def test_promotion_archives_the_previous_production_version(registry, three_versions):
    first = mlnb.promote("churn", 1)
    assert first.promoted and first.previous_production is None
    second = mlnb.promote("churn", 2, reason="better recall")
    assert second.promoted and second.previous_production == 1
    assert stages(registry) == {1: "archived", 2: "production", 3: "none"}
    history = registry.models.get("churn")["transitions"]
    assert [(t["version"], t["from_stage"], t["to_stage"]) for t in history] == [
        (1, "none", "production"),
        (1, "production", "archived"),
        (2, "none", "production"),
    ]
    assert history[-1]["reason"] == "better recall; no gate"
    assert history[-1]["user"]


def test_staging_and_archiving(registry, three_versions):
    mlnb.promote("churn", 3, to="staging")
    mlnb.promote("churn", 2, to="staging")
    assert stages(registry) == {1: "none", 2: "staging", 3: "staging"}
    assert mlnb.get_model_version("churn@staging").version == 3  # highest number in the stage
    mlnb.promote("churn", 3, to="archived")
    assert stages(registry)[3] == "archived"
    v = mlnb.register_model(good_model_of(registry, 1), "churn", stage="staging")
    assert v.stage == "staging"


def good_model_of(registry, version):
    return load_model(f"churn/{version}", registry=registry)


def test_references_resolve_and_load(registry, three_versions, holdout_frame):
    mlnb.promote("churn", 2)
    mlnb.set_alias("churn", "champion", 2)
    mlnb.set_alias("churn", "challenger", 1)
    X = holdout_frame[FEATURES]
    forest = mlnb.load_model("churn@production")
    assert type(forest).__name__ == "RandomForestClassifier"
    assert (mlnb.load_model("churn@champion").predict(X) == forest.predict(X)).all()
    assert type(mlnb.load_model("churn/1")).__name__ == "LogisticRegression"
    assert type(mlnb.load_model("churn@1")).__name__ == "LogisticRegression"
    assert type(mlnb.load_model("churn@challenger")).__name__ == "LogisticRegression"
    assert type(mlnb.load_model("churn")).__name__ == "DummyClassifier"  # latest
    with pytest.raises(NotFoundError, match="no alias 'gold'.*champion"):
        mlnb.load_model("churn@gold")
    with pytest.raises(NotFoundError, match="no version in staging"):
        mlnb.load_model("churn@staging")


def test_aliases_move_and_are_deleted(registry, three_versions):
    mlnb.set_alias("churn", "champion", 1)
    moved = mlnb.set_alias("churn", "champion", 3)
    assert moved.aliases == ["champion"]
    assert registry.models.get("churn")["aliases"] == {"champion": 3}
    mlnb.delete_alias("churn", "champion")
    assert registry.models.get("churn")["aliases"] == {}
    with pytest.raises(ValidationError, match="stage name"):
        mlnb.set_alias("churn", "production", 1)
    with pytest.raises(NotFoundError, match="no version 9"):
        mlnb.set_alias("churn", "champion", 9)


def test_rollback_walks_back_through_production_history(registry, three_versions):
    for v in (1, 2, 3):
        mlnb.promote("churn", v)
    back = mlnb.rollback("churn", reason="v3 misbehaves")
    assert (back.restored, back.replaced) == (2, 3)
    assert stages(registry) == {1: "archived", 2: "production", 3: "archived"}
    assert mlnb.rollback("churn").restored == 1
    assert stages(registry) == {1: "production", 2: "archived", 3: "archived"}
    with pytest.raises(ValidationError, match="no earlier production version"):
        mlnb.rollback("churn")
    last = registry.models.get("churn")["transitions"][-2:]
    assert all(t["reason"] == "rollback" for t in last)
    reasons = [t["reason"] for t in registry.models.get("churn")["transitions"]]
    assert "rollback: v3 misbehaves" in reasons


def test_rollback_after_archiving_production_restores_it(registry, three_versions):
    mlnb.promote("churn", 1)
    mlnb.promote("churn", 1, to="archived")
    assert registry.models.production_version("churn") is None
    assert mlnb.rollback("churn").restored == 1
    assert stages(registry)[1] == "production"


def test_models_listing_and_detail(registry, three_versions):
    mlnb.promote("churn", 2)
    mlnb.set_alias("churn", "champion", 2)
    listing = mlnb.models()
    assert len(listing) == 1
    row = listing.data[0]
    assert (row["name"], row["n_versions"], row["production_version"]) == ("churn", 3, 2)
    assert row["aliases"] == {"champion": 2}
    text = repr(listing)
    assert "churn" in text and "v2" in text and "champion=v2" in text
    detail = mlnb.models("churn")
    assert [v["version"] for v in detail] == [1, 2, 3]
    html = detail._repr_html_()
    assert "production v2" in html and "stage history" in html


def test_lineage_reaches_run_data_and_source(registry, train_frame, forest_model):
    X = train_frame[FEATURES]
    v = mlnb.register_model(forest_model, "churn", X=X, description="first forest")
    lin = mlnb.lineage("churn@1")
    assert lin["artifact"]["object_hash"] == v.object_hash
    assert lin["run"]["id"] == v.run_id
    assert [d["name"] for d in lin["data"]] == ["X"]
    assert lin["data"][0]["id"] == mlnb.fingerprint(X)
    text = repr(lin)
    assert "sha256 " + v.object_hash in text and f"run #{v.run_id}" in text


def test_tracked_cell_model_registers_with_the_training_run(ip, train_frame):
    from conftest import FEATURES as F

    ip.user_ns["train"] = train_frame
    ip.user_ns["F"] = F
    ip.run_cell("from sklearn.tree import DecisionTreeClassifier", store_history=True)
    ip.run_cell(
        "%%track --name tree\nX = train[F]\nclf = DecisionTreeClassifier(max_depth=3).fit(X, train['churned'])",
        store_history=True,
    )
    result = ip.run_cell(
        "v = %register_model clf --name churn --alias champion", store_history=True
    )
    result.raise_error()
    v = ip.user_ns["v"]
    lin = mlnb.lineage("churn@champion")
    assert lin["run"]["id"] == v.run_id
    assert lin["run"]["name"] == "tree"
    assert "DecisionTreeClassifier(max_depth=3)" in lin["run"]["cell_source"]
    assert "train" in {d["name"] for d in lin["data"]}
    # refitting makes it a different model: a new artifact, not the tracked one
    ip.run_cell("clf.fit(X.iloc[:200], train['churned'].iloc[:200])", store_history=True)
    ip.run_cell("v2 = %register_model clf --name churn", store_history=True).raise_error()
    assert ip.user_ns["v2"].artifact_id != v.artifact_id


def test_lineage_names_the_pipeline_run_that_trained_the_model(registry, monkeypatch, good_model):
    pipeline_id = registry.db.write(
        "INSERT INTO pipelines(name, notebook_path, created_at, updated_at) "
        "VALUES ('churn-retrain', 'train.ipynb', 0, 0)"
    )
    pipeline_run = registry.db.write(
        "INSERT INTO pipeline_runs(pipeline_id, trigger, reason, status, created_at) "
        "VALUES (?, 'alert', 'accuracy below 0.82', 'finished', 0)",
        (pipeline_id,),
    )
    monkeypatch.setenv("MLNB_PIPELINE_RUN_ID", str(pipeline_run))
    mlnb.register_model(good_model, "churn")
    lin = mlnb.lineage("churn/1")
    assert lin["pipeline_run"]["pipeline"] == "churn-retrain"
    assert lin["pipeline_run"]["trigger"] == "alert"
    assert "pipeline churn-retrain run" in repr(lin) and "accuracy below 0.82" in repr(lin)


def test_user_text_is_escaped_in_html(registry, good_model):
    mlnb.register_model(good_model, "churn", description="<b>bold</b>")
    mlnb.promote("churn", 1, reason="<script>alert(1)</script>")
    html = mlnb.models("churn")._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<script>" not in mlnb.lineage("churn/1")._repr_html_()


def test_a_version_loads_from_its_own_registry_without_switching(tmp_path, registry, good_model):
    v = mlnb.register_model(good_model, "churn")
    other = mlnb.Registry(tmp_path / "other")
    mlnb.set_registry(other)
    try:
        assert type(v.load()).__name__ == "LogisticRegression"
        assert mlnb.store.registry.current_registry() is other
    finally:
        mlnb.set_registry(registry)
        other.close()
