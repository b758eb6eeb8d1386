"""%register_model, %promote, %models, %rollback, %lineage and the mlnb CLI commands."""

from __future__ import annotations

import json

import pytest
from conftest import FEATURES

import mlnb
from mlnb.cli import main


def cell(ip, source):
    result = ip.run_cell(source, store_history=True)
    return result


def test_register_promote_and_rollback_from_magics(
    ip, train_frame, holdout_frame, good_model, weak_model, capsys
):
    ip.user_ns.update(
        weak=weak_model, good=good_model, X=train_frame[FEATURES], holdout=holdout_frame
    )
    cell(ip, "v1 = %register_model weak --name churn --X X").raise_error()
    cell(
        ip, "v2 = %register_model good --name churn --stage staging --alias challenger,next"
    ).raise_error()
    v2 = ip.user_ns["v2"]
    assert (v2.version, v2.stage, sorted(v2.aliases)) == (2, "staging", ["challenger", "next"])
    assert "registered <b>churn</b> version <b>2</b>" in v2._repr_html_()
    mlnb.Gate("churn_gate", [mlnb.checks.MinMetric("accuracy", 0.7)], target="churned")
    cell(ip, "r1 = %promote churn --version 1 --gate churn_gate --holdout holdout").raise_error()
    r1 = ip.user_ns["r1"]
    assert not r1.promoted and "FAIL" in r1._repr_html_()
    cell(
        ip, "r2 = %promote churn --gate churn_gate --holdout holdout --reason 'beats dummy'"
    ).raise_error()
    r2 = ip.user_ns["r2"]
    assert r2.promoted and r2.version == 2
    cell(ip, "r3 = %promote churn --version 1").raise_error()
    cell(ip, "back = %rollback churn --reason oops").raise_error()
    assert ip.user_ns["back"].restored == 2
    cell(ip, "listing = %models").raise_error()
    assert "churn" in repr(ip.user_ns["listing"])
    cell(ip, "detail = %models churn").raise_error()
    assert "rollback: oops" in repr(ip.user_ns["detail"])
    cell(ip, "lin = %lineage churn@production").raise_error()
    assert ip.user_ns["lin"]["version"] == 2


@pytest.mark.parametrize(
    "line, message",
    [
        ("%register_model nothing --name churn", "no variable named 'nothing'"),
        ("%register_model weak", "the following arguments are required: --name"),
        ("%register_model weak --name churn --stage production", "invalid choice: 'production'"),
        ("%promote churn --to prod", "invalid choice: 'prod'"),
        ("%promote churn --holdout missing.csv --gate g", "neither a notebook variable"),
        ("%promote nope", "no registered model named 'nope'"),
        ("%rollback", "required: name"),
    ],
)
def test_bad_magic_options_are_usage_errors(ip, weak_model, line, message, capsys):
    ip.user_ns["weak"] = weak_model
    result = cell(ip, line)
    assert result.error_in_exec is not None
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert message in str(result.error_in_exec)


def test_cli_models_promote_rollback_lineage_alias(
    registry, train_frame, holdout_frame, good_model, weak_model, tmp_path, capsys, monkeypatch
):
    X = train_frame[FEATURES]
    mlnb.register_model(weak_model, "churn", X=X)
    with mlnb.track("fit", registry=registry) as run:
        mlnb.log_model(good_model, name="model", X=X)
    registry_arg = ["--registry", str(registry.home)]
    assert main([*registry_arg, "register", f"runs:/{run.id}/model", "--name", "churn"]) == 0
    holdout_frame.to_csv(tmp_path / "holdout.csv", index=False)
    (tmp_path / "gates.yaml").write_text(
        "gates:\n  churn_gate:\n    target: churned\n    checks:\n"
        "      - min_metric: {metric: accuracy, threshold: 0.7}\n"
        "      - no_regression: {metric: accuracy, tolerance: 0.0}\n"
    )
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    rc = main(
        [
            *registry_arg,
            "promote",
            "churn",
            "1",
            "--gate",
            "gates.yaml:churn_gate",
            "--holdout",
            "holdout.csv",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 1 and "NOT PROMOTED" in out and "FAIL" in out and "min accuracy" in out
    rc = main(
        [
            *registry_arg,
            "--json",
            "promote",
            "churn",
            "2",
            "--gate",
            "churn_gate",
            "--holdout",
            "holdout.csv",
            "--reason",
            "ship it",
        ]
    )
    payload = json.loads(capsys.readouterr().out)
    assert rc == 0 and payload["promoted"] and payload["gate"]["passed"]
    assert {c["name"] for c in payload["gate"]["checks"]} == {
        "min accuracy",
        "no regression in accuracy",
    }
    assert main([*registry_arg, "alias", "churn", "champion", "2"]) == 0
    assert main([*registry_arg, "gate", "churn_gate", "churn/1", "--holdout", "holdout.csv"]) == 1
    capsys.readouterr()
    assert main([*registry_arg, "models"]) == 0
    out = capsys.readouterr().out
    assert "churn" in out and "champion=v2" in out
    assert main([*registry_arg, "lineage", "churn@2"]) == 0
    out = capsys.readouterr().out
    assert f"run #{run.id} fit" in out and "sha256" in out
    assert main([*registry_arg, "model", "churn"]) == 0
    out = capsys.readouterr().out
    assert (
        "stage history" in out
        and "ship it; gate churn_gate passed" in out
        and "lineage of v2" in out
    )
    assert main([*registry_arg, "rollback", "churn"]) == 1  # v2 is the first production version
    assert "no earlier production version" in capsys.readouterr().err
    assert main([*registry_arg, "promote", "churn", "9"]) == 1
    assert "churn has no version 9" in capsys.readouterr().err
