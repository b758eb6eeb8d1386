"""Promotion through gates: ``mlnb.promote``, ``mlnb.run_gate`` and their results.

``promote`` evaluates the gate on the holdout, records every check, and moves the version
only when all checks pass, in one write transaction that also archives the version it
replaces. If production changed while the gate ran (a concurrent promotion), nothing is
changed and the caller is told to run again.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlnb.errors import GateFailed, NotFoundError, ValidationError
from mlnb.lifecycle.checks import CheckResult
from mlnb.lifecycle.evaluation import Evaluation
from mlnb.lifecycle.gate import Gate, GateResult, resolve_gate
from mlnb.lifecycle.holdout import read_table, split_holdout
from mlnb.lifecycle.versions import ModelVersion
from mlnb.render.models import promotion_html, promotion_text
from mlnb.store.records import ModelVersionRecord
from mlnb.store.refs import is_number, parse_model_ref
from mlnb.store.registry import Registry, RegistryArg, get_registry
from mlnb.tracking.artifacts import load_artifact
from mlnb.tracking.data import load_snapshot, record_data
from mlnb.tracking.estimators import signature
from mlnb.tracking.fingerprint import describe, is_data

PROMOTION_STAGES = ("staging", "production", "archived")


# -- the production version a candidate is compared with ------------------------------------


class Baseline:
    """The current production version as seen by NoRegression checks.

    Its metric on a holdout is taken from an earlier gate result on the same holdout (same
    content fingerprint) when one exists; otherwise the model is loaded (hash checked) and
    predicts once.
    """

    def __init__(
        self,
        model: Any = None,
        label: str = "baseline",
        version: int | None = None,
        registry: Registry | None = None,
        row: Mapping[str, Any] | None = None,
        holdout_data_version: str | None = None,
    ) -> None:
        self.label = label
        self.version = version
        self.notes: list[str] = []
        self.seconds = 0.0
        self._model = model
        self._registry = registry
        self._row = row
        self._holdout_dv = holdout_data_version
        self._frame: Any = None
        self._target: str | None = None
        self._evaluation: Any = None

    @classmethod
    def from_version(
        cls, registry: Registry, row: Mapping[str, Any], holdout_data_version: str | None
    ) -> Baseline:
        return cls(
            label=f"production v{row['version']}",
            version=int(row["version"]),
            registry=registry,
            row=row,
            holdout_data_version=holdout_data_version,
        )

    def prepare(self, holdout: Any, target: str, checks: list[Any]) -> None:
        self._frame = holdout
        self._target = target

    def metric(self, spec: Any) -> tuple[float, str]:
        """(value, where it came from: 'recorded gate result #N' or 'computed')."""
        recorded = self._recorded(spec)
        if recorded is not None:
            return recorded
        started = time.perf_counter()
        try:
            value = self._evaluate().metric(spec)
        finally:
            self.seconds += time.perf_counter() - started
        return value, "computed"

    def _recorded(self, spec: Any) -> tuple[float, str] | None:
        if self._registry is None or self._row is None or not self._holdout_dv:
            return None
        if spec.scorer_name.startswith("callable:"):
            return None
        version_id = self._row["id"]
        for result in self._registry.models.gate_results_involving(version_id, self._holdout_dv):
            for check in result["checks"]:
                value = _recorded_value(check, result, version_id, self.version, spec, self._target)
                if value is not None:
                    return value, f"recorded gate result #{result['id']}"
        return None

    def _evaluate(self) -> Any:
        if self._evaluation is not None:
            return self._evaluation

        signature = None
        if self._model is None:
            assert self._registry is not None and self._row is not None
            self._model = load_artifact(self._registry, self._row["artifact_id"])
            signature = self._row.get("signature")
        X, y, _ = split_holdout(self._frame, signature or _signature(self._model), self._target)
        self._evaluation = Evaluation(self._model, X, y, frame=self._frame, label=self.label)
        return self._evaluation


def _recorded_value(
    check: Mapping[str, Any],
    result: Mapping[str, Any],
    version_id: int,
    version: int | None,
    spec: Any,
    target: str | None,
) -> float | None:
    if check.get("metric") != spec.scorer_name:
        return None
    details = check.get("details") or {}
    if details.get("target") != target:
        return None
    if result["version_id"] == version_id:
        if check.get("kind") in ("min_metric", "max_metric"):
            return check.get("value")
        if check.get("kind") == "no_regression":
            return details.get("candidate")
    elif check.get("kind") == "no_regression" and details.get("baseline_version") == version:
        return details.get("baseline")
    return None


def _signature(model: Any) -> dict[str, Any]:

    return signature(model)


# -- holdout --------------------------------------------------------------------------------


def load_holdout(holdout: Any, gate: Gate, registry: Registry) -> tuple[Any, str | None, str]:
    """(frame, data version id, description) for a DataFrame, a file, a data version id, or
    the gate's own holdout."""

    source = holdout if holdout is not None else gate.holdout_path()
    if source is None:
        raise ValidationError(
            f"gate {gate.name!r} needs a holdout: pass holdout=<DataFrame or path> "
            "(--holdout) or set holdout in the gate definition."
        )
    if isinstance(source, (str, os.PathLike)):
        text = str(source)
        if text.startswith("dv-") and not Path(text).exists():
            frame = load_snapshot(registry, text)
            known = registry.data.get(text)
            return frame, known["id"], f"data version {known['id']}"
        path = Path(text).expanduser()
        frame = read_table(path)
        version = record_data(registry, path, name="holdout")
        return frame, version["id"], str(path)

    if not is_data(source) or not hasattr(source, "columns"):
        raise ValidationError(
            f"holdout must be a DataFrame (including the target column), a CSV/parquet path or "
            f"a data version id; got a {type(source).__name__}."
        )
    described = describe(source)
    record_data(registry, source, name="holdout", described=described)
    return source, described["id"], f"DataFrame {described['n_rows']}x{described['n_cols']}"


# -- run_gate ---------------------------------------------------------------------------------


def run_gate(
    gate: Any,
    name_or_model: Any,
    version: int | str | None = None,
    holdout: Any = None,
    target: str | None = None,
    against: str | None = None,
    record: bool = True,
    registry: RegistryArg = None,
) -> GateResult:
    """Evaluate a gate without promoting anything.

    ``name_or_model`` is a registered model name (with ``version``, default latest), a
    reference such as ``"churn/3"``, or a fitted model object (then ``against`` names the
    registered model whose production version NoRegression compares with). Results for a
    registered version are recorded in the registry unless ``record=False``.
    """
    reg = get_registry(registry)
    gate_obj = resolve_gate(gate)
    if isinstance(name_or_model, str):
        row = _version_row(reg, name_or_model, version)
        current = reg.models.production_version(row["model"])
        return _evaluate_version(reg, gate_obj, row, holdout, target, current, record)
    if version is not None:
        raise ValidationError("version= only applies when a registered model name is given.")
    frame, dv, _ = load_holdout(holdout, gate_obj, reg)
    baseline = None
    if against is not None:
        current = reg.models.production_version(against)
        if current is not None:
            baseline = Baseline.from_version(reg, current, dv)
    result = gate_obj.evaluate(name_or_model, frame, target, baseline=baseline)
    result.holdout_data_version = dv
    result.model = against
    return result


def _evaluate_version(
    reg: Registry,
    gate: Gate,
    row: Mapping[str, Any],
    holdout: Any,
    target: str | None,
    current: Mapping[str, Any] | None,
    record: bool = True,
) -> GateResult:
    """Load the registered version (hash checked), run the gate, record the result."""
    frame, dv, _ = load_holdout(holdout, gate, reg)
    model = load_artifact(reg, row["artifact_id"])
    baseline = None
    if current is not None and current["id"] != row["id"]:
        baseline = Baseline.from_version(reg, current, dv)
    result = gate.evaluate(
        model, frame, target, signature=row.get("signature") or None, baseline=baseline
    )
    result.model = row["model"]
    result.version = int(row["version"])
    result.holdout_data_version = dv
    if record:
        result.id = reg.models.record_gate_result(
            row["id"],
            gate.name,
            result.passed,
            [c.to_dict() for c in result.checks],
            baseline_version_id=current["id"] if baseline is not None and current else None,
            holdout_data_version=dv,
        )
    return result


def _version_row(reg: Registry, name: str, version: Any) -> ModelVersionRecord:
    """The version row for (name, version) where version may be a number, a ModelVersion, a
    reference, or None (latest); refuses a version that belongs to another model."""

    if version is None:
        return reg.models.resolve(name)
    model_name = parse_model_ref(name).name if ("/" in name or "@" in name) else name
    if isinstance(version, ModelVersion):
        if version.name != model_name:
            raise ValidationError(
                f"version {version.version} belongs to model {version.name!r}, not "
                f"{model_name!r}; promote it as {version.name!r} or pick a version of {model_name!r}."
            )
        return reg.models.version(model_name, version.version)
    if isinstance(version, bool):
        raise ValidationError(f"a version is a positive whole number, got {version!r}.")
    if isinstance(version, int) or (isinstance(version, str) and is_number(version.strip())):
        number = int(version)
        if number <= 0:
            raise ValidationError(f"model versions start at 1, got {number}.")
        return reg.models.version(model_name, number)
    if isinstance(version, str):
        ref = parse_model_ref(
            version if ("/" in version or "@" in version) else f"{model_name}@{version}"
        )
        if ref.name != model_name:
            raise ValidationError(
                f"{version!r} is a version of model {ref.name!r}, not {model_name!r}; a model "
                "can only promote its own versions."
            )
        return reg.models.resolve(str(ref))
    raise ValidationError(f"cannot read version {version!r}: give a number such as 3.")


# -- promote ----------------------------------------------------------------------------------


@dataclass
class PromotionResult:
    """What ``promote`` did: the gate verdict and whether the version moved."""

    name: str
    version: int
    to: str
    promoted: bool
    gate: GateResult | None = None
    previous_production: int | None = None
    production_version: int | None = None
    reason: str = ""
    message: str = ""
    forced: bool = False
    transitions: list[dict[str, Any]] = field(default_factory=list)
    deferred: bool = False  # left to the pipeline run this notebook executes in

    @property
    def passed(self) -> bool:
        return self.gate is None or self.gate.passed

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "version": self.version,
            "to": self.to,
            "promoted": self.promoted,
            "forced": self.forced,
            "previous_production": self.previous_production,
            "production_version": self.production_version,
            "reason": self.reason,
            "message": self.message,
            "gate": self.gate.to_dict() if self.gate else None,
            "transitions": self.transitions,
            "deferred": self.deferred,
        }

    def __repr__(self) -> str:
        return promotion_text(self.to_dict())

    def _repr_html_(self) -> str:
        return promotion_html(self.to_dict())


def promote(
    name: str,
    version: int | str | None = None,
    to: str = "production",
    gate: Any = None,
    holdout: Any = None,
    target: str | None = None,
    reason: str = "",
    force: bool = False,
    raise_on_failure: bool = False,
    registry: RegistryArg = None,
    defer_to_pipeline: bool = True,
) -> PromotionResult:
    """Run ``gate`` on ``holdout`` against a version of ``name`` and move it to ``to`` only if
    every check passes (``force=True`` moves it anyway and says so in the record).

    Inside a pipeline run whose pipeline gates and promotes (``--promote-to``), the call is
    recorded and left to the pipeline (``deferred=True``), so that the training notebook
    runs unchanged as a pipeline; the pipeline's own step passes ``defer_to_pipeline=False``.

    ``version`` None means the latest version. ``gate`` is a Gate, a name registered in code
    or found in gates.yaml/gates.toml, or ``"path.yaml:name"``. ``holdout`` is a DataFrame
    with the target column, a CSV/parquet path or a data version id (default: the gate's
    own). A failed gate leaves production untouched and returns ``promoted=False`` (or
    raises GateFailed with ``raise_on_failure=True``).
    """
    reg = get_registry(registry)
    if to not in PROMOTION_STAGES:
        raise ValidationError(
            f"cannot promote to {to!r}: choose one of {', '.join(PROMOTION_STAGES)}."
        )
    if gate is None and (holdout is not None or target is not None):
        raise ValidationError("holdout/target were given without a gate; pass gate=... too.")
    row = _version_row(reg, name, version)
    model_name, number = row["model"], int(row["version"])
    if defer_to_pipeline:
        left_to_pipeline = _pipeline_promotes_instead(reg, model_name, number, to, gate)
        if left_to_pipeline is not None:
            return left_to_pipeline
    _check_movable(row, to)
    current = reg.models.production_version(model_name)
    previous = int(current["version"]) if current else None
    result = PromotionResult(model_name, number, to, False, previous_production=previous)
    gate_obj = None
    if gate is not None:
        if to == "archived":
            raise ValidationError("archiving does not run a gate; drop gate=... for to='archived'.")
        gate_obj = resolve_gate(gate)
        result.gate = _evaluate_version(reg, gate_obj, row, holdout, target, current)
        if not result.gate.passed and not force:
            failed = ", ".join(c.name for c in result.gate.failed_checks)
            result.production_version = previous
            result.message = (
                f"{model_name} v{number} was NOT promoted to {to}: gate {gate_obj.name!r} failed "
                f"({failed}). "
                + (
                    f"Production stays at v{previous}."
                    if previous is not None
                    else "There is still no production version."
                )
            )
            if raise_on_failure:
                raise GateFailed(result.message, result)
            return result
    result.forced = bool(gate_obj is not None and result.gate and not result.gate.passed)
    result.reason = _reason(reason, gate_obj, result)
    result.transitions = reg.models.transition(
        model_name,
        number,
        to,
        reason=result.reason,
        gate_result_id=result.gate.id if result.gate else None,
        expected_production_id=current["id"] if current else None,
    )
    result.promoted = True
    now_prod = reg.models.production_version(model_name)
    result.production_version = int(now_prod["version"]) if now_prod else None
    result.message = (
        f"{model_name} v{number} moved to {to}"
        + (f" (v{previous} archived)" if to == "production" and previous is not None else "")
        + (" despite the failed gate (forced)" if result.forced else "")
        + "."
    )
    return result


def _pipeline_promotes_instead(
    reg: Registry, model: str, number: int, to: str, gate: Any
) -> PromotionResult | None:
    """Inside a pipeline run whose pipeline gates and promotes this model (``--promote-to``),
    the notebook's own promotion is recorded in the run and left to the pipeline: one
    promotion per run, through the pipeline's gate, after the notebook ends. The notebook
    thus runs unchanged as a pipeline; elsewhere (and for other models) this returns None."""
    raw = os.environ.get("MLNB_PIPELINE_RUN_ID", "")
    if to == "archived" or not raw.isdigit():
        return None
    try:
        run = reg.pipelines.run(int(raw))
        pipeline = reg.pipelines.get_by_id(run["pipeline_id"])
    except NotFoundError:
        return None
    config = pipeline["config"]
    stage, only = config.get("promote_to"), config.get("model")
    if not stage or (only and only != model):
        return None
    requested = {"model": model, "version": number, "to": to, "gate": _gate_name(gate)}
    earlier = run["details"].get("notebook_promotions", [])
    reg.pipelines.merge_run_details(run["id"], {"notebook_promotions": [*earlier, requested]})
    current = reg.models.production_version(model)
    previous = int(current["version"]) if current else None
    return PromotionResult(
        model,
        number,
        to,
        False,
        previous_production=previous,
        production_version=previous,
        message=(
            f"{model} v{number} is left to pipeline {pipeline['name']} (run #{run['id']}): "
            f"after the notebook ends, the pipeline puts the model this run registered through "
            f"its gate {config.get('gate') or '(none)'} and promotes it to {stage} if it passes."
        ),
        deferred=True,
    )


def _gate_name(gate: Any) -> str | None:
    if gate is None or isinstance(gate, str):
        return gate
    return str(getattr(gate, "name", gate))


def _check_movable(row: Mapping[str, Any], to: str) -> None:
    """Early, friendly refusals; the transaction re-checks the same rules atomically."""
    name, number, stage = row["model"], row["version"], row["stage"]
    if stage == to:
        raise ValidationError(f"{name} version {number} is already in {to}.")
    if stage == "archived":
        raise ValidationError(
            f"{name} version {number} is archived and cannot be promoted. To bring back the "
            f"previous production version run `mlnb rollback {name}`; to reuse this artifact, "
            f"register it again: mlnb.register_model('artifact:{row['artifact_id']}', '{name}')."
        )


def _reason(reason: str, gate: Gate | None, result: PromotionResult) -> str:
    parts = [reason.strip()] if reason and reason.strip() else []
    if gate is None:
        parts.append("no gate")
    elif result.forced:
        failed = ", ".join(c.name for c in result.gate.failed_checks) if result.gate else ""
        parts.append(f"FORCED past failed gate {gate.name} ({failed})")
    else:
        parts.append(f"gate {gate.name} passed")
    return "; ".join(parts)


def gate_result(gate_result_id: int, registry: RegistryArg = None) -> GateResult:
    """A recorded gate result, displayable like a fresh one."""

    reg = get_registry(registry)
    row = reg.models.gate_result(gate_result_id)
    return GateResult(
        gate=row["gate"],
        passed=row["passed"],
        checks=[CheckResult.from_dict(c) for c in row["checks"]],
        baseline_version=row.get("baseline_version"),
        version=row.get("version"),
        holdout_data_version=row.get("holdout_data_version"),
        id=row["id"],
    )


__all__ = [
    "Baseline",
    "PromotionResult",
    "promote",
    "run_gate",
    "gate_result",
    "load_holdout",
    "NotFoundError",
]
