"""REST handlers under ``/mlnb/api/``: a thin JSON layer over :class:`mlnb.store.registry.Registry`.

Every handler needs Jupyter's authentication (a request without a token or login cookie gets
403), writes need the XSRF token too (or a token header), and the answers are JSON. mlnb's
own errors map to status codes: ValidationError -> 400, NotFoundError -> 404, GateFailed and
WritesRefused (a read-only or damaged registry) -> 409, anything else -> 500, each with
``{"error": message}``.

Domain modules (gates, monitors, pipelines) are imported inside the functions that use them:
this module loads when JupyterLab starts, which must not pay for pandas and scikit-learn
before the sidebar asks for a model or a monitor.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import math
import os
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar, cast

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from traitlets import Unicode
from traitlets.config import Configurable

from mlnb.errors import GateFailed, MlnbError, NotFoundError, ValidationError, WritesRefused
from mlnb.render.pipelines import failure_reason
from mlnb.server.payloads import (
    AccuracyPoint,
    Alert,
    AlertList,
    Batch,
    ColumnDrift,
    Compare,
    CronPreview,
    DataVersion,
    DataVersionList,
    Deployment,
    ErrorBody,
    ExperimentList,
    GateResult,
    LatestBatch,
    ModelDetail,
    ModelDetailList,
    ModelList,
    ModelSummary,
    ModelVersion,
    MonitorDetail,
    MonitorList,
    MonitorSummary,
    NotebookList,
    Pipeline,
    PipelineList,
    PipelineOutput,
    PipelineRun,
    RestoredData,
    Run,
    RunDetail,
    RunList,
    RunStarted,
    RunVersionRef,
    ServingHealth,
    ServingWindow,
    Status,
    Transition,
    VersionToken,
)
from mlnb.store.query import search
from mlnb.store.refs import MAX_ID
from mlnb.store.refs import parse_id as parse_stored_id
from mlnb.store.registry import Registry

API_PREFIX = "mlnb/api"
MAX_LIMIT = 1000
T = TypeVar("T")


class MlnbServer(Configurable):
    """Settings of mlnb's server extension (``c.MlnbServer.registry = "/path"``)."""

    registry = Unicode(
        "",
        config=True,
        help="Registry folder the sidebar shows. Default: $MLNB_HOME, else <root_dir>/.mlnb.",
    )


def registry_home(configured: str, root_dir: str) -> Path:
    """Which registry folder the server serves: config, then $MLNB_HOME, then the root's .mlnb."""
    if configured:
        return Path(configured).expanduser().absolute()
    env = os.environ.get("MLNB_HOME")
    if env:
        return Path(env).expanduser().absolute()
    return (Path(root_dir).expanduser() / ".mlnb").absolute()


class RegistryProvider:
    """Opens the registry on first use and keeps that one connection for the server's life."""

    def __init__(self, home: Path, root_dir: Path) -> None:
        self.home = home
        self.root_dir = root_dir
        self._registry: Registry | None = None
        self._lock = threading.Lock()

    def get(self) -> Registry:
        with self._lock:
            if self._registry is None:
                self._registry = Registry(self.home)
            return self._registry


class ApiError(web.HTTPError):
    """An HTTP error whose JSON body is ``{"error": message, **extra}``."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(status)
        self.message = message
        self.extra = extra


def api_errors(method: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """Translate mlnb's exceptions into JSON answers with a fitting status code."""

    @functools.wraps(method)
    async def wrapper(self: MlnbHandler, *args: Any, **kwargs: Any) -> None:
        try:
            await method(self, *args, **kwargs)
        except web.HTTPError:
            raise
        except GateFailed as exc:
            raise ApiError(409, str(exc), gate=jsonable(exc.result)) from exc
        except ValidationError as exc:
            raise ApiError(400, str(exc)) from exc
        except NotFoundError as exc:
            raise ApiError(404, str(exc)) from exc
        except WritesRefused as exc:  # a read-only or damaged registry: reads still work
            raise ApiError(409, str(exc)) from exc
        except MlnbError as exc:
            self.log.error("mlnb: %s failed: %s", self.request.path, exc)
            raise ApiError(500, str(exc)) from exc
        except Exception as exc:
            self.log.exception("mlnb: %s failed", self.request.path)
            raise ApiError(500, f"{type(exc).__name__}: {exc}") from exc

    return wrapper


def jsonable(value: Any) -> Any:
    """A copy of ``value`` that strict JSON accepts: NaN/inf become null, unknowns a string."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return jsonable(to_dict())
    return str(value)


class MlnbHandler(APIHandler):
    """Base handler: the registry, JSON in and out, argument checks."""

    auth_resource = "mlnb"

    @property
    def provider(self) -> RegistryProvider:
        provider: RegistryProvider = self.settings["mlnb_registry"]
        return provider

    @property
    def registry(self) -> Registry:
        return self.provider.get()

    async def blocking(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a registry call off the event loop (SQLite and model loading block)."""
        return await asyncio.to_thread(fn, *args, **kwargs)

    def reply(self, payload: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(jsonable(payload), allow_nan=False))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, ApiError):
            message = exc.message
        elif isinstance(exc, web.HTTPError) and exc.log_message:
            message = exc.log_message % exc.args if exc.args else exc.log_message
        else:
            message = self._reason or "error"
        extra = exc.extra if isinstance(exc, ApiError) else {}
        body = cast(ErrorBody, {"error": message, **extra})
        body.setdefault("message", message)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(jsonable(body)))

    def json_body(self) -> dict[str, Any]:
        """The request's JSON object; malformed JSON or a non-object is a 400."""
        raw = self.request.body
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ApiError(400, f"the request body is not valid JSON ({exc}).") from exc
        except RecursionError:
            raise ApiError(
                400, "the request body is nested too deeply; send a flat JSON object."
            ) from None
        if not isinstance(data, dict):
            raise ApiError(400, 'the request body must be a JSON object, e.g. {"reason": "..."}.')
        return data

    def text_arg(self, name: str) -> str | None:
        value = self.get_query_argument(name, None)
        return value if value not in (None, "") else None

    def int_arg(
        self, name: str, default: int | None, lo: int = 1, hi: int = MAX_LIMIT
    ) -> int | None:
        value = self.text_arg(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ApiError(400, f"{name} must be an integer, got {value!r}.") from None
        if not lo <= number <= hi:
            raise ApiError(400, f"{name} must be between {lo} and {hi}, got {number}.")
        return number

    def choice_arg(self, name: str, choices: tuple[str, ...], default: str | None) -> str | None:
        value = self.text_arg(name)
        if value is None:
            return default
        if value not in choices:
            raise ApiError(400, f"{name} must be one of {', '.join(choices)}, got {value!r}.")
        return value

    def user_name(self) -> str | None:
        """The Jupyter user's name, recorded as who acted (promotions, acknowledgements)."""
        user = self.current_user
        return getattr(user, "username", None) or getattr(user, "name", None)

    def relative_to_root(self, path: str | None) -> str | None:
        """``path`` relative to the Jupyter root (for the docmanager), or None when outside it."""
        if not path:
            return None
        try:
            rel = Path(path).resolve().relative_to(self.provider.root_dir.resolve())
        except (ValueError, OSError):
            return None
        return rel.as_posix()


def parse_id(what: str, text: str) -> int:
    """A positive id (ASCII digits, at most 2**63-1) from a URL segment, or a 400 naming it."""
    try:
        return parse_stored_id(text, what)
    except ValidationError as exc:
        raise ApiError(400, str(exc)) from None


def endpoint(method: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """Decorate a handler method: authenticated (else 403), authorized by Jupyter's authorizer
    (GET needs "read", POST "write" on the "mlnb" resource), errors as JSON."""
    wrapped = web.authenticated(authorized(api_errors(method)))
    return cast(Callable[..., Awaitable[None]], wrapped)


# -- status and change token ----------------------------------------------------------------


class StatusHandler(MlnbHandler):
    @endpoint
    async def get(self) -> None:
        counts = await self.blocking(self.registry.counts)
        status: Status = {
            "registry": str(self.provider.home),
            "root_dir": str(self.provider.root_dir),
            "mlnb_version": _mlnb_version(),
            "counts": {f"n_{k}": counts[k] for k in sorted(counts)},
        }
        self.reply(status)


class VersionHandler(MlnbHandler):
    """A cheap token that changes whenever the registry does; the sidebar polls it."""

    @endpoint
    async def get(self) -> None:
        counts = await self.blocking(self.registry.change_counters)
        digest = hashlib.sha1(json.dumps(counts, sort_keys=True).encode()).hexdigest()[:16]
        token: VersionToken = {"token": digest}
        self.reply(token)


# -- experiments, runs, data ------------------------------------------------------------------


class ExperimentsHandler(MlnbHandler):
    @endpoint
    async def get(self) -> None:
        experiments = await self.blocking(self.registry.runs.experiments)
        answer: ExperimentList = {"experiments": experiments}
        self.reply(answer)


class RunsHandler(MlnbHandler):
    @endpoint
    async def get(self) -> None:
        experiment = self.text_arg("experiment")
        status = self.text_arg("status")
        sort = self.text_arg("sort")
        order = self.choice_arg("order", ("asc", "desc"), "desc")
        limit = self.int_arg("limit", 100) or 100
        offset = self.int_arg("offset", 0, lo=0, hi=10_000_000) or 0
        runs, total = await self.blocking(
            search,
            self.registry.runs,
            self.text_arg("q"),
            experiment=experiment,
            status=status,
            sort=sort,
            descending=order == "desc",
            offset=offset,
            limit=limit,
        )
        keys = sorted({k for r in runs for k in r.get("metrics", {})})
        answer: RunList = {
            "runs": cast(list[Run], runs),
            "metric_keys": keys,
            "total": total,
            "offset": offset,
        }
        self.reply(answer)


def run_detail(
    registry: Registry, run_ref: str, notebook_rel: Callable[..., str | None]
) -> RunDetail:
    """Everything the run page shows: the run record plus the model versions made from it."""
    run = registry.runs.get(run_ref)
    packages = run.get("packages")
    return {
        "id": run["id"],
        "uuid": run["uuid"],
        "name": run["name"],
        "status": run["status"],
        "experiment": run["experiment"],
        "source": run["source"],
        "user": run.get("user"),
        "started_at": run.get("started_at"),
        "ended_at": run.get("ended_at"),
        "notebook_path": run.get("notebook_path"),
        "pipeline_run_id": run.get("pipeline_run_id"),
        "metrics": dict(run.get("metrics", {})),
        "params": run.get("params", {}),
        "cell_source": run.get("cell_source"),
        "execution_count": run.get("execution_count"),
        "git_commit": run.get("git_commit"),
        "git_dirty": run.get("git_dirty"),
        "python_version": run.get("python_version"),
        "host": run.get("host"),
        "error": run.get("error"),
        "packages": packages if isinstance(packages, dict) else {},
        "tags": run.get("tags", {}),
        "metric_history": cast(dict[str, Any], run.get("metric_history", {})),
        "data": run.get("data", []),
        "models": run.get("models", []),
        "model_versions": cast(list[RunVersionRef], registry.models.versions_of_run(run["id"])),
        "notebook_rel": notebook_rel(run.get("notebook_path")),
    }


class RunHandler(MlnbHandler):
    @endpoint
    async def get(self, run_ref: str) -> None:
        self.reply(await self.blocking(run_detail, self.registry, run_ref, self.relative_to_root))


class ArtifactDownloadHandler(MlnbHandler):
    """The bytes of a stored model file, verified against its sha256, as a download."""

    @endpoint
    async def get(self, artifact_ref: str) -> None:
        artifact_id = parse_id("artifact id", artifact_ref)
        registry = self.registry
        artifact = await self.blocking(registry.models.artifact, artifact_id)
        data = await self.blocking(registry.objects.get_bytes, artifact["object_hash"])
        filename = "".join(c if c.isalnum() or c in "-_." else "_" for c in artifact["name"])
        suffix = {"pickle": ".pkl", "joblib": ".joblib", "skops": ".skops"}.get(
            artifact["format"], ""
        )
        if suffix and not filename.endswith(suffix):
            filename += suffix
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Disposition", f'attachment; filename="{filename or "model"}"')
        self.set_header("Cache-Control", "no-store")
        self.finish(data)


class CompareHandler(MlnbHandler):
    @endpoint
    async def get(self) -> None:
        raw = self.text_arg("runs")
        if raw is None:
            raise ApiError(400, "runs is required: give two run ids, e.g. ?runs=3,7.")
        refs = [part.strip() for part in raw.split(",") if part.strip()]
        if len(refs) < 2:
            raise ApiError(
                400, f"runs must name at least two runs separated by a comma, got {raw!r}."
            )
        if len(refs) > 10:
            raise ApiError(400, f"compare at most 10 runs at once, got {len(refs)}.")
        compared = await self.blocking(self.registry.runs.compare, refs)
        self.reply(cast(Compare, compared))


def restore_snapshot(
    registry: Registry, version_id: str, root_dir: Path, rel_path: str
) -> RestoredData:
    """Write a data version's snapshot to ``rel_path`` under the Jupyter root (never over a
    file that exists, never outside the root)."""
    from mlnb.tracking.data import restore_data

    root = root_dir.resolve()
    target = (root / rel_path).resolve()
    if not target.is_relative_to(root) or target == root:
        raise ApiError(400, f"path must be a file under the Jupyter root, got {rel_path!r}.")
    if target.exists():
        raise ApiError(409, f"{rel_path} exists already; choose another file name.")
    restore_data(registry, version_id, target)
    return {"data_version": version_id, "path": target.relative_to(root).as_posix()}


class DataRestoreHandler(MlnbHandler):
    @endpoint
    async def post(self, version_id: str) -> None:
        path = self.json_body().get("path")
        if not isinstance(path, str) or not path.strip():
            raise ApiError(
                400, 'path is required: a file name under the Jupyter root, e.g. "train.csv".'
            )
        restored = await self.blocking(
            restore_snapshot, self.registry, version_id, self.provider.root_dir, path.strip()
        )
        self.reply(restored, status=201)


class DataHandler(MlnbHandler):
    @endpoint
    async def get(self) -> None:
        limit = self.int_arg("limit", 200)
        versions = await self.blocking(self.registry.data.find, limit)
        answer: DataVersionList = {"data_versions": cast(list[DataVersion], versions)}
        self.reply(answer)


# -- models ------------------------------------------------------------------------------------

PROMOTION_STAGES = ("staging", "production", "archived")


def deployment_brief(d: Mapping[str, Any] | None) -> Deployment | None:
    """The running deployment of a model as the sidebar shows it, or None."""
    if not d:
        return None
    return {
        "id": d["id"],
        "alias": d["alias"],
        "version": d["version"],
        "url": d["url"],
        "status": d["status"],
        "requests": d["requests"],
        "errors": d["errors"],
        "req_per_min": d["req_per_min"],
        "p95_ms": d["p95_ms"],
        "heartbeat_at": d["heartbeat_at"],
    }


def model_summaries(registry: Registry) -> list[ModelSummary]:
    """Registered models with their running deployment in the sidebar's shape."""
    models = registry.models.find()
    for m in models:
        m["deployment"] = deployment_brief(m.get("deployment"))
    return cast(list[ModelSummary], models)


def gate_brief(result: dict[str, Any] | None) -> GateResult | None:
    """A recorded gate result as the sidebar shows it: verdict and each check."""
    if result is None:
        return None
    brief: GateResult = {
        "id": result["id"],
        "gate": result["gate"],
        "passed": bool(result["passed"]),
        "baseline_version": result.get("baseline_version"),
        "created_at": result["created_at"],
        "checks": [
            {
                "name": str(c.get("name", "")),
                "passed": bool(c.get("passed")),
                "metric": c.get("metric"),
                "value": c.get("value"),
                "threshold": c.get("threshold"),
                "op": c.get("op"),
            }
            for c in result.get("checks") or []
            if isinstance(c, dict)
        ],
    }
    return brief


def rollback_version(registry: Registry, name: str) -> int | None:
    """The version a rollback would put back in production, or None when there is none."""
    from mlnb.lifecycle.versions import rollback_target

    try:
        _current, target = rollback_target(registry, name)
    except ValidationError:
        return None
    return int(target["version"])


def model_detail(registry: Registry, name: str) -> ModelDetail:
    """Versions (newest first) with stage, aliases and latest gate result; stage history."""
    model = registry.models.get(name)
    latest_gate: dict[int, dict[str, Any]] = {}
    for result in model.get("gate_results", []):  # newest first
        latest_gate.setdefault(result["version_id"], result)
    versions: list[ModelVersion] = [
        {
            "version": v["version"],
            "stage": v["stage"],
            "aliases": v.get("aliases", []),
            "run_id": v.get("run_id"),
            "created_at": v.get("created_at"),
            "created_by": v.get("created_by"),
            "description": v.get("description", ""),
            "class_name": v.get("class_name"),
            "gate": gate_brief(latest_gate.get(v["id"])),
        }
        for v in reversed(model["versions"])
    ]
    staging = [v["version"] for v in versions if v["stage"] == "staging"]
    rollback_to = rollback_version(registry, name)
    return {
        "name": model["name"],
        "description": model.get("description", ""),
        "n_versions": len(versions),
        "latest_version": versions[0]["version"] if versions else None,
        "production_version": model.get("production_version"),
        "staging_version": staging[0] if staging else None,
        "aliases": model.get("aliases", {}),
        "versions": versions,
        "transitions": cast(list[Transition], list(reversed(model.get("transitions", [])))[:50]),
        "rollback_to": rollback_to,
        "can_rollback": rollback_to is not None,
        "deployment": deployment_brief(model.get("deployment")),
    }


def failed_gate_of(registry: Registry, name: str, version: int) -> GateResult | None:
    """The version's latest gate result when it failed, else None."""
    for v in model_detail(registry, name)["versions"]:
        if v["version"] == version:
            gate = v["gate"]
            return gate if gate is not None and not gate["passed"] else None
    return None


def promote_version(
    registry: Registry,
    name: str,
    version: int,
    to: str,
    reason: str,
    gate: str | None,
    force: bool = False,
) -> dict[str, Any]:
    """Promote through mlnb's gates (a failing gate raises GateFailed -> 409). Without a gate,
    a version whose last gate failed moves only by an explicit force with a reason."""
    from mlnb.lifecycle.promotion import promote

    failed = failed_gate_of(registry, name, version) if gate is None and to != "archived" else None
    if failed is not None:
        checks = "; ".join(describe_check(c) for c in failed["checks"] if not c["passed"])
        if not force:
            raise ApiError(
                409,
                f"{name} v{version} failed gate {failed['gate']!r} ({checks}). Promote it "
                "through a gate it passes, or force it past the failed gate with a reason.",
                gate=failed,
            )
        if not reason:
            raise ApiError(400, "forcing past a failed gate needs a reason for the record.")
        reason = f"forced past the failed gate {failed['gate']!r}: {reason}"
    result = promote(
        name,
        version,
        to=to,
        gate=gate,
        reason=reason,
        force=force and gate is not None,
        raise_on_failure=True,
        registry=registry,
    )
    return result.to_dict()


def describe_check(check: Mapping[str, Any]) -> str:
    """A gate check as a person reads it: ``min accuracy: 0.71 >= 0.8``."""
    name = str(check.get("name", ""))
    value = check.get("value")
    if value is None:
        return name
    shown = f"{value:.4g}" if isinstance(value, float) else str(value)
    return f"{name}: {shown} {check.get('op') or 'vs'} {check.get('threshold')}"


def rollback_model(registry: Registry, name: str, reason: str) -> dict[str, Any]:
    from mlnb.lifecycle.versions import rollback

    return rollback(name, reason=reason, registry=registry).to_dict()


def all_model_details(registry: Registry) -> ModelDetailList:
    """Every model with its versions, gates and rollback target: the sidebar's one request."""
    return {"models": [model_detail(registry, m["name"]) for m in registry.models.find()]}


class ModelsHandler(MlnbHandler):
    @endpoint
    async def get(self) -> None:
        if self.choice_arg("detail", ("0", "1"), "0") == "1":
            self.reply(await self.blocking(all_model_details, self.registry))
            return
        models = await self.blocking(model_summaries, self.registry)
        answer: ModelList = {"models": models}
        self.reply(answer)


class ModelHandler(MlnbHandler):
    @endpoint
    async def get(self, name: str) -> None:
        self.reply(await self.blocking(model_detail, self.registry, name))


class LineageHandler(MlnbHandler):
    @endpoint
    async def get(self, name: str, version: str) -> None:
        from mlnb.lifecycle.versions import lineage_record

        number = parse_id("version", version)
        lineage = await self.blocking(lineage_record, self.registry, f"{name}/{number}")
        run = lineage.get("run") or {}
        lineage["notebook_rel"] = self.relative_to_root(run.get("notebook_path"))
        self.reply(lineage)


class PromoteHandler(MlnbHandler):
    @endpoint
    async def post(self, name: str) -> None:
        body = self.json_body()
        version = body.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_ID:
            raise ApiError(
                400, f"version must be a positive integer (at most {MAX_ID}), got {version!r}."
            )
        to = body.get("to", "production")
        if to not in PROMOTION_STAGES:
            raise ApiError(400, f"to must be one of {', '.join(PROMOTION_STAGES)}, got {to!r}.")
        reason = body.get("reason", "")
        gate = body.get("gate") or None
        force = body.get("force", False)
        if not isinstance(reason, str) or not (gate is None or isinstance(gate, str)):
            raise ApiError(400, "reason and gate must be strings.")
        if not isinstance(force, bool):
            raise ApiError(400, f"force must be true or false, got {force!r}.")
        result = await self.blocking(
            promote_version, self.registry, name, version, to, reason.strip(), gate, force
        )
        self.reply(result)


class RollbackHandler(MlnbHandler):
    @endpoint
    async def post(self, name: str) -> None:
        reason = self.json_body().get("reason", "")
        if not isinstance(reason, str):
            raise ApiError(400, f"reason must be a string, got {reason!r}.")
        self.reply(await self.blocking(rollback_model, self.registry, name, reason.strip()))


# -- pipelines ---------------------------------------------------------------------------------

RUN_NOW_GRACE_SECONDS = 2.0


def iso_to_epoch(value: Any) -> float | None:
    """An ISO-8601 time (as the pipelines API gives next run times) as UNIX seconds."""
    if value is None or isinstance(value, (int, float)):
        return value
    import datetime as dt

    try:
        return dt.datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


def pipeline_run_brief(run: Mapping[str, Any]) -> PipelineRun:
    """A pipeline run as the sidebar shows it: trigger, status, error, output notebook."""
    output = run.get("output_path")
    return {
        "id": run["id"],
        "trigger": run.get("trigger", ""),
        "reason": run.get("reason", ""),
        "status": run.get("status", ""),
        "attempt": run.get("attempt"),
        "started_at": run.get("started_at"),
        "ended_at": run.get("ended_at"),
        "error": run.get("error"),
        "failure_reason": failure_reason(run),
        "output_path": output,
        "has_output": bool(output) and Path(str(output)).is_file(),
    }


def path_under(root: Path | None, path: str | None) -> str | None:
    """``path`` relative to ``root`` (for the notebook picker), or None when outside it."""
    if not path or root is None:
        return None
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError):
        return None


def pipeline_summary(
    pipeline: Mapping[str, Any], runs: Sequence[Mapping[str, Any]], root: Path | None = None
) -> Pipeline:
    """A pipeline with its schedule, triggers, gate, next and last run, and ``runs``."""
    config = pipeline.get("config") or {}
    briefs = [pipeline_run_brief(r) for r in runs]
    return {
        "name": pipeline["name"],
        "notebook_path": pipeline.get("notebook_path", ""),
        "schedule": config.get("schedule"),
        "timezone": config.get("timezone"),
        "triggers": pipeline.get("triggers", []),
        "status": pipeline.get("status", ""),
        "next_run": iso_to_epoch(pipeline.get("next_run_at")),
        "notebook_rel": path_under(root, pipeline.get("notebook_path")),
        "gate": config.get("gate"),
        "promote_to": config.get("promote_to"),
        "model": config.get("model"),
        "on_new_data": list(config.get("on_new_data") or []),
        "on_alert": config.get("on_alert"),
        "last_run": briefs[0] if briefs else None,
        "failure_reason": briefs[0]["failure_reason"] if briefs else None,
        "runs": briefs,
    }


def list_pipeline_summaries(registry: Registry) -> list[Pipeline]:
    """Every pipeline with its last run (no run list)."""
    from mlnb.pipelines.api import list_pipelines, pipeline_history

    out = []
    for pipeline in list_pipelines(registry=registry):
        runs = pipeline_history(pipeline["name"], limit=1, registry=registry)
        summary = pipeline_summary(pipeline, runs)
        summary.pop("runs")
        out.append(summary)
    return out


def pipeline_detail(
    registry: Registry, name: str, limit: int, root: Path | None = None
) -> Pipeline:
    """One pipeline with its ``limit`` latest runs."""
    from mlnb.pipelines.api import describe_pipeline, pipeline_history

    pipeline = describe_pipeline(name, registry=registry)
    runs = pipeline_history(name, limit=limit, registry=registry)
    return pipeline_summary(pipeline, runs, root)


PIPELINE_FIELDS: dict[str, type] = {
    "name": str,
    "notebook": str,
    "schedule": str,
    "timezone": str,
    "on_alert": str,
    "gate": str,
    "promote_to": str,
    "model": str,
    "on_new_data": list,
    "replace": bool,
}


def pipeline_form(body: Mapping[str, Any], root: Path) -> dict[str, Any]:
    """The create/edit form's fields checked: known keys, right types, the notebook under the
    Jupyter root; empty strings mean "not set"."""
    unknown = sorted(set(body) - set(PIPELINE_FIELDS))
    if unknown:
        raise ApiError(400, f"unknown pipeline fields {unknown}; use {', '.join(PIPELINE_FIELDS)}.")
    form: dict[str, Any] = {}
    for key, kind in PIPELINE_FIELDS.items():
        value = body.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, kind) or (
            isinstance(value, list) and not all(isinstance(v, str) and v for v in value)
        ):
            what = "a list of paths" if kind is list else kind.__name__
            raise ApiError(400, f"{key} must be {what}, got {value!r}.")
        form[key] = value.strip() if isinstance(value, str) else value
    for required in ("name", "notebook"):
        if required not in form:
            raise ApiError(400, f"{required} is required to create a pipeline.")
    notebook = (root / form["notebook"]).resolve()
    if not notebook.is_relative_to(root.resolve()) or notebook.suffix != ".ipynb":
        raise ApiError(
            400, f"notebook must be a .ipynb under the Jupyter root, got {form['notebook']!r}."
        )
    form["notebook"] = notebook
    return form


def save_pipeline(registry: Registry, form: dict[str, Any], root: Path) -> Pipeline:
    """Create (or with replace, edit) a pipeline from the form; the domain validates it."""
    from mlnb.pipelines.api import create_pipeline

    name = form.pop("name")
    notebook = form.pop("notebook")
    create_pipeline(name, notebook, registry=registry, **form)
    return pipeline_detail(registry, name, 20, root)


def cron_preview(expression: str, timezone: str, count: int) -> CronPreview:
    """A cron expression checked (errors say which field is wrong) and its next run times."""
    import datetime as dt

    from mlnb.pipelines.config import iter_cron, validate_cron, zone

    text = validate_cron(expression)
    zone(timezone)
    after = dt.datetime.now(dt.UTC)
    slots = iter_cron(text, timezone, after)
    return {
        "expression": text,
        "timezone": timezone,
        "next_runs": [next(slots).timestamp() for _ in range(count)],
    }


MAX_NOTEBOOKS = 500


def notebooks_under(root: Path) -> NotebookList:
    """Notebooks under the Jupyter root (hidden folders and checkpoints left out), sorted."""
    found: list[str] = []
    for path in sorted(root.rglob("*.ipynb")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        found.append(rel.as_posix())
        if len(found) >= MAX_NOTEBOOKS:
            break
    return {"notebooks": found}


def start_pipeline_run(home: Path, root_dir: Path, name: str, who: str | None) -> RunStarted:
    """Start ``mlnb pipeline run NAME`` as its own process, so that the run goes on even if
    the Jupyter server stops; an immediate failure (e.g. the concurrency limit) is reported."""
    import subprocess
    import sys
    import tempfile
    import time

    reason = "run now from the JupyterLab sidebar" + (f" by {who}" if who else "")
    env = {**os.environ, "MLNB_HOME": str(home)}
    command = [sys.executable, "-m", "mlnb", "pipeline", "run", name, "--reason", reason]
    errors = tempfile.TemporaryFile()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and CLI, no shell
        command,
        cwd=root_dir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=errors,
        start_new_session=True,
    )
    deadline = time.monotonic() + RUN_NOW_GRACE_SECONDS
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if process.returncode not in (None, 0):
        errors.seek(0)
        tail = errors.read().decode(errors="replace").strip().splitlines()[-5:]
        errors.close()
        message = " ".join(line for line in tail if not line.startswith("running pipeline"))
        raise ApiError(409, message or f"mlnb pipeline run {name} exited with {process.returncode}")
    threading.Thread(target=_reap, args=(process, errors), daemon=True).start()
    return {"pipeline": name, "started": True, "pid": process.pid}


def _reap(process: Any, errors: Any) -> None:
    """Wait for a started run so it does not linger as a zombie; its record is in the registry."""
    process.wait()
    errors.close()


def render_output(run: Mapping[str, Any], pipeline: str) -> PipelineOutput:
    """A run's output notebook as static HTML: read-only, no kernel, so opening it can never
    re-run the training it records; with the tail of the run's log."""
    import nbconvert
    import nbformat

    source = Path(run.get("output_path") or "")
    has_output = bool(run.get("output_path")) and source.is_file()
    if not has_output and not run.get("log"):
        raise ApiError(404, f"pipeline run #{run['id']} has no output notebook or log (any more).")
    html = None
    if has_output:
        notebook = nbformat.read(source, as_version=4)
        html, _ = nbconvert.HTMLExporter(template_name="lab").from_notebook_node(notebook)
    return {
        "pipeline": pipeline,
        "run_id": int(run["id"]),
        "path": str(source) if has_output else None,
        "html": html,
        "log": run.get("log"),
    }


class PipelinesHandler(MlnbHandler):
    @endpoint
    async def get(self) -> None:
        pipelines = await self.blocking(list_pipeline_summaries, self.registry)
        answer: PipelineList = {"pipelines": pipelines}
        self.reply(answer)

    @endpoint
    async def post(self) -> None:
        root = self.provider.root_dir
        form = pipeline_form(self.json_body(), root)
        created = await self.blocking(save_pipeline, self.registry, form, root)
        self.reply(created, status=201)


class PipelineHandler(MlnbHandler):
    @endpoint
    async def get(self, name: str) -> None:
        limit = self.int_arg("limit", 20) or 20
        root = self.provider.root_dir
        self.reply(await self.blocking(pipeline_detail, self.registry, name, limit, root))


class CronHandler(MlnbHandler):
    @endpoint
    async def get(self) -> None:
        expression = self.text_arg("expr")
        if expression is None:
            raise ApiError(400, "expr is required: a cron expression such as '0 6 * * 1'.")
        timezone = self.text_arg("tz") or "UTC"
        count = self.int_arg("n", 5, hi=50) or 5
        self.reply(await self.blocking(cron_preview, expression, timezone, count))


class NotebooksHandler(MlnbHandler):
    @endpoint
    async def get(self) -> None:
        self.reply(await self.blocking(notebooks_under, self.provider.root_dir))


class PipelineActionHandler(MlnbHandler):
    @endpoint
    async def post(self, name: str, action: str) -> None:
        from mlnb.pipelines.api import set_pipeline_status

        self.json_body()
        registry = self.registry
        if action == "run":
            await self.blocking(registry.pipelines.get, name)  # 404 for an unknown name
            started = await self.blocking(
                start_pipeline_run,
                self.provider.home,
                self.provider.root_dir,
                name,
                self.user_name(),
            )
            self.reply(started, status=202)
            return
        status = "paused" if action == "pause" else "active"
        await self.blocking(set_pipeline_status, name, status, registry=registry)
        self.reply(await self.blocking(pipeline_detail, registry, name, 5))


class PipelineOutputHandler(MlnbHandler):
    @endpoint
    async def get(self, name: str, run_ref: str) -> None:
        from mlnb.pipelines.api import get_pipeline_run

        run_id = parse_id("pipeline run id", run_ref)
        run = await self.blocking(get_pipeline_run, run_id, registry=self.registry)
        if run.get("pipeline") != name:
            raise ApiError(404, f"pipeline {name} has no run #{run_id}.")
        self.reply(await self.blocking(render_output, run, name))


# -- monitors ----------------------------------------------------------------------------------

SPARKLINE_BATCHES = 30
SCORE_METRICS = ("accuracy", "balanced_accuracy", "f1", "roc_auc", "auc", "precision", "recall")
ERROR_METRICS = ("rmse", "mae", "mse", "log_loss", "error_rate", "r2")


def headline_metric(batches: list[Batch], thresholds: dict[str, float]) -> str | None:
    """The metric the sidebar draws: accuracy when there is one, else a thresholded or logged one."""
    logged = {k for b in batches for k in (b.get("metrics") or {})}
    for name in (*SCORE_METRICS, *ERROR_METRICS):
        if name in logged or name in thresholds:
            return name
    return min(logged) if logged else None


def drifted_columns(report: dict[str, Any] | None) -> list[str]:
    """Feature columns a stored drift report marks as drifted."""
    columns = (report or {}).get("columns") or []
    return [
        str(c.get("column"))
        for c in columns
        if isinstance(c, dict) and c.get("drifted") and c.get("role", "feature") == "feature"
    ]


def column_cells(report: dict[str, Any] | None) -> list[ColumnDrift]:
    """Each feature column's verdict, test, score and threshold from a stored drift report."""
    return [
        {
            "column": str(c.get("column")),
            "drifted": bool(c.get("drifted")),
            "test": c.get("test"),
            "score": c.get("score"),
            "threshold": c.get("threshold"),
        }
        for c in (report or {}).get("columns") or []
        if isinstance(c, dict) and c.get("role", "feature") == "feature"
    ]


def batch_brief(batch: dict[str, Any]) -> Batch:
    """One stored batch as the sidebar draws it: verdict, metrics, drifted columns."""
    return {
        "id": batch.get("batch_id", batch.get("id")),
        "batch_at": batch["batch_at"],
        "n_rows": batch.get("n_rows"),
        "n_drifted": batch.get("n_drifted"),
        "n_columns": batch.get("n_columns"),
        "dataset_drift": bool(batch.get("dataset_drift")),
        "metrics": batch.get("metrics") or {},
        "drifted_columns": drifted_columns(batch.get("report")),
        "columns": column_cells(batch.get("report")),
        "estimates": batch.get("estimates") or {},
        "label_coverage": (batch.get("labels") or {}).get("coverage"),
    }


def _monitor_view(
    registry: Registry, name: str, n_batches: int
) -> tuple[MonitorSummary, list[Batch]]:
    """The monitor's summary and its last ``n_batches`` batches (oldest first)."""
    from mlnb.monitoring.monitor import Monitor

    monitor = Monitor.load(name, registry=registry)
    status = monitor.status()
    history = monitor.history(limit=n_batches)
    batches = []
    for h in history:
        report = h.get("report") or {}
        batches.append(
            batch_brief(
                {
                    **h,
                    "n_drifted": report.get("n_drifted"),
                    "n_columns": report.get("n_columns"),
                    "dataset_drift": report.get("dataset_drift"),
                }
            )
        )
    thresholds = status["thresholds"]
    metric = headline_metric(batches, thresholds)
    series: list[AccuracyPoint] = [
        {"batch_at": b["batch_at"], "value": b["metrics"][metric]}
        for b in batches
        if metric is not None and isinstance(b["metrics"].get(metric), (int, float))
    ]
    latest: LatestBatch | None = None
    if batches:
        latest = {**batches[-1], "accuracy": series[-1]["value"] if series else None}
    summary: MonitorSummary = {
        "name": name,
        "model_name": status["model"],
        "n_batches": status["batches"],
        "metric": metric,
        "threshold": thresholds.get(metric) if metric else None,
        "thresholds": thresholds,
        "alert_when": monitor.alert_sides(),
        "latest": latest,
        "accuracy": series,
        "open_alerts": cast(list[Alert], status["open_alerts"]),
    }
    return summary, batches


def monitor_summary(registry: Registry, name: str, n_batches: int) -> MonitorSummary:
    """Latest drift verdict, the headline metric per batch with its threshold, open alerts."""
    return _monitor_view(registry, name, n_batches)[0]


def serving_health(registry: Registry, monitor: str, n_windows: int) -> ServingHealth | None:
    """The newest deployment whose traffic feeds ``monitor``: request rate, p95, error rate
    and its last ``n_windows`` scored windows (oldest first); None when none does."""
    fed = [d for d in registry.deployments.find() if d["config"].get("monitor") == monitor]
    if not fed:
        return None
    d = fed[0]
    brief = deployment_brief(d)
    assert brief is not None
    windows: list[ServingWindow] = [
        {
            "created_at": w["created_at"],
            "n_requests": w["n_requests"],
            "n_errors": w["n_errors"],
            "p95_ms": w["p95_ms"],
        }
        for w in registry.deployments.windows(d["id"])[-n_windows:]
    ]
    limit_p95, limit_errors = d["config"].get("max_p95_ms"), d["config"].get("max_error_rate")
    return {
        "deployment": brief,
        "model_name": d["model_name"],
        "error_rate": d["errors"] / d["requests"] if d["requests"] else None,
        "max_p95_ms": float(limit_p95) if limit_p95 is not None else None,
        "max_error_rate": float(limit_errors) if limit_errors is not None else None,
        "windows": windows,
    }


def monitor_detail(registry: Registry, name: str, n_batches: int) -> MonitorDetail:
    """The summary plus the batches it was made from, the monitor's latest 100 alerts and the
    health of the deployment that feeds it, if any."""
    summary, batches = _monitor_view(registry, name, n_batches)
    alerts = registry.alerts.find(monitor=name, limit=100)
    serving = serving_health(registry, name, n_batches)
    return {**summary, "batches": batches, "alerts": alerts, "serving": serving}


def list_monitor_summaries(registry: Registry) -> list[MonitorSummary]:
    """Every monitor's summary, with the last few batches for the sparkline."""
    from mlnb.monitoring.monitor import list_monitors

    return [
        monitor_summary(registry, row["name"], SPARKLINE_BATCHES) for row in list_monitors(registry)
    ]


class MonitorsHandler(MlnbHandler):
    @endpoint
    async def get(self) -> None:
        monitors = await self.blocking(list_monitor_summaries, self.registry)
        answer: MonitorList = {"monitors": monitors}
        self.reply(answer)


class MonitorHandler(MlnbHandler):
    @endpoint
    async def get(self, name: str) -> None:
        limit = self.int_arg("batches", 100) or 100
        self.reply(await self.blocking(monitor_detail, self.registry, name, limit))


# -- alerts -------------------------------------------------------------------------------------


class AlertsHandler(MlnbHandler):
    @endpoint
    async def get(self) -> None:
        status = self.text_arg("status")
        monitor = self.text_arg("monitor")
        pipeline = self.text_arg("pipeline")
        limit = self.int_arg("limit", 100)
        alerts = await self.blocking(
            self.registry.alerts.find,
            status=status,
            monitor=monitor,
            pipeline=pipeline,
            limit=limit,
        )
        answer: AlertList = {"alerts": alerts}
        self.reply(answer)


class AlertAckHandler(MlnbHandler):
    @endpoint
    async def post(self, alert_ref: str) -> None:
        self.json_body()
        alert_id = parse_id("alert id", alert_ref)
        alert = await self.blocking(self.registry.alerts.acknowledge, alert_id, self.user_name())
        self.reply(alert)


class NotFoundHandler(MlnbHandler):
    @endpoint
    async def get(self, path: str) -> None:
        raise ApiError(404, f"no mlnb API endpoint /{API_PREFIX}/{path}.")

    post = get


def _mlnb_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mlnb")
    except PackageNotFoundError:
        return "unknown"


ROUTES: list[tuple[str, type[MlnbHandler]]] = [
    (r"status", StatusHandler),
    (r"version", VersionHandler),
    (r"experiments", ExperimentsHandler),
    (r"runs", RunsHandler),
    (r"runs/([^/]+)", RunHandler),
    (r"compare", CompareHandler),
    (r"data", DataHandler),
    (r"data/([^/]+)/restore", DataRestoreHandler),
    (r"artifacts/([^/]+)/download", ArtifactDownloadHandler),
    (r"models", ModelsHandler),
    (r"models/([^/]+)", ModelHandler),
    (r"models/([^/]+)/versions/([^/]+)/lineage", LineageHandler),
    (r"models/([^/]+)/promote", PromoteHandler),
    (r"models/([^/]+)/rollback", RollbackHandler),
    (r"pipelines", PipelinesHandler),
    (r"pipelines/([^/]+)", PipelineHandler),
    (r"cron", CronHandler),
    (r"notebooks", NotebooksHandler),
    (r"pipelines/([^/]+)/(run|pause|resume)", PipelineActionHandler),
    (r"pipelines/([^/]+)/runs/([^/]+)/output", PipelineOutputHandler),
    (r"monitors", MonitorsHandler),
    (r"monitors/([^/]+)", MonitorHandler),
    (r"alerts", AlertsHandler),
    (r"alerts/([^/]+)/ack", AlertAckHandler),
]


def setup_handlers(serverapp: Any) -> None:
    """Attach the API to a ServerApp; the registry is opened lazily on the first request."""
    config = MlnbServer(parent=serverapp)
    root_dir = Path(serverapp.root_dir).expanduser().absolute()
    home = registry_home(config.registry, str(root_dir))
    web_app = serverapp.web_app
    web_app.settings["mlnb_registry"] = RegistryProvider(home, root_dir)
    base = web_app.settings["base_url"]
    handlers = [(url_path_join(base, API_PREFIX, pattern), cls) for pattern, cls in ROUTES]
    handlers.append((url_path_join(base, API_PREFIX, r"(.*)"), NotFoundHandler))
    web_app.add_handlers(".*$", handlers)
    serverapp.log.info("mlnb: sidebar API at %s serving the registry %s", API_PREFIX, home)
