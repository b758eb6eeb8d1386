"""Gates: named lists of checks, defined in code or in a YAML/TOML file next to the
notebook, evaluated on a holdout in one prediction pass."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlnb.errors import NotFoundError, ValidationError
from mlnb.lifecycle.checks import Check, CheckResult, check_from_dict
from mlnb.lifecycle.evaluation import Evaluation
from mlnb.lifecycle.holdout import split_holdout
from mlnb.render.models import gate_html, gate_text
from mlnb.tracking.estimators import signature as model_signature

GATE_FILES = ("gates.yaml", "gates.yml", "gates.toml")
GATE_SUFFIXES = (".yaml", ".yml", ".toml")


class Gate:
    """A named list of checks, optionally with the holdout file and target it runs on.

    Creating a Gate registers it by name for this process, so ``promote(..., gate="name")``
    finds it. ``holdout`` may be a path (relative to the gate file when loaded from one).
    """

    def __init__(
        self,
        name: str,
        checks: list[Check] | tuple[Check, ...],
        holdout: str | os.PathLike[str] | None = None,
        target: str | None = None,
        description: str = "",
        register: bool = True,
        base_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValidationError(f"a gate needs a non-empty name, got {name!r}.")
        checks = list(checks)
        if not checks:
            raise ValidationError(f"gate {name!r} has no checks; give at least one.")
        for c in checks:
            if not isinstance(c, Check):
                raise ValidationError(
                    f"gate {name!r}: {c!r} is not a check; use mlnb.checks.MinMetric, MaxMetric, "
                    "MaxLatency, MaxBias or NoRegression."
                )
        self.name = name.strip()
        self.checks = checks
        self.holdout = holdout
        self.target = target
        self.description = description
        self.base_dir = Path(base_dir) if base_dir is not None else None
        if register:
            _registered.add(self)

    def __repr__(self) -> str:
        return f"Gate({self.name!r}, {self.checks!r})"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "checks": [c.to_dict() for c in self.checks]}
        if self.holdout is not None:
            d["holdout"] = str(self.holdout)
        if self.target is not None:
            d["target"] = self.target
        if self.description:
            d["description"] = self.description
        return d

    @classmethod
    def from_dict(
        cls, name: str, spec: dict[str, Any], where: str = "", base_dir: Path | None = None
    ) -> Gate:
        if not isinstance(spec, dict):
            raise ValidationError(f"gate {name!r}{_in(where)} must be a mapping with 'checks'.")
        unknown = sorted(set(spec) - {"checks", "holdout", "target", "description", "name"})
        if unknown:
            raise ValidationError(
                f"gate {name!r}{_in(where)}: unknown key(s) {', '.join(unknown)}; a gate has "
                "checks, and optionally holdout, target and description."
            )
        checks = spec.get("checks")
        if not isinstance(checks, list) or not checks:
            raise ValidationError(f"gate {name!r}{_in(where)} needs a non-empty list of checks.")
        return cls(
            name,
            [check_from_dict(c, f"gate {name!r}{_in(where)}") for c in checks],
            holdout=spec.get("holdout"),
            target=spec.get("target"),
            description=spec.get("description", ""),
            register=False,
            base_dir=base_dir,
        )

    def holdout_path(self) -> Path | str | None:
        """The gate's own holdout: a path resolved against the gate file's folder, or a
        data version id."""
        if self.holdout is None:
            return None
        text = str(self.holdout)
        if text.startswith("dv-"):
            return text
        p = Path(text).expanduser()
        if not p.is_absolute() and self.base_dir is not None:
            p = self.base_dir / p
        return p

    def evaluate(
        self,
        model: Any,
        holdout: Any,
        target: str | None = None,
        signature: dict[str, Any] | None = None,
        baseline: Any = None,
    ) -> GateResult:
        """Run every check on ``holdout`` (a DataFrame that includes the target column)."""

        started = time.perf_counter()
        target = target or self.target
        if not target:
            raise ValidationError(
                f"gate {self.name!r} needs to know the target column: pass target=... "
                "(--target COL) or set target in the gate definition."
            )
        extra = sorted({c for check in self.checks for c in check.columns()})
        sig = signature if signature is not None else model_signature(model)
        X, y, notes = split_holdout(holdout, sig, target, extra)
        ev = Evaluation(model, X, y, frame=holdout)
        methods: set[str] = set()
        for check in self.checks:
            methods |= check.methods(ev)
        ev.plan(methods)
        if baseline is not None:
            baseline.prepare(holdout, target, self.checks)
        results: list[CheckResult] = []
        latency_s = 0.0
        for check in self.checks:
            t0 = time.perf_counter()
            results.extend(check.evaluate(ev, baseline))
            if check.kind == "max_latency":
                latency_s += time.perf_counter() - t0
        if baseline is not None:
            notes.extend(baseline.notes)
        total = time.perf_counter() - started
        return GateResult(
            gate=self.name,
            passed=all(r.passed for r in results),
            checks=results,
            n_rows=int(len(X)),
            target=target,
            notes=notes,
            metrics=ev.metrics,
            timings={
                "predict_s": ev.predict_seconds,
                "latency_s": latency_s,
                "baseline_s": getattr(baseline, "seconds", 0.0) if baseline is not None else 0.0,
                "total_s": total,
            },
            baseline_version=getattr(baseline, "version", None),
        )


@dataclass
class GateResult:
    """The verdict of one gate run: every check's value, threshold and verdict."""

    gate: str
    passed: bool
    checks: list[CheckResult]
    n_rows: int = 0
    target: str | None = None
    notes: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    baseline_version: int | None = None
    model: str | None = None
    version: int | None = None
    holdout_data_version: str | None = None
    id: int | None = None

    @property
    def failed_checks(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "gate": self.gate,
            "passed": self.passed,
            "model": self.model,
            "version": self.version,
            "baseline_version": self.baseline_version,
            "holdout_data_version": self.holdout_data_version,
            "n_rows": self.n_rows,
            "target": self.target,
            "checks": [c.to_dict() for c in self.checks],
            "metrics": self.metrics,
            "notes": self.notes,
            "timings": self.timings,
        }

    def __repr__(self) -> str:
        return gate_text(self.to_dict())

    def _repr_html_(self) -> str:
        return gate_html(self.to_dict())


# -- gates registered in code ------------------------------------------------------------


class _Registered:
    def __init__(self) -> None:
        self._gates: dict[str, Gate] = {}
        self._lock = threading.Lock()

    def add(self, gate: Gate) -> None:
        with self._lock:
            self._gates[gate.name] = gate

    def get(self, name: str) -> Gate | None:
        with self._lock:
            return self._gates.get(name)

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._gates)

    def clear(self) -> None:
        with self._lock:
            self._gates.clear()


_registered = _Registered()


def register(gate: Gate) -> Gate:
    """Make ``gate`` findable by name in this process (Gate(...) does this by default)."""
    if not isinstance(gate, Gate):
        raise ValidationError(f"register() takes a Gate, got {type(gate).__name__}.")
    _registered.add(gate)
    return gate


def registered_gates() -> list[str]:
    return _registered.names()


# -- gate files ------------------------------------------------------------------------------


def load_gate_file(path: str | os.PathLike[str]) -> dict[str, Gate]:
    """Every gate defined in a YAML or TOML file (``gates:`` mapping name -> definition)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise NotFoundError(f"gate file {p} does not exist.")
    suffix = p.suffix.lower()
    text = p.read_text(encoding="utf-8")
    try:
        if suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            raise ValidationError(f"gate file {p.name} must end in .yaml, .yml or .toml.")
    except ValidationError:
        raise
    except Exception as exc:
        raise ValidationError(f"cannot parse gate file {p}: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationError(f"gate file {p} must hold a mapping of gate names to definitions.")
    gates = data.get("gates", data)
    if not isinstance(gates, dict) or not gates:
        raise ValidationError(
            f"gate file {p} defines no gates; write `gates:` followed by `NAME: {{checks: [...]}}`."
        )
    return {
        str(name): Gate.from_dict(str(name), spec, where=str(p), base_dir=p.parent.resolve())
        for name, spec in gates.items()
    }


def resolve_gate(spec: Any, search_dir: str | os.PathLike[str] | None = None) -> Gate:
    """A Gate from a Gate object, a ``{...}`` definition, ``path.yaml:name``, a gate file
    path, or a bare name (registered in code, else looked up in gates.yaml/gates.toml in
    ``search_dir`` or the working folder)."""
    if isinstance(spec, Gate):
        return spec
    if isinstance(spec, dict):
        name = spec.get("name", "gate")
        return Gate.from_dict(str(name), spec, base_dir=Path(search_dir or Path.cwd()))
    if isinstance(spec, (list, tuple)) and all(isinstance(c, Check) for c in spec):
        return Gate("gate", list(spec), register=False)
    if not isinstance(spec, (str, os.PathLike)) or not str(spec).strip():
        raise ValidationError(
            f"gate must be a Gate, a gate name, or 'file.yaml:name'; got {spec!r}."
        )
    text = str(spec).strip()
    folder = Path(search_dir) if search_dir else Path.cwd()
    path_part, sep, name = text.rpartition(":")
    if sep and path_part.lower().endswith(GATE_SUFFIXES):
        return _gate_from_file(_relative(path_part, folder), name)
    if text.lower().endswith(GATE_SUFFIXES):
        gates = load_gate_file(_relative(text, folder))
        if len(gates) == 1:
            return next(iter(gates.values()))
        raise ValidationError(
            f"{text} defines several gates ({', '.join(gates)}); choose one with '{text}:NAME'."
        )
    found = _registered.get(text)
    if found is not None:
        return found
    for filename in GATE_FILES:
        candidate = folder / filename
        if candidate.is_file():
            gates = load_gate_file(candidate)
            if text in gates:
                return gates[text]
    searched = ", ".join(str(folder / f) for f in GATE_FILES)
    known = registered_gates()
    raise NotFoundError(
        f"no gate named {text!r}: not registered in code"
        + (f" (registered: {', '.join(known)})" if known else "")
        + f" and not found in {searched}. Define it with mlnb.Gate({text!r}, [...]) or "
        "in gates.yaml, or pass 'path/to/gates.yaml:NAME'."
    )


def _relative(path: str, folder: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else folder / p


def _gate_from_file(path: Path, name: str) -> Gate:
    gates = load_gate_file(path)
    if name not in gates:
        raise NotFoundError(
            f"gate file {path} has no gate {name!r}; it defines {', '.join(gates)}."
        )
    return gates[name]


def _in(where: str) -> str:
    return f" in {where}" if where else ""
