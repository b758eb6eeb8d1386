"""The sidebar in a real JupyterLab, driven in headless Chromium with Playwright.

One JupyterLab is started for the whole story (startup dominates the time): open the
sidebar, see the run a notebook just tracked appear, compare two runs, check that names are
text and never HTML. Screenshots go to build/screenshots/.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from mlnb.store.registry import Registry

from .labserver import (
    CHROMIUM,
    CHROMIUM_ARGS,
    SCREENSHOTS,
    TIMEOUT_MS,
    skip_without_chromium,
    start_lab,
)

pytestmark = pytest.mark.browser

skip_without_chromium()

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from mlnb.pipelines.api import create_pipeline  # noqa: E402

XSS_NAME = '<img src=x onerror="window.__mlnb_xss=1">'


def seed_registry(home: Path) -> dict[str, int]:
    """Runs that exist before JupyterLab starts; the hostile name sits in its own experiment."""
    reg = Registry(home)
    try:
        ids = {}
        # A sweep longer than a page of the runs list (50 by default).
        for i in range(55):
            run = reg.runs.start("sweep", name=f"sweep-{i:02d}", environment={})
            reg.runs.log_params(run, {"C": round(0.01 * (i + 1), 2)})
            reg.runs.log_metrics(run, {"accuracy": round(0.6 + i / 200, 3)})
            reg.runs.end(run)
        # A run with a metric history over steps, for its run page.
        run = reg.runs.start("history", name="epochs", environment={})
        reg.runs.log_params(run, {"lr": 0.01})
        for step, loss in enumerate([0.9, 0.6, 0.45, 0.4, 0.38]):
            reg.runs.log_metrics(run, {"loss": loss}, step=step)
        reg.runs.end(run)
        ids["epochs"] = run
        for experiment, name, c, acc in [
            ("churn", "baseline", 1.0, 0.81),
            ("churn", "balanced-classes", 0.3, 0.84),
            ("untrusted-input", XSS_NAME, 0.3, 0.5),
        ]:
            run = reg.runs.start(experiment, name=name, environment={})
            reg.runs.log_params(run, {"C": c, "solver": "lbfgs"})
            reg.runs.log_metrics(run, {"accuracy": acc})
            reg.runs.end(run)
            ids[name] = run
        return ids
    finally:
        reg.close()


def run_training_notebook(root: Path) -> None:
    """Execute a notebook with a %%track cell, as a user would in JupyterLab."""
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext mlnb\n%mlnb experiment churn"),
        nbformat.v4.new_code_cell(
            "%%track --name notebook-logreg\nC = 0.5\nmax_iter = 200\naccuracy = 0.87\n"
        ),
    ]
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(root)}}
    ).execute()
    nbformat.write(nb, root / "train.ipynb")


def has_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def make_monitor(home: Path) -> None:
    """The churn monitor of the user story: a calm month, then a shifted one whose accuracy
    fell to about 0.71, below the 0.82 threshold, which raises an alert."""
    import numpy as np
    import pandas as pd

    from mlnb.monitoring.monitor import Monitor

    rng = np.random.default_rng(3)

    def month(n: int, tenure: float, accuracy: float) -> tuple[pd.DataFrame, np.ndarray]:
        frame = pd.DataFrame(
            {
                "tenure": rng.normal(tenure, 5.0, n),
                "monthly_charges": rng.normal(70.0, 10.0, n),
                "churned": rng.integers(0, 2, n),
            }
        )
        labels = frame["churned"].to_numpy()
        return frame, np.where(rng.random(n) > accuracy, 1 - labels, labels)

    reg = Registry(home)
    try:
        reference, _ = month(800, 20.0, 1.0)
        monitor = Monitor(
            "churn-live",
            model="churn",
            reference=reference,
            target="churned",
            thresholds={"accuracy": 0.82},
            registry=reg,
        )
        day = 86_400
        start = 1_790_000_000
        for i, (tenure, accuracy) in enumerate([(20, 0.9), (21, 0.88), (26, 0.86), (33, 0.71)]):
            batch, predictions = month(400, tenure, accuracy)
            monitor.log_batch(batch, predictions=predictions, when=start + 30 * day * i)
        # `mlnb serve churn@production` feeds this monitor: its record and two scored windows
        served = reg.deployments.start(
            {"model_name": "churn", "alias": "production", "version": 1,
             "url": "http://127.0.0.1:8080", "bind_host": "127.0.0.1", "port": 8080,
             "config": {"monitor": "churn-live", "max_p95_ms": 50}}
        )  # fmt: skip
        reg.deployments.set_status(served, "running")
        reg.deployments.heartbeat(
            served, {"requests": 600, "errors": 3, "req_per_min": 310.0, "p95_ms": 4.2}
        )
        for n_errors, p95 in ((0, 4.0), (3, 72.0)):
            reg.deployments.add_window(
                {"deployment_id": served, "first_log_id": 0, "last_log_id": 0, "n_rows": 300,
                 "n_requests": 300, "n_errors": n_errors, "p95_ms": p95}
            )  # fmt: skip
    finally:
        reg.close()


GATES_YAML = """
gates:
  release:
    holdout: holdout.csv
    target: churned
    checks:
      - min_metric: {metric: accuracy, threshold: 0.6}
  strict:
    holdout: holdout.csv
    target: churned
    checks:
      - min_metric: {metric: accuracy, threshold: 0.99}
"""


def register_churn_models(home: Path, root: Path) -> None:
    """Two versions of 'churn': v1 promoted through the 'release' gate, v2 a candidate that
    failed the 'strict' one. The gates live in the Jupyter root's gates.yaml, where the
    server finds them too."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import mlnb

    rng = np.random.default_rng(5)

    def customers(n: int) -> pd.DataFrame:
        frame = pd.DataFrame(
            {"tenure": rng.integers(0, 72, n), "support_calls": rng.poisson(1.5, n)}
        )
        noise = rng.normal(0, 1, n)
        frame["churned"] = (frame.support_calls * 0.9 - frame.tenure * 0.08 + noise > 0).astype(int)
        return frame

    train = customers(400)
    customers(300).to_csv(root / "holdout.csv", index=False)
    (root / "gates.yaml").write_text(GATES_YAML)
    gates = root / "gates.yaml"
    X, y = train[["tenure", "support_calls"]], train["churned"]
    reg = Registry(home)
    try:
        for c in (1.0, 0.2):
            mlnb.register_model(
                LogisticRegression(C=c, max_iter=300).fit(X, y), "churn", X=X, registry=reg
            )
        mlnb.promote(
            "churn",
            1,
            to="production",
            gate=f"{gates}:release",
            reason="first release",
            registry=reg,
        )
        mlnb.run_gate(f"{gates}:strict", "churn", 2, registry=reg)
    finally:
        reg.close()


def check_promote_and_rollback(page: Page) -> None:
    sidebar = page.locator("#mlnb-sidebar")
    card = sidebar.get_by_test_id("model-card").filter(has_text="churn")
    expect(card).to_have_count(1, timeout=TIMEOUT_MS)
    v1 = card.locator('[data-testid="model-version"][data-version="1"]')
    v2 = card.locator('[data-testid="model-version"][data-version="2"]')
    expect(v1.get_by_test_id("stage-badge")).to_have_text("production")
    expect(v2.get_by_test_id("stage-badge")).to_have_text("none")
    expect(v1.get_by_test_id("gate-result")).to_contain_text("gate release passed (1 check)")
    expect(v2.get_by_test_id("gate-result")).to_contain_text("gate strict failed: min accuracy")
    # Nothing to roll back to yet: no Rollback button at all.
    expect(card.get_by_test_id("rollback-button")).to_have_count(0)

    # Through the gate it failed before: refused, with the reason, and nothing moves.
    v2.get_by_test_id("promote-button").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_test_id("promote-gate")).to_have_value("strict")
    dialog.get_by_test_id("promote-stage").select_option("production")
    dialog.get_by_role("button", name="Promote", exact=True).click()
    # The gate runs on the holdout first (slow on a loaded machine).
    expect(dialog).to_contain_text("was NOT promoted to production", timeout=90_000)
    expect(dialog.get_by_test_id("refused-check").first).to_contain_text("min accuracy: ")
    shot(page, "sidebar-gate-refused.png")
    dialog.get_by_role("button").last.click()
    expect(dialog).to_have_count(0)
    expect(v2.get_by_test_id("stage-badge")).to_have_text("none")

    # Without a gate and without forcing: still refused, the failed check named.
    v2.get_by_test_id("promote-button").click()
    expect(dialog.get_by_test_id("promote-failed-gate")).to_contain_text("min accuracy: ")
    dialog.get_by_test_id("promote-stage").select_option("production")
    dialog.get_by_test_id("promote-gate").fill("")
    dialog.get_by_role("button", name="Promote", exact=True).click()
    expect(dialog).to_contain_text("failed gate 'strict'", timeout=TIMEOUT_MS)
    dialog.get_by_role("button").last.click()
    expect(dialog).to_have_count(0)
    expect(v2.get_by_test_id("stage-badge")).to_have_text("none")

    # An explicit force past the failed gate, with a reason for the record.
    v2.get_by_test_id("promote-button").click()
    dialog.get_by_test_id("promote-stage").select_option("production")
    dialog.get_by_test_id("promote-gate").fill("")
    dialog.get_by_test_id("promote-force").check()
    dialog.get_by_test_id("promote-reason").fill("better recall on the March holdout")
    shot(page, "sidebar-promote-dialog.png")
    dialog.get_by_role("button", name="Promote", exact=True).click()
    expect(dialog).to_have_count(0)
    expect(v2.get_by_test_id("stage-badge")).to_have_text("production", timeout=TIMEOUT_MS)
    expect(v1.get_by_test_id("stage-badge")).to_have_text("archived")

    rollback = card.get_by_test_id("rollback-button")
    expect(rollback).to_be_enabled()
    rollback.click()
    expect(dialog).to_contain_text("Put churn v1 back in production and archive v2?")
    dialog.get_by_role("button", name="Roll back", exact=True).click()
    expect(v1.get_by_test_id("stage-badge")).to_have_text("production", timeout=TIMEOUT_MS)
    expect(v2.get_by_test_id("stage-badge")).to_have_text("archived")
    # Archived versions are not offered a promotion (it would always be refused).
    expect(v2.get_by_test_id("promote-button")).to_have_count(0)


def create_retrain_pipeline(home: Path, root: Path) -> None:
    """A weekly retraining pipeline over a parameterised notebook in the Jupyter root."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("C = 0.5")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_code_cell("accuracy = round(0.8 + C / 10, 3)\nprint(accuracy)"),
    ]
    path = root / "retrain.ipynb"
    nbformat.write(nb, path)
    reg = Registry(home)
    try:
        create_pipeline("weekly-retrain", path, schedule="0 6 * * 1", registry=reg)
    finally:
        reg.close()


def check_pipeline(page: Page) -> None:
    sidebar = page.locator("#mlnb-sidebar")
    card = sidebar.get_by_test_id("pipeline-card").filter(has_text="weekly-retrain")
    expect(card).to_have_count(1, timeout=TIMEOUT_MS)
    expect(card.get_by_test_id("pipeline-schedule")).to_have_text("0 6 * * 1")
    expect(card.get_by_test_id("pipeline-last")).to_have_text("never")

    card.get_by_test_id("pipeline-toggle").click()
    expect(card.get_by_test_id("pipeline-status")).to_have_text("paused", timeout=TIMEOUT_MS)
    expect(card.get_by_test_id("pipeline-next")).to_have_text("paused")
    card.get_by_test_id("pipeline-toggle").click()
    expect(card.get_by_test_id("pipeline-status")).to_have_text("active", timeout=TIMEOUT_MS)

    card.get_by_test_id("pipeline-run").click()
    expect(card.get_by_test_id("pipeline-last-status")).to_have_text("finished", timeout=90_000)
    card.get_by_test_id("pipeline-open-output").click()
    # The executed notebook opens read-only, rendered: no notebook panel, no kernel.
    view = page.get_by_test_id("output-view")
    expect(view.get_by_test_id("output-readonly")).to_have_text("read-only", timeout=TIMEOUT_MS)
    frame = page.frame_locator('[data-testid="output-frame"]')
    expect(frame.locator("body")).to_contain_text("0.85", timeout=TIMEOUT_MS)
    expect(page.locator(".jp-NotebookPanel")).to_have_count(0)

    # Edit it from the UI: the run history shows the run, its output and log one click away.
    card.get_by_test_id("pipeline-edit").click()
    editor = page.locator("#mlnb-pipeline-weekly-retrain")
    expect(editor.get_by_test_id("pipeline-schedule")).to_have_value(
        "0 6 * * 1", timeout=TIMEOUT_MS
    )
    expect(editor.get_by_test_id("cron-words")).to_contain_text("at 06:00 on Monday")
    expect(editor.get_by_test_id("cron-next-run")).to_have_count(5)
    history = editor.get_by_test_id("pipeline-history-row")
    expect(history).to_have_count(1)
    expect(history.first).to_contain_text("manual")
    expect(history.first).to_contain_text("finished")
    shot(page, "pipeline-editor.png")

    # A new pipeline: the notebook picked, a bad schedule explained, then created.
    sidebar.get_by_test_id("pipeline-new").click()
    editor = page.locator("#mlnb-pipeline-new")
    editor.get_by_test_id("pipeline-name").fill("nightly")
    editor.get_by_test_id("pipeline-notebook").fill("retrain.ipynb")
    editor.get_by_test_id("pipeline-schedule").fill("30 25 * * *")
    expect(editor.get_by_test_id("cron-words")).to_contain_text("hour field", timeout=TIMEOUT_MS)
    editor.get_by_test_id("pipeline-schedule").fill("30 2 * * *")
    expect(editor.get_by_test_id("cron-words")).to_contain_text("at 02:30 every day")
    editor.get_by_test_id("pipeline-save").click()
    expect(editor.get_by_test_id("pipeline-form-status")).to_contain_text("Created nightly")
    new_card = sidebar.get_by_test_id("pipeline-card").filter(has_text="nightly")
    expect(new_card.get_by_test_id("pipeline-schedule")).to_have_text(
        "30 2 * * *", timeout=TIMEOUT_MS
    )


def check_monitor_alert(page: Page) -> None:
    sidebar = page.locator("#mlnb-sidebar")
    card = sidebar.get_by_test_id("monitor-card").filter(has_text="churn-live")
    expect(card).to_have_count(1, timeout=TIMEOUT_MS)
    expect(card.get_by_test_id("drift-verdict")).to_have_text("drift")
    expect(card.get_by_test_id("drift-columns")).to_contain_text("tenure")
    expect(card.get_by_test_id("accuracy-sparkline").locator("polyline")).to_have_count(1)
    expect(card.get_by_test_id("accuracy-sparkline").locator("line")).to_have_count(1)
    alert = card.get_by_test_id("alert-item").filter(has_text="accuracy")
    expect(alert).to_have_count(1)
    expect(alert).to_contain_text("below the threshold 0.82")
    # accuracy alerts below its line: the value under it is shown as bad.
    expect(card.get_by_test_id("monitor-metric-value")).to_have_class(re.compile("mlnb-bad"))


def shot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    page.screenshot(path=str(path))
    return path


def open_sidebar(page: Page, url: str) -> None:
    page.goto(url)
    tab = page.locator('.jp-SideBar [data-id="mlnb-sidebar"]')
    tab.wait_for(timeout=90_000)
    tab.click()
    expect(page.locator("#mlnb-sidebar")).to_be_visible()
    widen_left_panel(page, 380)


def widen_left_panel(page: Page, width: int) -> None:
    """Drag the left panel's splitter, as a user would, so the screenshots are readable."""
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first
    box = handle.bounding_box()
    if box is None:
        return
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + width - 250, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()


def check_runs(page: Page, lab_root: Path) -> None:
    sidebar = page.locator("#mlnb-sidebar")
    rows = sidebar.get_by_test_id("run-row")
    expect(rows.filter(has_text="baseline")).to_have_count(1, timeout=TIMEOUT_MS)
    # A run name full of HTML is shown as text and nothing in it runs.
    expect(sidebar.get_by_test_id("run-name").filter(has_text=XSS_NAME)).to_have_count(1)
    assert page.evaluate("window.__mlnb_xss") is None
    assert sidebar.locator("img").count() == 0

    run_training_notebook(lab_root)
    # The sidebar polls a change token and picks the new run up without a reload.
    new_row = rows.filter(has_text="notebook-logreg")
    expect(new_row).to_have_count(1, timeout=TIMEOUT_MS)
    expect(new_row.get_by_test_id("run-status")).to_have_text("finished")


def check_compare(page: Page) -> None:
    sidebar = page.locator("#mlnb-sidebar")
    rows = sidebar.get_by_test_id("run-row")
    sidebar.get_by_test_id("runs-experiment").select_option("churn")
    expect(rows).to_have_count(3, timeout=TIMEOUT_MS)
    expect(rows.filter(has_text=XSS_NAME)).to_have_count(0)
    sidebar.get_by_test_id("runs-sort").select_option("accuracy")
    expect(rows.first).to_contain_text("notebook-logreg", timeout=TIMEOUT_MS)
    expect(rows.nth(1)).to_contain_text("balanced-classes")
    expect(rows.last).to_contain_text("baseline")
    compare = sidebar.get_by_test_id("runs-compare")
    expect(compare).to_be_disabled()
    rows.filter(has_text="notebook-logreg").get_by_test_id("run-select").check()
    rows.filter(has_text="baseline").get_by_test_id("run-select").check()
    expect(compare).to_be_enabled()
    compare.click()
    # The comparison opens in the main area.
    table = page.get_by_test_id("compare-view").get_by_test_id("compare-table")
    expect(table).to_be_visible(timeout=TIMEOUT_MS)
    expect(table.locator("th")).to_contain_text(["", "notebook-logreg", "baseline"])
    accuracy = table.get_by_test_id("compare-row").filter(has_text="accuracy").first
    expect(accuracy).to_contain_text("0.87")
    expect(accuracy).to_contain_text("0.81")
    expect(accuracy).to_have_class("mlnb-differs")
    view = page.get_by_test_id("compare-view")
    expect(view.locator('[data-testid="compare-bars"][data-metric="accuracy"] rect')).to_have_count(
        2
    )
    expect(view.get_by_test_id("compare-parallel").locator("polyline")).to_have_count(2)
    shot(page, "compare.png")

    # Two runs that share their solver: "only differences" hides the shared row.
    rows.filter(has_text="notebook-logreg").get_by_test_id("run-select").uncheck()
    rows.filter(has_text="balanced-classes").get_by_test_id("run-select").check()
    compare.click()
    view = page.get_by_test_id("compare-view").filter(has_text="balanced-classes")
    solver = view.locator('[data-testid="compare-row"][data-key="solver"]')
    expect(solver).to_have_count(1, timeout=TIMEOUT_MS)
    view.get_by_test_id("compare-only-diff").check()
    expect(solver).to_have_count(0)
    expect(view.locator('[data-testid="compare-row"][data-key="C"]')).to_have_count(1)


def check_search_and_paging(page: Page) -> None:
    sidebar = page.locator("#mlnb-sidebar")
    rows = sidebar.get_by_test_id("run-row")
    search = sidebar.get_by_test_id("runs-search")
    search.fill("metrics.accuracy > 0.85 and params.C < 1")
    search.press("Enter")
    expect(rows).to_have_count(1, timeout=TIMEOUT_MS)
    expect(rows.first).to_contain_text("notebook-logreg")
    search.fill("accuracy > 0.85")
    search.press("Enter")
    expect(sidebar.get_by_test_id("runs-search-error")).to_contain_text("unknown field 'accuracy'")
    search.fill("")
    search.press("Enter")
    expect(sidebar.get_by_test_id("runs-search-error")).to_be_hidden()

    sidebar.get_by_test_id("runs-sort").select_option("")
    sidebar.get_by_test_id("runs-experiment").select_option("sweep")
    expect(sidebar.get_by_test_id("runs-range")).to_have_text("1–50 of 55", timeout=TIMEOUT_MS)
    expect(rows).to_have_count(50)
    sidebar.get_by_test_id("runs-next").click()
    expect(sidebar.get_by_test_id("runs-range")).to_have_text("51–55 of 55", timeout=TIMEOUT_MS)
    expect(rows).to_have_count(5)
    expect(sidebar.get_by_test_id("runs-next")).to_be_disabled()
    sidebar.get_by_test_id("runs-prev").click()
    expect(sidebar.get_by_test_id("runs-range")).to_have_text("1–50 of 55", timeout=TIMEOUT_MS)


def check_run_page(page: Page) -> None:
    sidebar = page.locator("#mlnb-sidebar")
    sidebar.get_by_test_id("runs-experiment").select_option("history")
    sidebar.get_by_test_id("run-name").filter(has_text="epochs").click()
    run_page = page.get_by_test_id("run-page").filter(has_text="epochs")
    expect(run_page.get_by_test_id("run-page-name")).to_have_text("epochs", timeout=TIMEOUT_MS)
    expect(run_page.get_by_test_id("params-table")).to_contain_text("lr")
    chart = run_page.locator('[data-testid="metric-chart"][data-metric="loss"]')
    expect(chart.locator("circle")).to_have_count(5)
    expect(run_page.get_by_test_id("run-page-data")).to_contain_text("no data versions")

    sidebar.get_by_test_id("runs-experiment").select_option("churn")
    sidebar.get_by_test_id("run-name").filter(has_text="notebook-logreg").click()
    run_page = page.get_by_test_id("run-page").filter(has_text="notebook-logreg")
    expect(run_page.get_by_test_id("run-page-source")).to_contain_text(
        "C = 0.5", timeout=TIMEOUT_MS
    )
    expect(run_page.get_by_test_id("params-table")).to_contain_text("max_iter")
    expect(run_page.get_by_test_id("run-page-environment")).to_contain_text("Python")
    shot(page, "run-page.png")


def open_run_from_palette(page: Page, run_id: int) -> None:
    """The command palette's "Open mlnb Run…" asks for an id and opens its page."""
    page.keyboard.press("Control+Shift+c")
    palette = page.locator("#command-palette input, .lm-CommandPalette-input").first
    expect(palette).to_be_visible(timeout=TIMEOUT_MS)
    palette.fill("Open mlnb Run")
    page.keyboard.press("Enter")
    dialog = page.locator(".jp-Dialog")
    dialog.locator("input").fill(str(run_id))
    dialog.get_by_role("button", name="Ok").click()


def check_lineage(page: Page, home: Path) -> None:
    reg = Registry(home)
    try:
        run_id = int(reg.models.version("churn", 1)["run_id"])
    finally:
        reg.close()
    open_run_from_palette(page, run_id)
    run_page = page.locator(f"#mlnb-run-{run_id}")
    graph = run_page.get_by_test_id("lineage-graph")
    expect(graph.locator('[data-node="version:churn:1"]')).to_have_count(1, timeout=TIMEOUT_MS)
    expect(graph).to_contain_text("churn v1")
    expect(run_page.get_by_test_id("artifact-download")).to_have_count(1)
    with page.expect_download() as download:
        run_page.get_by_test_id("artifact-download").click()
    assert download.value.suggested_filename
    shot(page, "run-page-lineage.png")

    # A run that does not exist: the page says so instead of staying blank.
    open_run_from_palette(page, 999_999)
    missing = page.locator("#mlnb-run-999999")
    expect(missing.get_by_test_id("view-error")).to_contain_text(
        "There is no run #999999", timeout=TIMEOUT_MS
    )


def check_monitor_dashboard(page: Page) -> None:
    sidebar = page.locator("#mlnb-sidebar")
    sidebar.get_by_test_id("monitor-open").filter(has_text="churn-live").click()
    board = page.get_by_test_id("monitor-dashboard")
    expect(board.get_by_test_id("dashboard-verdict")).to_have_text("drift", timeout=TIMEOUT_MS)
    expect(
        board.get_by_test_id("dashboard-metric-chart").locator("circle.mlnb-breached")
    ).not_to_have_count(0)
    expect(board.get_by_test_id("dashboard-drift-chart").locator("circle")).not_to_have_count(0)
    tenure = board.locator('[data-testid="heatmap-row"][data-column="tenure"]')
    expect(tenure.locator('[data-drifted="yes"]')).not_to_have_count(0)
    expect(board.get_by_test_id("dashboard-alerts")).to_contain_text("below the threshold 0.82")
    # the deployment feeding it: rate, p95, error rate, and the window over its p95 limit
    expect(board.get_by_test_id("dashboard-serving-line")).to_contain_text(
        "serving v1 at http://127.0.0.1:8080 · 310 req/min · p95 4.2 ms · 3 errors · error rate 0.5%"
    )
    expect(
        board.get_by_test_id("dashboard-latency-chart").locator("circle.mlnb-breached")
    ).to_have_count(1)
    expect(board.get_by_test_id("dashboard-error-chart").locator("circle")).to_have_count(2)
    shot(page, "monitor-dashboard.png")


def switch_to_dark_theme(page: Page) -> None:
    """Settings > Theme > JupyterLab Dark, through the menus."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").click()
    page.locator(".lm-Menu-itemLabel", has_text="Theme").first.hover()
    page.locator(".lm-Menu-itemLabel").get_by_text("JupyterLab Dark", exact=True).click()
    expect(page.locator("body")).to_have_attribute(
        "data-jp-theme-name", "JupyterLab Dark", timeout=TIMEOUT_MS
    )
    page.wait_for_timeout(500)  # let the theme's CSS settle before the screenshot


def test_sidebar_story(registry_home: Path, tmp_path: Path) -> None:
    seed_registry(registry_home)
    monitors = has_module("mlnb.monitoring.drift")
    if monitors:
        make_monitor(registry_home)
    root = tmp_path / "lab" / "root"
    root.mkdir(parents=True)
    models = has_module("mlnb.lifecycle")
    if models:
        register_churn_models(registry_home, root)
    pipelines = has_module("mlnb.pipelines.api")
    lab = start_lab(tmp_path / "lab", registry_home)
    if pipelines:
        create_retrain_pipeline(registry_home, lab.root)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1440, "height": 960})
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                open_sidebar(page, f"{lab.url}/lab?token={lab.token}")
                check_runs(page, lab.root)
                check_compare(page)
                shot(page, "sidebar-runs.png")
                check_search_and_paging(page)
                check_run_page(page)
                if models:
                    check_promote_and_rollback(page)
                    check_lineage(page, registry_home)
                if monitors:
                    check_monitor_alert(page)
                    check_monitor_dashboard(page)
                if pipelines:
                    check_pipeline(page)
                if models and monitors and pipelines:
                    # Every section loaded: the error banner stays hidden.
                    expect(page.get_by_test_id("mlnb-error")).to_be_hidden()
                page.set_viewport_size({"width": 1440, "height": 1500})
                shot(page, "sidebar-overview.png")
                switch_to_dark_theme(page)
                shot(page, "sidebar-dark.png")
                # Every main-area view in the dark theme, charts included.
                for title, name in [
                    ("Run #", "run-page-dark.png"),
                    ("Compare", "compare-dark.png"),
                    ("Monitor churn-live", "monitor-dashboard-dark.png"),
                    ("Pipeline weekly-retrain", "pipeline-editor-dark.png"),
                ]:
                    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=title)
                    if tab.count():
                        tab.first.click()
                        page.wait_for_timeout(300)
                        shot(page, name)
                assert not [e for e in errors if "mlnb" in e], errors
            finally:
                browser.close()
    finally:
        lab.stop()
