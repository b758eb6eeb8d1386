"""`make demo`: run the churn story headless with papermill, then report what happened.

The notebooks run in order against a fresh registry in demo_notebooks/.mlnb with fresh data
in demo_notebooks/data; executed copies land in demo_notebooks/out.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOTEBOOKS = ["01_train.ipynb", "02_monitor.ipynb", "03_pipeline.ipynb"]
OUT = HERE / "out"
REGISTRY = HERE / ".mlnb"
DATA = HERE / "data"


def run_notebooks(fresh: bool = True) -> list[Path]:
    import papermill as pm

    if fresh:
        for folder in (OUT, REGISTRY, DATA):
            shutil.rmtree(folder, ignore_errors=True)
    OUT.mkdir(parents=True, exist_ok=True)
    os.environ["MLNB_HOME"] = str(REGISTRY)
    done = []
    for name in NOTEBOOKS:
        source = HERE / name
        if not source.exists():
            continue
        target = OUT / name
        started = time.perf_counter()
        print(f"running {name} ...", flush=True)
        os.environ["MLNB_NOTEBOOK_PATH"] = str(source)
        pm.execute_notebook(
            str(source), str(target), kernel_name="python3", cwd=str(HERE), progress_bar=False
        )
        print(
            f"  done in {time.perf_counter() - started:.1f} s -> {target.relative_to(HERE.parent)}"
        )
        done.append(target)
    os.environ.pop("MLNB_NOTEBOOK_PATH", None)
    return done


def report(outputs: list[Path]) -> str:
    from mlnb.commands.report import demo_report
    from mlnb.store.registry import Registry

    return demo_report(Registry(REGISTRY), outputs, HERE)


# -- the served model: the same story over HTTP (`mlnb serve`) -------------------------------

SERVING = OUT / "serving"
SERVED_MONTHS = 8
ROWS_PER_MONTH = 2000
ROWS_PER_REQUEST = 50
# The served story's accuracy bar, for estimated and realized accuracy alike. Churn labels
# are known a month after the prediction, so the monitor reads a month's realized accuracy
# one tick late, but its estimated accuracy at once, from the logged probabilities. With
# this data both fall below the bar in month 4 (estimated 0.747, realized 0.699; month 3 is
# 0.826 and 0.825), steepest there as the outage sweeps through the network: the estimate
# alerts at traffic time, the pipeline retrains on months 3-4, and the labels confirm the
# handled incident a tick later. v2, estimated with its own calibration, then holds 0.88-0.89
# through month 8. At 0.82, month 3 (0.80-0.85 across seeds) would breach for some seeds
# and not for others.
SERVED_BAR = 0.80


def serving_story() -> list[str]:
    """Serve production v1 with `mlnb serve`, send each month's customers through HTTP and
    their labels through /feedback, let the scheduler score the traffic until the monitor
    alerts and the pipeline retrains; the running server swaps to the promoted version.

    It runs in its own folder (copies of 01_train.ipynb, gates.yaml and churn_data.py, its
    own registry and data), so the notebooks' story above is left as it was."""
    import httpx
    from churn_data import FEATURES, TARGET, read_month_csv, write_month_csv

    import mlnb
    from mlnb.pipelines.scheduler import Scheduler
    from mlnb.render.serving import serving_summary
    from mlnb.serving.server import ServeOptions, start_background, stop_background

    shutil.rmtree(SERVING, ignore_errors=True)
    SERVING.mkdir(parents=True)
    for name in ("01_train.ipynb", "gates.yaml", "churn_data.py"):
        shutil.copy(HERE / name, SERVING / name)
    # The gate's per-row latency bound is for a quiet machine; here the demo shares its cores
    # with a server and a scheduler, and the served p95 is watched live by the monitor instead.
    gates = SERVING / "gates.yaml"
    gates.write_text(gates.read_text().replace("p95_row_ms: 50,", "p95_row_ms: 250,"))
    os.environ["MLNB_HOME"] = str(SERVING / ".mlnb")
    os.chdir(SERVING)
    lines = ["serving: mlnb serve churn@production, months of customers over HTTP"]
    run_notebooks_in(SERVING, ["01_train.ipynb"])
    reg = mlnb.Registry(SERVING / ".mlnb")
    if reg.models.get("churn")["production_version"] is None:
        raise SystemExit("the serving demo needs churn v1 in production, but its gate failed")
    reference = read_month_csv(SERVING / "data" / sorted(os.listdir(SERVING / "data"))[0])
    mlnb.Monitor(  # v1 scores the reference once: the calibration of estimated accuracy
        "churn",
        model="churn",
        predictor=mlnb.load_model("churn@production", registry=reg),
        reference=reference[FEATURES + [TARGET]],
        target=TARGET,
        thresholds={"accuracy": SERVED_BAR, "estimated_accuracy": SERVED_BAR},
        registry=reg,
    )
    mlnb.create_pipeline(
        "churn-train",
        SERVING / "01_train.ipynb",
        on_alert="churn:accuracy_below_threshold,estimated_accuracy_below_threshold",
        gate="gates.yaml:churn_gate",
        promote_to="production",
        model="churn",
        registry=reg,
    )
    server = start_background(
        reg, ServeOptions("churn@production", port=0, monitor="churn", window_rows=ROWS_PER_MONTH)
    )
    lines.append(
        f"  serving {server.ref} at {server.url} (monitor churn, one window per month, alert "
        f"below {SERVED_BAR:.0%} accuracy, estimated or realized; labels arrive a month late)"
    )
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            late: list[tuple[int, list[int]]] = []  # last month's labels, sent with this month
            for month in range(1, SERVED_MONTHS + 1):
                lines.append(serve_month(client, month, write_month_csv, read_month_csv, late))
                wait_logged(client)
                alerts_before = max(
                    (a["id"] for a in reg.alerts.find(status=None, limit=1000)), default=0
                )
                ticked = Scheduler(reg, pipelines=["churn-train"]).run_once()
                lines.append(window_line(reg, alerts_before))
                print("\n".join(lines[-2:]), flush=True)
                for run_id in ticked["started"]:
                    run = reg.pipelines.run(run_id)
                    lines.append(
                        f"    pipeline churn-train run #{run_id} ({run['trigger']}): {run['status']}"
                        f" -> production is now v{reg.models.resolve('churn@production')['version']}"
                    )
                    wait_for_swap(client, reg)
                    print(lines[-1], flush=True)
        deployment = reg.deployments.find()[0]
        lines.append(f"  {serving_summary(deployment)}; {deployment['requests']} requests so far")
    finally:
        stop_background()
    deployment = reg.deployments.find()[0]
    lines.append(
        f"  deployment {deployment['id']} {deployment['status']}: {deployment['requests']} requests,"
        f" {deployment['rows_logged']} rows logged, {deployment['rows_dropped']} dropped"
    )
    reg.close()
    return lines


def run_notebooks_in(folder: Path, names: list[str]) -> None:
    import papermill as pm

    for name in names:
        print(f"running {name} in {folder.relative_to(HERE.parent)} ...", flush=True)
        os.environ["MLNB_NOTEBOOK_PATH"] = str(folder / name)
        pm.execute_notebook(
            str(folder / name),
            str(folder / f"out_{name}"),
            kernel_name="python3",
            cwd=str(folder),
            progress_bar=False,
        )
    os.environ.pop("MLNB_NOTEBOOK_PATH", None)


def serve_month(client, month: int, write_month_csv, read_month_csv, late: list) -> str:
    """One month of customers through /invocations, and last month's labels (whether those
    customers churned is known a month later) through /feedback."""
    from churn_data import FEATURES, TARGET

    batch = read_month_csv(write_month_csv("data", month, n=ROWS_PER_MONTH))
    features = batch[FEATURES].astype(object).where(batch[FEATURES].notna(), None)
    records = features.to_dict(orient="records")
    versions: dict[str, int] = {}
    for start in range(0, len(records), ROWS_PER_REQUEST):
        answer = client.post(
            "/invocations",
            json={"dataframe_records": records[start : start + ROWS_PER_REQUEST]},
            headers={"x-request-id": f"m{month}-{start}"},
        )
        answer.raise_for_status()
        version = answer.headers["x-model-version"]
        versions[version] = versions.get(version, 0) + 1
    sent = ""
    if late:
        labelled_month, labels = late.pop()
        for start in range(0, len(labels), ROWS_PER_REQUEST):
            client.post(
                "/feedback",
                json={
                    "request_id": f"m{labelled_month}-{start}",
                    "labels": labels[start : start + ROWS_PER_REQUEST],
                },
            ).raise_for_status()
        sent = f"; month {labelled_month}'s labels sent to /feedback"
    late.append((month, batch[TARGET].tolist()))
    served = ", ".join(f"{n} requests by v{v}" for v, n in sorted(versions.items()))
    return f"  month {month}: {len(records)} customers, {served}{sent}"


def wait_logged(client, timeout: float = 10.0) -> None:
    """Until the server's inference log has written what it queued (it flushes every 0.5 s),
    so the scheduler's tick sees the whole month."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and client.get("/health").json()["log"]["queued_rows"]:
        time.sleep(0.1)


def wait_for_swap(client, reg, timeout: float = 30.0) -> None:
    """Until the running server answers with the version production points at."""
    want = reg.models.resolve("churn@production")["version"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/version").json()["version"] == want:
            return
        time.sleep(0.1)


def window_line(reg, alerts_before: int) -> str:
    """What the scheduler's monitor saw: the newest window's drift and estimated accuracy
    (no labels yet), the previous window's realized accuracy (its labels came), new alerts."""
    from mlnb import Monitor

    deployment = reg.deployments.find()[0]
    windows = [w for w in reg.deployments.windows(deployment["id"]) if w["batch_id"]]
    if not windows:
        return "    (no window scored yet)"
    batch = reg.monitors.batch(windows[-1]["batch_id"])
    estimated = (batch.get("estimates") or {}).get("accuracy", {}).get("value")
    drifted = [c["column"] for c in batch["report"]["columns"] if c["drifted"]]
    realized = "-"
    if len(windows) > 1:
        accuracy = reg.monitors.batch(windows[-2]["batch_id"])["metrics"].get("accuracy")
        served_by = reg.deployments.window_requests(windows[-2])[0]["version"]
        realized = f"{accuracy:.3f} (v{served_by})" if accuracy is not None else "-"
    alerts = [a for a in reg.alerts.find(status=None, limit=200) if a["id"] > alerts_before]
    calibrated = Monitor.load("churn", registry=reg).estimator_version
    return (
        f"    scheduler: window of {windows[-1]['n_rows']} rows, p95 "
        f"{windows[-1]['p95_ms'] or 0:.0f} ms, drifted: {', '.join(drifted) or 'none'}, "
        f"estimated accuracy "
        + (f"{estimated:.3f} (v{calibrated}'s calibration)" if estimated is not None else "-")
        + f"; last month's realized accuracy {realized}"
        + (f"; alerts: {', '.join(sorted({a['kind'] for a in alerts}))}" if alerts else "")
    )


def main() -> int:
    sys.path.insert(0, str(HERE))
    outputs = run_notebooks()
    print()
    print(report(outputs))
    print()
    story = serving_story()
    print()
    print("\n".join(story))
    return 0


if __name__ == "__main__":
    sys.exit(main())
