"""The sidebar in a real JupyterLab, driven in headless Chromium with Playwright.

One JupyterLab is started for the whole story (startup dominates the time): open the
sidebar, see the run a notebook just tracked appear, compare two runs, check that names are
text and never HTML. Screenshots go to build/screenshots/.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest

from mlnb.store.registry import Registry

from .labserver import CHROMIUM, CHROMIUM_ARGS, REPO, start_lab

pytestmark = pytest.mark.browser

if not os.path.exists(CHROMIUM):
    pytest.skip(
        f"{CHROMIUM} is missing: run scripts/ensure_browser.sh (make test does) to install it",
        allow_module_level=True,
    )

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from mlnb.pipelines.api import create_pipeline  # noqa: E402

SCREENSHOTS = Path(os.environ.get("MLNB_SCREENSHOTS", REPO / "build" / "screenshots"))
XSS_NAME = '<img src=x onerror="window.__mlnb_xss=1">'
TIMEOUT_MS = 30_000


def seed_registry(home: Path) -> dict[str, int]:
    """Runs that exist before JupyterLab starts; the hostile name sits in its own experiment."""
    reg = Registry(home)
    try:
        ids = {}
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
    expect(dialog).to_contain_text("was NOT promoted to production", timeout=TIMEOUT_MS)
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
    table = sidebar.get_by_test_id("compare-table")
    expect(table).to_be_visible(timeout=TIMEOUT_MS)
    expect(table.locator("th")).to_contain_text(["", "notebook-logreg", "baseline"])
    accuracy = table.get_by_test_id("compare-row").filter(has_text="accuracy").first
    expect(accuracy).to_contain_text("0.87")
    expect(accuracy).to_contain_text("0.81")
    expect(accuracy).to_have_class("mlnb-differs")


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
                if models:
                    check_promote_and_rollback(page)
                if monitors:
                    check_monitor_alert(page)
                if pipelines:
                    check_pipeline(page)
                if models and monitors and pipelines:
                    # Every section loaded: the error banner stays hidden.
                    expect(page.get_by_test_id("mlnb-error")).to_be_hidden()
                page.set_viewport_size({"width": 1440, "height": 1500})
                shot(page, "sidebar-overview.png")
                switch_to_dark_theme(page)
                shot(page, "sidebar-dark.png")
                assert not [e for e in errors if "mlnb" in e], errors
            finally:
                browser.close()
    finally:
        lab.stop()
