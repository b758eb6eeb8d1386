"""Label-free estimation across a promotion: a CBPE calibration (or a DLE loss model) is fitted
to one model's outputs, so when another version starts answering, the monitor re-fits it with
that version on labelled rows the version never trained on.

Those rows are the holdout the version passed its promotion gate on: a monitor keeps only the
profile of its reference, never the rows, and the gate's holdout is labelled, held out from
training and recorded as a data version. It is read from the data version's snapshot, or from
its file while the file still has the fingerprint the gate recorded (a later training run may
have overwritten it; then the estimator is not re-fitted, and says why).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlnb.errors import NotFoundError
from mlnb.lifecycle.holdout import read_table, split_holdout
from mlnb.lifecycle.versions import load_model
from mlnb.monitoring.monitor import Monitor
from mlnb.store.records import GateResultRecord
from mlnb.store.registry import Registry
from mlnb.tracking.data import fingerprint, load_snapshot


def gate_holdout(reg: Registry, name: str, version: int) -> tuple[Any, str]:
    """(frame, data version id) of the holdout ``name`` v``version`` last passed a gate on."""
    passed = [
        g
        for g in reg.models.gate_results(reg.models.model_id(name))
        if g["version"] == version and g["passed"] and g["holdout_data_version"]
    ]
    if not passed:
        raise NotFoundError(
            f"{name} v{version} passed no gate with a holdout, so there are no labelled rows to "
            "calibrate label-free estimation on; promote it through a gate with a holdout."
        )
    for result in passed:
        frame = _readable_holdout(reg, result)
        if frame is not None:
            return frame, str(result["holdout_data_version"])
    shown = ", ".join(sorted({str(g["holdout_data_version"]) for g in passed}))
    raise NotFoundError(
        f"the holdout {name} v{version} was gated on ({shown}) has changed since and has no "
        "snapshot; record the gate's holdout with a snapshot (mlnb.log_data(path, "
        "snapshot=True)) to keep label-free estimation across promotions."
    )


def _readable_holdout(reg: Registry, result: GateResultRecord) -> Any:
    """The gate's holdout as it was: its snapshot, or its file if unchanged; else None."""
    version = reg.data.row(str(result["holdout_data_version"]))
    if version["snapshot"]:
        return load_snapshot(reg, version["id"])
    path = version["source_path"]
    if version["kind"] != "file" or not path or not Path(path).is_file():
        return None
    if fingerprint(path, reg) != version["id"]:
        return None
    return read_table(path)


def recalibrate_for_version(monitor: Monitor, name: str, version: int) -> str:
    """Re-fit ``monitor``'s label-free estimator for model ``name`` v``version`` on the
    holdout of its gate; returns what was done (raises NotFoundError when there is none)."""
    reg = monitor.registry
    frame, data_version = gate_holdout(reg, name, version)
    record = reg.models.version(name, version)
    model = load_model(f"{name}/{version}", registry=reg)
    X, y, _ = split_holdout(frame, record["signature"], monitor.config["target"])
    if monitor.config["estimator"]["kind"] == "cbpe":
        monitor.calibrate_estimator(
            X,
            y,
            scores=model.predict_proba(X),
            classes=list(model.classes_),
            version=version,
        )
    else:
        monitor.calibrate_estimator(X, y, predictions=model.predict(X), version=version)
    return (
        f"label-free estimation re-fitted for {name} v{version} on its gate holdout "
        f"{data_version} ({len(y)} rows)"
    )
