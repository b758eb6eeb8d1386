"""``mlnb import --from-mlflow URI``: bring an MLflow tracking server's experiments, runs
(params, metric history, tags, times, status) and registered model versions (with their
stages and aliases) into an mlnb registry, so an MLflow user switches in one command.

Idempotent: every imported run carries the tag ``mlflow.run_id`` and every imported model
version's run the tag ``mlflow.model_version.<name>``, so a second import brings only what
is new. Runs and versions that a sync from mlnb put there (``mlnb.run_uuid`` /
``mlnb.version_key`` tags) are not brought back into the registry they came from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mlnb.errors import NotFoundError, ValidationError
from mlnb.lifecycle.versions import register_model, set_alias
from mlnb.store.registry import Registry, get_registry
from mlnb.sync.mlflow import MlflowClient, Tally
from mlnb.sync.mlflow_models import download_model, require_mlflow

RUN_STATUS = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "failed"}
STAGE = {"Staging": "staging", "Production": "production", "Archived": "archived"}
RUN_TAG = "mlflow.run_id"
VERSION_TAG = "mlflow.model_version."
# MLflow's own bookkeeping tags that say nothing to an mlnb user.
SYSTEM_TAGS = ("mlflow.log-model.history", "mlflow.runName", "mlflow.source.type")


@dataclass
class ImportReport(Tally):
    """What one import brought, found already there, or left out (with the reason)."""

    uri: str
    imported: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)  # "name/mlflow version" -> mlnb version

    def text(self) -> str:
        lines = [f"imported from MLflow at {self.uri}"]
        for kind in ("experiments", "runs", "model_versions"):
            new, same = self.imported.get(kind, 0), self.unchanged.get(kind, 0)
            lines.append(f"  {kind.replace('_', ' '):<15} {new} new, {same} already here")
        for ref, number in self.versions.items():
            lines.append(f"  MLflow {ref} -> mlnb {ref.split('/')[0]}/{number}")
        lines += [f"  skipped: {why}" for why in self.skipped]
        return "\n".join(lines)


def import_from_mlflow(
    uri: str, registry: Any = None, experiments: list[str] | None = None
) -> ImportReport:
    """Bring the MLflow server's runs and registered model versions into the registry."""
    client = MlflowClient(uri, option="--from-mlflow")
    reg = get_registry(registry)
    found = _experiments(client, experiments)
    require_mlflow()  # model files come through the MLflow client
    report = ImportReport(uri=client.uri)
    mlnb_runs = reg.runs.uuids()
    imported = reg.runs.ids_by_tag(RUN_TAG)
    known = {e["name"] for e in reg.runs.experiments()}
    for exp in found:
        new_runs = 0
        for run in _runs(client, exp["experiment_id"]):
            run_id = run["info"]["run_id"]
            tags = _tags(run.get("data", {}))
            if tags.get("mlnb.run_uuid") in mlnb_runs or run_id in imported:
                report.count("unchanged", "runs")
                continue
            imported[run_id] = _import_run(client, reg, exp["name"], run, tags)
            report.count("imported", "runs")
            new_runs += 1
        if exp["name"] in known:
            report.count("unchanged", "experiments")
        elif new_runs:
            report.count("imported", "experiments")
    for model in client.search_all("registered-models/search", {}, "registered_models"):
        _import_model(client, reg, model, imported, report)
    return report


def _experiments(client: MlflowClient, names: list[str] | None) -> list[dict[str, Any]]:
    every = client.search_all(
        "experiments/search", {"max_results": 1000, "view_type": "ACTIVE_ONLY"}, "experiments"
    )
    if not names:
        return every
    by_name = {e["name"]: e for e in every}
    missing = sorted(set(names) - set(by_name))
    if missing:
        raise ValidationError(
            f"no MLflow experiment named {', '.join(missing)} at {client.uri}; experiments: "
            f"{', '.join(sorted(by_name)) or 'none'}."
        )
    return [by_name[n] for n in names]


def _runs(client: MlflowClient, exp_id: str) -> list[dict[str, Any]]:
    runs = client.search_all(
        "runs/search",
        {"experiment_ids": [exp_id], "max_results": 1000, "run_view_type": "ACTIVE_ONLY"},
        "runs",
    )
    return sorted(runs, key=lambda r: int(r["info"].get("start_time") or 0))


def _tags(data: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in data.get("tags", [])}


def _param(text: str) -> Any:
    """MLflow keeps params as strings; numbers and literals come back as values."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, (int, float, bool)) or value is None else text


def _import_run(
    client: MlflowClient, reg: Registry, experiment: str, run: dict[str, Any], tags: dict[str, str]
) -> int:
    info, data = run["info"], run.get("data", {})
    run_id = reg.runs.start(
        experiment=experiment,
        name=info.get("run_name") or tags.get("mlflow.runName", ""),
        source="mlflow",
        notebook_path=tags.get("mlflow.source.name") or None,
        environment={
            "user": tags.get("mlflow.user") or info.get("user_id") or None,
            "git_commit": tags.get("mlflow.source.git.commit") or None,
        },
    )
    reg.runs.log_params(run_id, {p["key"]: _param(p["value"]) for p in data.get("params", [])})
    points = []
    for key in sorted({m["key"] for m in data.get("metrics", [])}):
        history = client.search_all(
            "metrics/get-history", {"run_id": info["run_id"], "metric_key": key}, "metrics"
        )
        points += [
            (key, float(m["value"]), int(m.get("step") or 0), int(m["timestamp"]) / 1000.0)
            for m in history
        ]
    reg.runs.log_metric_points(run_id, points)
    kept = {k: v for k, v in tags.items() if k not in SYSTEM_TAGS and not k.startswith("mlnb.")}
    reg.runs.set_tags(run_id, {**kept, RUN_TAG: info["run_id"]})
    status = RUN_STATUS.get(info.get("status", ""), "finished")
    reg.runs.end(run_id, status)
    times: dict[str, Any] = {"started_at": int(info.get("start_time") or 0) / 1000.0 or None}
    if info.get("end_time"):
        times["ended_at"] = int(info["end_time"]) / 1000.0
    reg.runs.update(run_id, {k: v for k, v in times.items() if v})
    return run_id


def _import_model(
    client: MlflowClient,
    reg: Registry,
    model: dict[str, Any],
    runs: dict[str, int],
    report: ImportReport,
) -> None:
    name = model["name"]
    versions = client.search_all(
        "model-versions/search", {"filter": f"name='{name}'"}, "model_versions"
    )
    done = reg.runs.ids_by_tag(VERSION_TAG + name)
    numbers: dict[str, int] = {}
    for mv in sorted(versions, key=lambda v: int(v["version"])):
        ref = f"{name}/{mv['version']}"
        if _from_this_registry(reg, name, _tags(mv).get("mlnb.version_key")):
            report.count("unchanged", "model_versions")  # a sync from here put it there
            continue
        if mv["version"] in done:
            numbers[mv["version"]] = _mlnb_version_of(reg, name, done[mv["version"]])
            report.count("unchanged", "model_versions")
            continue
        try:
            estimator = download_model(client.uri, name, mv["version"])
        except ValidationError as exc:
            report.skipped.append(f"{ref}: {exc}")
            continue
        run_id = runs.get(mv.get("run_id") or "")
        if run_id is None:
            run_id = reg.runs.start(
                experiment="mlflow-models", name=f"import {ref}", source="mlflow", environment={}
            )
            reg.runs.end(run_id)
        version = register_model(
            estimator, name, description=mv.get("description") or "", run=run_id, registry=reg
        )
        reg.runs.set_tags(run_id, {VERSION_TAG + name: mv["version"]})
        stage = STAGE.get(mv.get("current_stage") or "")
        if stage:
            reg.models.transition(
                name, version.version, stage, reason=f"imported from MLflow {ref}"
            )
        numbers[mv["version"]] = version.version
        report.versions[ref] = version.version
        report.count("imported", "model_versions")
    for alias in model.get("aliases", []):
        target = numbers.get(str(alias["version"]))
        if target is not None:
            set_alias(name, alias["alias"], target, registry=reg)


def _from_this_registry(reg: Registry, name: str, version_key: str | None) -> bool:
    """Whether a version synced from mlnb (``model/N:hash``) is this registry's own."""
    if not version_key:
        return False
    try:
        versions = reg.models.get(name)["versions"]
    except NotFoundError:
        return False
    digest = version_key.rpartition(":")[2]
    return any(v["object_hash"].startswith(digest) for v in versions)


def _mlnb_version_of(reg: Registry, name: str, run_id: int) -> int:
    """The mlnb version registered from the given run (an earlier import's)."""
    mine = [v["version"] for v in reg.models.get(name)["versions"] if v.get("run_id") == run_id]
    return int(mine[-1]) if mine else 0
