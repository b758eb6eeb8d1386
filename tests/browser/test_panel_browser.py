"""The static drift panel in a real JupyterLab: a notebook whose output holds the panel is
opened untrusted (as one downloaded or cloned is), so JupyterLab's sanitizer filters it, and
every chart must still load as an image (the SVG charts are ``<img>`` data URLs, which the
sanitizer keeps, not inline ``<svg>``, which it strips), the folded columns' too. Screenshots
in the light and dark themes go to build/screenshots/drift-panel*.png.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

from mlnb.monitoring.drift import drift, fit_profile, score
from mlnb.monitoring.drift.panel import render_panel
from tests.drift.frames import reference_frame, shifted_frame

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
from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402

from .test_sidebar_browser import switch_to_dark_theme  # noqa: E402

CHARTS = 'img[src^="data:image/svg+xml;base64,"]'


def panel_notebook(path: Path) -> int:
    """A notebook with one output: the panel with a timeline. Returns the chart count."""
    report = drift(reference_frame(3000), shifted_frame(2000))
    profile = fit_profile(reference_frame(3000))
    start = time.time() - 5 * 86400
    history = [
        {
            "batch_at": start + i * 86400,
            "report": score(profile, shifted_frame(800, seed=i) if i > 2 else reference_frame(800)),
            "metrics": {"accuracy": 0.86 - 0.02 * i, "estimated_accuracy": 0.85 - 0.02 * i},
            "bands": {"estimated_accuracy": [0.82 - 0.02 * i, 0.88 - 0.02 * i]},
            "thresholds": {"accuracy": 0.8},
        }
        for i in range(5)
    ]
    html = render_panel(report, history=history)
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("report")
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data", data={"text/html": html, "text/plain": report.summary_text()}
        )
    ]
    nb.cells = [cell]
    nbformat.write(nb, path)  # unsigned: JupyterLab treats its outputs as untrusted
    return html.count('src="data:image/svg+xml;base64,')


def loaded_charts(page: Page) -> list[int]:
    """The natural width of every chart image in the output (0 when it failed to decode)."""
    return page.eval_on_selector_all(
        f".jp-OutputArea-output {CHARTS}",
        "imgs => imgs.map(i => i.complete ? i.naturalWidth : -1)",
    )


def dismiss_kernel_dialog(page: Page) -> None:
    """Opening a notebook asks for a kernel; the panel needs none."""
    dialog = page.locator(".jp-Dialog")
    try:
        dialog.wait_for(state="visible", timeout=5_000)
    except PlaywrightTimeout:
        return
    no_kernel = dialog.get_by_role("button", name="No Kernel")
    if no_kernel.count():
        no_kernel.first.click()
    else:
        page.keyboard.press("Escape")
    expect(dialog).to_be_hidden(timeout=TIMEOUT_MS)


def test_panel_charts_survive_the_sanitizer_and_load(registry_home: Path, tmp_path: Path) -> None:
    lab = start_lab(tmp_path / "lab", registry_home)
    n_charts = panel_notebook(lab.root / "panel.ipynb")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1300, "height": 1100})
                page.goto(f"{lab.url}/lab/tree/panel.ipynb?token={lab.token}")
                output = page.locator(".jp-OutputArea-output").first
                expect(output).to_contain_text("columns drifted", timeout=TIMEOUT_MS)
                expect(page.locator(f".jp-OutputArea-output {CHARTS}")).to_have_count(
                    n_charts, timeout=TIMEOUT_MS
                )
                page.wait_for_function(
                    f"""() => [...document.querySelectorAll('.jp-OutputArea-output {CHARTS}')]
                        .every(i => i.complete)""",
                    timeout=TIMEOUT_MS,
                )
                dismiss_kernel_dialog(page)
                widths = loaded_charts(page)
                assert widths and all(w > 0 for w in widths), widths
                # the folded columns open on demand and show their chart
                folded = output.locator("details").first
                folded.locator("summary").first.click()
                column = folded.locator("details").first
                column.locator("summary").click()
                expect(column.locator(CHARTS)).to_be_visible(timeout=TIMEOUT_MS)
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOTS / "drift-panel.png"), full_page=True)
                switch_to_dark_theme(page)
                page.screenshot(path=str(SCREENSHOTS / "drift-panel-dark.png"), full_page=True)
            finally:
                browser.close()
    finally:
        lab.stop()
