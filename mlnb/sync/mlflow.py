"""``mlnb sync --to-mlflow URI``: copy experiments, runs and registered model versions to an
MLflow tracking server. Metadata goes through its REST API 2.0 (plain ``urllib``); each model
version's file is uploaded as an MLflow sklearn model with the MLflow client
(:mod:`mlnb.sync.mlflow_models`, the ``mlflow`` extra), so ``mlflow.sklearn.load_model(
"models:/churn/2")`` loads it. Servers with authentication are reached with
``MLFLOW_TRACKING_TOKEN`` (bearer) or ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``
(basic), the variables MLflow's own client reads.

Idempotent: every MLflow object made here carries the mlnb identity it came from
(``mlnb.run_uuid`` on runs, ``mlnb.version_key`` on model versions) and a digest of what was
copied (``mlnb.sync_digest``), so a second sync finds everything already there and copies
nothing; a run that changed since (it finished, logged more metrics) is topped up in place.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any

from mlnb.errors import RegistryError, ValidationError
from mlnb.render.secrets import redact_url, scrub
from mlnb.store.registry import get_registry
from mlnb.sync.mlflow_models import artifact_path, require_mlflow, upload_model

RUN_STATUS = {
    "running": "RUNNING",
    "finished": "FINISHED",
    "failed": "FAILED",
    "crashed": "FAILED",
    "interrupted": "KILLED",
}
STAGE = {"none": "None", "staging": "Staging", "production": "Production", "archived": "Archived"}
# MLflow's log-batch limits: 1000 metrics, 100 params, 100 tags, 1000 items in all.
BATCH_METRICS, BATCH_PARAMS, BATCH_TAGS = 1000, 100, 100
MAX_TAG_VALUE = 5000
MAX_PARAM_VALUE = 6000


class Tally:
    """Counts per outcome and kind for a sync or an import report (a dataclass's fields)."""

    def count(self, outcome: str, kind: str) -> None:
        bucket = getattr(self, outcome)
        bucket[kind] = bucket.get(kind, 0) + 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


@dataclass
class SyncReport(Tally):
    """What one sync created, topped up or found already present, per kind of object."""

    uri: str
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    run_ids: dict[str, str] = field(default_factory=dict)  # mlnb run uuid -> MLflow run id

    def text(self) -> str:
        kinds = ("experiments", "runs", "registered_models", "model_versions", "model_files")
        lines = [f"synced to MLflow at {self.uri}"]
        for kind in kinds:
            c, u, s = (self.created.get(kind, 0), self.updated.get(kind, 0),
                       self.unchanged.get(kind, 0))  # fmt: skip
            lines.append(f"  {kind.replace('_', ' '):<18} {c} new, {u} updated, {s} unchanged")
        if self.updated.get("aliases"):
            lines.append(f"  aliases            {self.updated['aliases']} moved")
        return "\n".join(lines)


class MlflowClient:
    """The few MLflow REST 2.0 calls the sync needs, with MLflow's error text kept."""

    def __init__(self, uri: str, timeout: float = 30.0, option: str = "--to-mlflow") -> None:
        uri = check_uri(uri, option)
        self.uri = uri
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", **auth_headers()}

    def call(self, method: str, endpoint: str, body: dict[str, Any] | None = None) -> Any:
        """One REST call; raises RegistryError with MLflow's message on failure."""
        url = f"{self.uri}/api/2.0/mlflow/{endpoint}"
        data = None
        if method == "GET" and body:
            url += "?" + urllib.parse.urlencode(body)
        elif body is not None:
            data = json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method, headers=self.headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise RegistryError(_refused(self.uri, exc.code)) from exc
            detail = exc.read().decode(errors="replace")
            try:
                detail = json.loads(detail).get("message", detail)
            except ValueError:
                pass
            raise _MlflowError(
                exc.code, f"MLflow {endpoint} failed ({exc.code}): {scrub(str(detail), self.uri)}"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            raise RegistryError(
                f"cannot reach the MLflow server at {redact_url(self.uri)} "
                f"({scrub(str(exc), self.uri)}). Check the address and that `mlflow server` is "
                "running there."
            ) from None

    def get_or_none(self, endpoint: str, query: dict[str, Any]) -> Any:
        try:
            return self.call("GET", endpoint, query)
        except _MlflowError as exc:
            if exc.status == 404:
                return None
            raise

    def search_all(self, endpoint: str, body: dict[str, Any], key: str) -> list[dict[str, Any]]:
        """Every page of a search (runs/search, model-versions/search)."""
        out: list[dict[str, Any]] = []
        token = None
        while True:
            page_body = dict(body, **({"page_token": token} if token else {}))
            method = "POST" if endpoint == "runs/search" else "GET"
            page = self.call(method, endpoint, page_body)
            out.extend(page.get(key, []))
            token = page.get("next_page_token")
            if not token:
                return out


def check_uri(uri: str, option: str = "--to-mlflow") -> str:
    """The tracking server's address without a trailing slash, or a clear error."""
    uri = uri.rstrip("/")
    if not uri.startswith(("http://", "https://")):
        raise ValidationError(
            f"{option} needs the http(s) address of an MLflow tracking server, got "
            f"{redact_url(uri)!r}; start one with `mlflow server --host 127.0.0.1 --port 5000` and pass "
            "http://127.0.0.1:5000."
        )
    return uri


def auth_headers() -> dict[str, str]:
    """The Authorization header MLflow's client would send, from the same variables."""
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:
        return {"Authorization": f"Bearer {token}"}
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if bool(user) != bool(password):
        raise ValidationError(
            "set both MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD for a server with "
            "basic authentication (only one is set)."
        )
    if user and password:
        pair = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {pair}"}
    return {}


def _refused(uri: str, status: int) -> str:
    given = (
        "MLFLOW_TRACKING_TOKEN"
        if os.environ.get("MLFLOW_TRACKING_TOKEN")
        else "MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD"
        if os.environ.get("MLFLOW_TRACKING_USERNAME")
        else None
    )
    if status == 401:
        return (
            f"the MLflow server at {uri} wants credentials (401): "
            + (f"it refused the ones in {given}; check them." if given else
               "set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and "
               "MLFLOW_TRACKING_PASSWORD, as for MLflow's own client.")
        )  # fmt: skip
    return (
        f"the MLflow server at {uri} refused this user (403): ask its admin for EDIT rights "
        "on the experiments and registered models being copied."
    )


class _MlflowError(RegistryError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def sync_to_mlflow(
    uri: str, registry: Any = None, experiments: list[str] | None = None
) -> SyncReport:
    """Copy the registry's experiments, runs and model versions to the MLflow server at ``uri``.

    Running it again copies nothing new; runs that changed in mlnb since are topped up.
    """

    reg = registry if registry is not None else get_registry()
    client = MlflowClient(uri)
    if reg.models.find():
        require_mlflow()  # before anything is copied: model files need the MLflow client
    report = SyncReport(uri=redact_url(client.uri))
    wanted = set(experiments or [])
    known = {e["name"] for e in reg.runs.experiments()}
    missing = wanted - known
    if missing:
        raise ValidationError(
            f"no experiment named {', '.join(sorted(missing))} in {reg.home}; "
            f"experiments: {', '.join(sorted(known)) or 'none'}."
        )
    for name in sorted(wanted or known):
        _sync_experiment(client, reg, name, report)
    for model in reg.models.find():
        _sync_model(client, reg, model["name"], report)
    return report


# -- experiments and runs -------------------------------------------------------------


def _sync_experiment(client: MlflowClient, reg: Any, name: str, report: SyncReport) -> None:
    found = client.get_or_none("experiments/get-by-name", {"experiment_name": name})
    if found is not None:
        exp = found["experiment"]
        if exp.get("lifecycle_stage") == "deleted":
            raise RegistryError(
                f"MLflow experiment {name!r} is deleted; restore it in MLflow "
                "(`mlflow experiments restore`) or delete it for good before syncing."
            )
        exp_id = exp["experiment_id"]
        report.count("unchanged", "experiments")
    else:
        made = client.call(
            "POST",
            "experiments/create",
            {"name": name, "tags": [{"key": "mlnb.experiment", "value": name}]},
        )
        exp_id = made["experiment_id"]
        report.count("created", "experiments")
    existing = _runs_by_uuid(client, exp_id)
    for row in reversed(reg.runs.find(experiment=name, with_details=False)):
        run = reg.runs.get(row["id"])
        mlflow_run = existing.get(run["uuid"])
        if mlflow_run is None:
            run_id = _create_run(client, exp_id, run)
            report.count("created", "runs")
        else:
            run_id = mlflow_run["info"]["run_id"]
            outcome = _top_up_run(client, run_id, mlflow_run, run)
            report.count(outcome, "runs")
        report.run_ids[run["uuid"]] = run_id


def _runs_by_uuid(client: MlflowClient, exp_id: str) -> dict[str, dict[str, Any]]:
    runs = client.search_all(
        "runs/search",
        {
            "experiment_ids": [exp_id],
            "filter": "tags.`mlnb.run_uuid` LIKE '%'",
            "max_results": 1000,
            "run_view_type": "ALL",
        },  # fmt: skip
        "runs",
    )
    out = {}
    for r in runs:
        tags = {t["key"]: t["value"] for t in r.get("data", {}).get("tags", [])}
        if "mlnb.run_uuid" in tags:
            r["tags_dict"] = tags
            out[tags["mlnb.run_uuid"]] = r
    return out


def _run_digest(run: dict[str, Any]) -> str:
    """A digest of everything the sync copies from one run, to see later whether it changed."""
    content = {
        "status": run["status"],
        "ended_at": run.get("ended_at"),
        "name": run.get("name"),
        "params": run["params"],
        "metrics": run["metric_history"],
        "tags": run["tags"],
        "data": [(d["role"], d["name"], d["id"]) for d in run["data"]],
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(round(seconds * 1000))


def _run_tags(run: dict[str, Any]) -> dict[str, str]:
    """The mlnb run's own tags plus its identity and provenance in MLflow's tag names."""
    tags = {str(k): str(v) for k, v in run["tags"].items()}
    extra = {
        "mlnb.run_uuid": run["uuid"],
        "mlnb.run_id": str(run["id"]),
        "mlnb.status": run["status"],
        "mlnb.source": run.get("source") or "",
        "mlflow.user": run.get("user") or "",
        "mlflow.source.name": run.get("notebook_path") or "",
        "mlflow.source.git.commit": run.get("git_commit") or "",
        "mlnb.pipeline_run_id": str(run.get("pipeline_run_id") or ""),
        "mlnb.cell_source": (run.get("cell_source") or "")[:MAX_TAG_VALUE],
    }
    for d in run["data"]:
        extra[f"mlnb.data.{d['role']}.{d['name'] or d['id'][:12]}"] = d["id"]
    for m in run["models"]:
        extra[f"mlnb.model.{m['name']}"] = m["object_hash"]
    tags.update({k: v for k, v in extra.items() if v})
    tags["mlnb.sync_digest"] = _run_digest(run)
    return {k: v[:MAX_TAG_VALUE] for k, v in tags.items()}


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:MAX_PARAM_VALUE]


def _metric_points(run: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"key": key, "value": p["value"], "timestamp": _ms(p["timestamp"]), "step": p["step"]}
        for key, points in run["metric_history"].items()
        for p in points
        if p["value"] is not None
    ]


def _create_run(client: MlflowClient, exp_id: str, run: dict[str, Any]) -> str:
    made = client.call(
        "POST",
        "runs/create",
        {
            "experiment_id": exp_id,
            "run_name": run.get("name") or f"mlnb-{run['id']}",
            "start_time": _ms(run["started_at"]),
            "tags": [{"key": "mlnb.run_uuid", "value": run["uuid"]}],
        },
    )
    run_id = made["run"]["info"]["run_id"]
    _log_batches(
        client,
        run_id,
        params={k: _param_value(v) for k, v in run["params"].items()},
        metrics=_metric_points(run),
        tags=_run_tags(run),
    )
    _log_datasets(client, run_id, run["data"])
    _set_status(client, run_id, run)
    return run_id


def _top_up_run(
    client: MlflowClient, run_id: str, mlflow_run: dict[str, Any], run: dict[str, Any]
) -> str:
    """Bring an already-synced run up to date; "unchanged" when its digest still matches."""
    tags = _run_tags(run)
    if mlflow_run["tags_dict"].get("mlnb.sync_digest") == tags["mlnb.sync_digest"]:
        return "unchanged"
    data = mlflow_run.get("data", {})
    have_params = {p["key"] for p in data.get("params", [])}
    params = {k: _param_value(v) for k, v in run["params"].items() if k not in have_params}
    metrics = []
    for key in run["metric_history"]:
        have = {
            (m["step"], m["timestamp"], m["value"])
            for m in client.search_all(
                "metrics/get-history", {"run_id": run_id, "metric_key": key}, "metrics"
            )
        }
        metrics += [
            m
            for m in _metric_points(run)
            if m["key"] == key and (m["step"], m["timestamp"], m["value"]) not in have
        ]
    _log_batches(client, run_id, params=params, metrics=metrics, tags=tags)
    logged = {
        d["dataset"]["digest"] for d in mlflow_run.get("inputs", {}).get("dataset_inputs", [])
    }
    _log_datasets(client, run_id, [d for d in run["data"] if d["id"][:36] not in logged])
    _set_status(client, run_id, run)
    return "updated"


def _log_batches(
    client: MlflowClient,
    run_id: str,
    params: dict[str, str],
    metrics: list[dict[str, Any]],
    tags: dict[str, str],
) -> None:
    param_items = [{"key": k, "value": v} for k, v in params.items()]
    tag_items = [{"key": k, "value": v} for k, v in tags.items() if k != "mlnb.sync_digest"]
    for i in range(0, len(param_items), BATCH_PARAMS):
        client.call(
            "POST",
            "runs/log-batch",
            {"run_id": run_id, "params": param_items[i : i + BATCH_PARAMS]},
        )
    for i in range(0, len(metrics), BATCH_METRICS):
        client.call(
            "POST", "runs/log-batch", {"run_id": run_id, "metrics": metrics[i : i + BATCH_METRICS]}
        )
    for i in range(0, len(tag_items), BATCH_TAGS):
        client.call(
            "POST", "runs/log-batch", {"run_id": run_id, "tags": tag_items[i : i + BATCH_TAGS]}
        )
    # The digest goes last: a sync interrupted half way leaves the old digest, so the next
    # sync tops the run up instead of taking it as complete.
    if "mlnb.sync_digest" in tags:
        client.call(
            "POST",
            "runs/set-tag",
            {"run_id": run_id, "key": "mlnb.sync_digest", "value": tags["mlnb.sync_digest"]},
        )


def _log_datasets(client: MlflowClient, run_id: str, data: list[dict[str, Any]]) -> None:
    """The run's data versions as MLflow dataset inputs, digest = mlnb's full-content hash."""
    if not data:
        return
    datasets = [
        {
            "tags": [{"key": "mlflow.data.context", "value": d["role"]}],
            "dataset": {
                "name": d["name"] or d["id"][:12],
                "digest": d["id"][:36],
                "source_type": "mlnb",
                "source": json.dumps({"data_version": d["id"], "path": d.get("source_path") or ""}),
                "schema": json.dumps(
                    {"kind": d["kind"], "n_rows": d.get("n_rows"), "n_cols": d.get("n_cols")}
                ),  # fmt: skip
            },
        }
        for d in data
    ]
    client.call("POST", "runs/log-inputs", {"run_id": run_id, "datasets": datasets})


def _set_status(client: MlflowClient, run_id: str, run: dict[str, Any]) -> None:
    body: dict[str, Any] = {"run_id": run_id, "status": RUN_STATUS[run["status"]]}
    if run.get("ended_at") is not None:
        body["end_time"] = _ms(run["ended_at"])
    client.call("POST", "runs/update", body)


# -- registered models ----------------------------------------------------------------


def _version_key(v: dict[str, Any]) -> str:
    """Who a model version is, across syncs: model name, mlnb version number, model bytes."""
    return f"{v['model']}/{v['version']}:{v['object_hash'][:16]}"


def _sync_model(client: MlflowClient, reg: Any, name: str, report: SyncReport) -> None:
    model = reg.models.get(name)
    if client.get_or_none("registered-models/get", {"name": name}) is None:
        body: dict[str, Any] = {"name": name, "tags": [{"key": "mlnb.model", "value": name}]}
        if model.get("description"):
            body["description"] = model["description"]
        client.call("POST", "registered-models/create", body)
        report.count("created", "registered_models")
    else:
        report.count("unchanged", "registered_models")
    existing: dict[str, dict[str, Any]] = {}
    for mv in client.search_all(
        "model-versions/search", {"filter": f"name='{name}'"}, "model_versions"
    ):
        tags = {t["key"]: t["value"] for t in mv.get("tags", [])}
        if "mlnb.version_key" in tags:
            existing[tags["mlnb.version_key"]] = mv
    for v in model["versions"]:
        found = existing.get(_version_key(v))
        if found is None:
            mv = _create_version(client, reg, v, report)
            outcome = "created"
        else:
            mv = found
            outcome = "unchanged"
        if mv.get("current_stage") != STAGE[v["stage"]]:
            client.call(
                "POST",
                "model-versions/transition-stage",
                {
                    "name": name,
                    "version": mv["version"],
                    "stage": STAGE[v["stage"]],
                    "archive_existing_versions": False,
                },  # fmt: skip
            )
            outcome = "updated" if outcome == "unchanged" else outcome
        v["mlflow_version"] = mv["version"]
        report.count(outcome, "model_versions")
    _sync_aliases(client, name, model, report)


def _create_version(
    client: MlflowClient, reg: Any, v: dict[str, Any], report: SyncReport
) -> dict[str, Any]:
    """A new MLflow model version whose source is the model uploaded into its run."""
    tags = {
        "mlnb.version_key": _version_key(v),
        "mlnb.version": str(v["version"]),
        "mlnb.object_hash": v["object_hash"],
        "mlnb.format": v.get("format") or "",
        "mlnb.class_name": v.get("class_name") or "",
    }
    run_id = None
    if v.get("run_id") is not None:
        run_id = report.run_ids.get(reg.runs.row(v["run_id"])["uuid"])
    if run_id is None:  # registered outside a run, or its experiment is not being synced
        run_id = _holder_run(client, v)
    run = client.call("GET", "runs/get", {"run_id": run_id})["run"]
    source = upload_model(client.uri, run_id, run["info"]["artifact_uri"], reg, v)
    body: dict[str, Any] = {
        "name": v["model"],
        "source": source,
        "run_id": run_id,
        "tags": [{"key": k, "value": val} for k, val in tags.items() if val],
        "description": v.get("description") or "",
    }
    report.count("created", "model_files")
    return client.call("POST", "model-versions/create", body)["model_version"]


def _holder_run(client: MlflowClient, v: dict[str, Any]) -> str:
    """A run in the ``mlnb model files`` experiment to hold a version with no synced run."""
    name = "mlnb model files"
    found = client.get_or_none("experiments/get-by-name", {"experiment_name": name})
    exp_id = (
        found["experiment"]["experiment_id"]
        if found is not None
        else client.call("POST", "experiments/create", {"name": name})["experiment_id"]
    )
    made = client.call(
        "POST",
        "runs/create",
        {
            "experiment_id": exp_id,
            "run_name": artifact_path(v).split("/", 1)[1],
            "tags": [{"key": "mlnb.version_key", "value": _version_key(v)}],
        },
    )
    run_id = made["run"]["info"]["run_id"]
    client.call("POST", "runs/update", {"run_id": run_id, "status": "FINISHED"})
    return str(run_id)


def _sync_aliases(
    client: MlflowClient, name: str, model: dict[str, Any], report: SyncReport
) -> None:
    """Point each mlnb alias at the same version in MLflow (moving it when mlnb moved it)."""
    mlflow_model = client.call("GET", "registered-models/get", {"name": name})["registered_model"]
    current = {a["alias"]: a["version"] for a in mlflow_model.get("aliases", [])}
    by_number = {v["version"]: v["mlflow_version"] for v in model["versions"]}
    for alias, version in model["aliases"].items():
        target = by_number.get(version)
        if target is not None and current.get(alias) != target:
            client.call(
                "POST",
                "registered-models/alias",
                {"name": name, "alias": alias, "version": target},
            )
            report.count("updated", "aliases")
