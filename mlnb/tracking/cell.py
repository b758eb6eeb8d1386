"""Capturing what one notebook cell did, given its source and the user namespace.

Used by ``%%track`` and ``%track on`` but free of IPython: ``before()`` runs ahead of the
cell (fingerprints the inputs, starts the run, watches pandas readers), ``after()`` runs once
it has finished (params, outputs, models, metrics) and returns a :class:`CaptureSummary`.
Every step is guarded: something mlnb cannot handle becomes a note, never an exception in the
user's cell.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from mlnb.render.runs import summary_html, summary_text
from mlnb.store.registry import Registry
from mlnb.tracking import fingerprint as fp
from mlnb.tracking.artifacts import save_model
from mlnb.tracking.data import record_data
from mlnb.tracking.estimators import fit_token, flat_params, is_estimator, is_fitted
from mlnb.tracking.estimators import signature as model_signature
from mlnb.tracking.parameters import PARAMETERS_TAG, notebook_parameters
from mlnb.tracking.run import Run, activate, current_experiment, deactivate, start_run
from mlnb.tracking.source import CellAnalysis, analyse, strip_ipython_syntax

PANDAS_READERS = (
    "read_csv",
    "read_table",
    "read_parquet",
    "read_json",
    "read_excel",
    "read_feather",
    "read_orc",
    "read_fwf",
    "read_xml",
    "read_stata",
    "read_sas",
    "read_spss",
    "read_hdf",
    "read_pickle",
)
METRIC_NAME_HINTS = (
    "acc",
    "accuracy",
    "f1",
    "auc",
    "roc_auc",
    "precision",
    "recall",
    "rmse",
    "mse",
    "mae",
    "r2",
    "loss",
    "logloss",
    "log_loss",
    "score",
)


@dataclass
class TrackOptions:
    """The flags of ``%%track``."""

    name: str = ""
    params: list[str] | None = None
    metrics: list[str] = field(default_factory=list)
    data: bool = True
    models: bool = True
    experiment: str | None = None


@dataclass
class CaptureSummary:
    """What a tracked cell recorded; shown after the cell (HTML in Jupyter, text elsewhere)."""

    run_id: int
    experiment: str
    name: str
    status: str
    seconds: float
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return summary_text(self)

    def _repr_html_(self) -> str:
        return summary_html(self)


class CellCapture:
    """Capture one execution of a cell into a new run."""

    def __init__(
        self,
        registry: Registry,
        namespace: dict[str, Any],
        source: str,
        options: TrackOptions | None = None,
        execution_count: int | None = None,
        notebook_path: str | None = None,
        analysed_source: str | None = None,
    ) -> None:
        self.registry = registry
        self.ns = namespace
        self.source = source
        self.options = options or TrackOptions()
        self.execution_count = execution_count
        self.notebook_path = notebook_path
        self.analysis: CellAnalysis = analyse(
            analysed_source if analysed_source is not None else source
        )
        self.run: Run | None = None
        self.notes: list[str] = []
        self._inputs: dict[str, dict[str, Any]] = {}
        self._fitted_before: dict[str, int] = {}
        self._files: dict[str, str] = {}
        self._restore_readers: Callable[[], None] | None = None
        self._started = 0.0

    # -- before the cell ---------------------------------------------------------------

    def before(self) -> Run:
        self._started = time.perf_counter()
        _warm_up_model_saving()
        if self.analysis.syntax_error:
            self.notes.append(
                f"could not parse the cell ({self.analysis.syntax_error}); params and metrics from its source were skipped"
            )
        self.run = start_run(
            name=self.options.name or self._default_name(),
            experiment=self.options.experiment or current_experiment(),
            registry=self.registry,
            source="cell",
            notebook_path=self.notebook_path,
            cell_source=self.source,
            execution_count=self.execution_count,
        )
        activate(self.run)
        if self.options.data:
            with self._guard("fingerprinting inputs"), fp.one_snapshot():
                self._fingerprint_inputs()
            with self._guard("watching pandas readers"):
                self._restore_readers = _watch_pandas_readers(self._files)
        with self._guard("inspecting models"):
            for name in self.analysis.loaded:
                obj = self.ns.get(name)
                if is_estimator(obj) and is_fitted(obj):
                    self._fitted_before[name] = fit_token(obj)
        return self.run

    def _default_name(self) -> str:
        for line in self.source.splitlines():
            text = line.strip()
            if text.startswith("#") and len(text) > 1:
                return text.lstrip("# ")[:80]
        return f"cell {self.execution_count}" if self.execution_count else "cell"

    def _fingerprint_inputs(self) -> None:
        for name in self.analysis.inputs:
            obj = self.ns.get(name)
            if obj is not None and fp.is_data(obj):
                try:
                    self._inputs[name] = fp.describe(obj)
                except Exception as exc:
                    self.notes.append(f"input {name} skipped: {type(exc).__name__}: {exc}")

    # -- after the cell ----------------------------------------------------------------

    def after(self, error: BaseException | None = None) -> CaptureSummary:
        """Record everything the cell did and end the run (failed if the cell raised)."""
        assert self.run is not None, "before() must run first"
        run = self.run
        if self._restore_readers is not None:
            with self._guard("restoring pandas readers"):
                self._restore_readers()
        deactivate(run)
        summary = CaptureSummary(
            run_id=run.id, experiment=run.experiment, name=run.name, status="running", seconds=0.0
        )
        steps = [("params", self._record_params)]
        if self.options.data:
            steps.append(("data", self._record_data))
        if self.options.models:
            steps.append(("models", self._record_models))
        steps.append(("metrics", self._record_metrics))
        for what, step in steps:
            with self._guard(f"recording {what}"):
                step(summary)
        status = "finished"
        message = None
        if isinstance(error, KeyboardInterrupt):
            status = "interrupted"
            message = "interrupted (KeyboardInterrupt: the kernel was interrupted or restarted)"
        elif error is not None:
            status = "failed"
            message = f"{type(error).__name__}: {error}"
        with self._guard("ending the run"):
            run.end(status, message)
        summary.status = run.status
        summary.seconds = time.perf_counter() - self._started
        summary.notes = self.notes + run.notes
        return summary

    @property
    def _run_id(self) -> int:
        """The id of this cell's run: the record steps run only after it has started."""
        if self.run is None:
            raise RuntimeError("mlnb: the cell's run was not started")
        return self.run.id

    def _record_params(self, summary: CaptureSummary) -> None:
        """Literals of the cell, the fitted models' ``get_params()`` and the parameters of
        the papermill execution this kernel runs (a value set in the cell wins)."""
        execution = papermill_parameters(self.ns)
        params: dict[str, Any] = dict(execution)
        wanted = self.options.params
        if wanted is not None:
            for name in wanted:
                if name in self.analysis.literals:
                    params[name] = self.analysis.literals[name]
                elif name in self.ns and _is_param_value(self.ns[name]):
                    params[name] = self.ns[name]
                else:
                    self.notes.append(f"param {name} not found in the cell or namespace")
        else:
            params.update(
                {
                    k: v
                    for k, v in self.analysis.literals.items()
                    if _is_param_value(v)
                    and not (_looks_like_metric(k) and _is_number(v))
                    and k not in self.options.metrics
                }
            )
            models = {name: self.ns[name] for name in self._fitted_model_names()}
            params.update(estimator_params(models, taken=params))
        if params:
            self.registry.runs.log_params(self._run_id, params)
        if execution:
            self.registry.runs.set_tags(self._run_id, {PARAMETERS_TAG: ",".join(execution)})
        summary.params = params

    def _record_data(self, summary: CaptureSummary) -> None:
        """Inputs, outputs and files of the cell; outputs sharing buffers are hashed once."""
        with fp.one_snapshot():
            self._record_data_versions(summary)

    def _record_data_versions(self, summary: CaptureSummary) -> None:
        links = []
        for name, described in self._inputs.items():
            self.registry.data.record({**described, "name": name})
            links.append((described["id"], "input", name))
            summary.inputs.append(_data_brief(name, described))
        input_ids = {d["id"] for d in self._inputs.values()}
        for name in self.analysis.stored:
            obj = self.ns.get(name)
            if obj is None or not fp.is_data(obj):
                continue
            try:
                described = fp.describe(obj)
            except Exception as exc:
                self.notes.append(f"output {name} skipped: {type(exc).__name__}: {exc}")
                continue
            if described["id"] in input_ids and name in self._inputs:
                continue
            self.registry.data.record({**described, "name": name})
            links.append((described["id"], "output", name))
            summary.outputs.append(_data_brief(name, described))
        for path in _literal_read_paths(self.source):
            self._files.setdefault(path, "")
        for path in list(self._files):
            try:
                version = record_data(self.registry, path, name=Path(path).name)
            except Exception as exc:
                self.notes.append(f"file {path} skipped: {exc}")
                continue
            links.append((version["id"], "input", Path(path).name))
            summary.files.append({"name": Path(path).name, "id": version["id"], "path": path})
        self.registry.data.link(self._run_id, links)

    def _fitted_model_names(self) -> list[str]:
        names = []
        candidates = list(dict.fromkeys([*self.analysis.fitted, *self.analysis.stored]))
        for name in candidates:
            obj = self.ns.get(name)
            if not (is_estimator(obj) and is_fitted(obj)):
                continue
            if name in self.analysis.fitted or name not in self._fitted_before:
                names.append(name)
            elif self._fitted_before.get(name) != fit_token(obj):
                names.append(name)
        return names

    def _record_models(self, summary: CaptureSummary) -> None:
        for name in self._fitted_model_names():
            model = self.ns[name]
            X = None
            for xname in self.analysis.fitted.get(name, []):
                X = self.ns.get(xname)
                if X is not None:
                    break
            try:
                artifact = save_model(
                    self.registry,
                    model,
                    name=name,
                    run_id=self._run_id,
                    signature=model_signature(model, X),
                )
            except Exception as exc:
                self.notes.append(f"model {name} not saved: {exc}")
                continue
            summary.models.append(
                {
                    "name": name,
                    "artifact_id": artifact["id"],
                    "class_name": artifact["class_name"].rsplit(".", 1)[-1],
                    "hash": artifact["object_hash"],
                    "size": artifact["size"],
                    "n_inputs": len(artifact["signature"].get("inputs", [])),
                }
            )

    def _record_metrics(self, summary: CaptureSummary) -> None:
        metrics: dict[str, float] = {}
        for var, func in self.analysis.metric_candidates.items():
            value = self.ns.get(var)
            if _is_number(value) and (self._is_metric_function(func) or _looks_like_metric(var)):
                metrics[var] = float(value)
        for var in self.analysis.stored:
            if var not in metrics and _looks_like_metric(var) and _is_number(self.ns.get(var)):
                metrics[var] = float(self.ns[var])
        for var in self.options.metrics:
            value = self.ns.get(var)
            if _is_number(value):
                metrics[var] = float(value)
            else:
                self.notes.append(f"metric {var} skipped: it is not a number in the namespace")
        if metrics:
            self.registry.runs.log_metrics(self._run_id, metrics)
        explicit = self.registry.runs.metric_history(self._run_id)
        summary.metrics = {k: v[-1]["value"] for k, v in explicit.items()}

    def _is_metric_function(self, qualified: str) -> bool:
        parts = qualified.split(".")
        if parts[-1] == "score" and len(parts) >= 2:
            return is_estimator(self.ns.get(parts[0])) or parts[0] == "()"
        obj: Any = self.ns.get(parts[0])
        for attr in parts[1:]:
            obj = getattr(obj, attr, None)
        module = getattr(obj, "__module__", "") or ""
        return module.startswith("sklearn.metrics")

    @contextlib.contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            self.notes.append(f"{what} failed: {type(exc).__name__}: {exc}")


def _warm_up_model_saving() -> None:
    """Import skops in the background while the first cell that uses scikit-learn runs, so
    saving its model afterwards does not pay the import on the user's clock."""
    if "sklearn" in sys.modules and "skops.io" not in sys.modules:
        import threading

        def load() -> None:
            try:
                import skops.io  # noqa: F401
            except Exception:
                pass

        threading.Thread(target=load, name="mlnb-warmup", daemon=True).start()


def _is_number(value: Any) -> TypeGuard[numbers.Real]:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    return not math.isnan(float(value))


def _is_param_value(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return not isinstance(value, str) or len(value) <= 1000
    if isinstance(value, (list, tuple)):
        return len(value) <= 50 and all(_is_param_value(v) for v in value)
    if isinstance(value, dict):
        return len(value) <= 50 and all(
            isinstance(k, str) and _is_param_value(v) for k, v in value.items()
        )
    return False


def _looks_like_metric(name: str) -> bool:
    lowered = name.lower()
    return any(
        lowered == hint or lowered.startswith(hint + "_") or lowered.endswith("_" + hint)
        for hint in METRIC_NAME_HINTS
    )


def estimator_params(models: dict[str, Any], taken: dict[str, Any]) -> dict[str, Any]:
    """The hyper-parameters of the models fitted in a cell, named by scikit-learn's own
    ``get_params()`` keys (``C``, ``max_depth``, ``clf__C``) as MLflow autolog names them,
    so runs line up in a comparison whatever the model variable is called.

    A key is prefixed with the variable name (``rf.max_depth``) only on a real collision: a
    model whose value differs from the cell's literal of that name (``taken``), or models
    that disagree with each other (then each keeps its value under its own name).
    Values that differ from the defaults come first (what a summary shows)."""
    per_model = {name: _scalar_params(model) for name, model in models.items()}
    values: dict[str, list[Any]] = {}
    for params in per_model.values():
        for key, value in params.items():
            values.setdefault(key, []).append(value)
    out: dict[str, Any] = {}
    for name, params in per_model.items():
        for key, value in params.items():
            if key in taken:  # the cell's own value owns the plain name
                if not _same_value(taken[key], value):
                    out[f"{name}.{key}"] = value
            elif all(_same_value(v, value) for v in values[key]):
                out[key] = value
            else:
                out[f"{name}.{key}"] = value
    return out


def _scalar_params(estimator: Any) -> dict[str, Any]:
    """``get_params(deep=True)`` scalars, those that differ from the defaults first."""
    params = flat_params(estimator)
    changed = _changed_params(estimator, prefix="")
    return {**{k: params[k] for k in changed if k in params}, **params}


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def papermill_parameters(namespace: dict[str, Any]) -> dict[str, Any]:
    """The parameters of the papermill execution this kernel runs, if any (see
    :mod:`mlnb.tracking.parameters`): recorded as params of every run of that execution."""
    return {k: v for k, v in notebook_parameters(namespace).items() if _is_param_value(v)}


def _changed_params(estimator: Any, prefix: str) -> dict[str, Any]:
    """Hyper-parameters that differ from their defaults, walking into pipelines, column
    transformers and other nested estimators (named ``step__param`` like scikit-learn)."""
    import inspect

    try:
        params = estimator.get_params(deep=False)
        signature = inspect.signature(type(estimator).__init__).parameters
    except Exception:
        return {}
    out: dict[str, Any] = {}
    for key, value in params.items():
        if is_estimator(value):
            out.update(_changed_params(value, f"{prefix}{key}__"))
        elif (
            isinstance(value, (list, tuple))
            and value
            and all(
                isinstance(item, tuple) and len(item) >= 2 and isinstance(item[0], str)
                for item in value
            )
        ):
            for item in value:
                if is_estimator(item[1]):
                    out.update(_changed_params(item[1], f"{prefix}{item[0]}__"))
        elif value is None or isinstance(value, (bool, int, float, str)):
            default = signature[key].default if key in signature else inspect.Parameter.empty
            same_nan = (
                isinstance(value, float)
                and isinstance(default, float)
                and math.isnan(value)
                and math.isnan(default)
            )
            if not same_nan and (
                default is inspect.Parameter.empty
                or default != value
                or type(default) is not type(value)
            ):
                if default is not inspect.Parameter.empty or value is not None:
                    out[f"{prefix}{key}"] = value
    return out


def _data_brief(name: str, described: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "id": described["id"],
        "kind": described["kind"],
        "shape": [described.get("n_rows"), described.get("n_cols")],
    }


def _literal_read_paths(source: str) -> list[str]:
    """Paths given as string literals to ``read_*`` calls (catches ``from pandas import read_csv``)."""
    import ast

    try:
        tree = ast.parse(strip_ipython_syntax(source))
    except SyntaxError:
        return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if fname in PANDAS_READERS and node.args and isinstance(node.args[0], ast.Constant):
                value = node.args[0].value
                if isinstance(value, str) and os.path.isfile(value):
                    out.append(os.path.abspath(value))
    return out


def _watch_pandas_readers(files: dict[str, str]) -> Callable[[], None]:
    """Wrap ``pandas.read_*`` for the duration of the cell to note local files it reads."""
    pd = sys.modules.get("pandas")
    if pd is None:
        return lambda: None
    originals: dict[str, Any] = {}
    for name in PANDAS_READERS:
        original = getattr(pd, name, None)
        if original is None or getattr(original, "__mlnb_wrapped__", False):
            continue
        originals[name] = original
        setattr(pd, name, _wrap_reader(original, files))

    def restore() -> None:
        for name, original in originals.items():
            setattr(pd, name, original)

    return restore


def _wrap_reader(original: Callable[..., Any], files: dict[str, str]) -> Callable[..., Any]:
    def reader(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        try:
            target = (
                args[0]
                if args
                else next(
                    (
                        kwargs[k]
                        for k in ("filepath_or_buffer", "path", "io", "path_or_buf")
                        if k in kwargs
                    ),
                    None,
                )
            )
            if isinstance(target, (str, os.PathLike)) and os.path.exists(target):
                files.setdefault(os.path.abspath(target), "")
        except Exception:
            pass
        return result

    reader.__mlnb_wrapped__ = True  # type: ignore[attr-defined]
    reader.__wrapped__ = original  # type: ignore[attr-defined]
    reader.__doc__ = original.__doc__
    reader.__name__ = getattr(original, "__name__", "reader")
    return reader
