"""Output that survives untrusted notebooks and GitHub, and pipelines that say where they
cannot run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from IPython.core.formatters import DisplayFormatter

import mlnb
from mlnb.commands.spec import RESULT_MIMETYPE

ROOT = Path(__file__).resolve().parents[2]
AS_ON_WINDOWS = (
    "import sys; sys.modules['fcntl'] = None; sys.platform = 'win32'; "
    "from mlnb.cli import main; sys.exit(main(sys.argv[1:]))"
)


def test_no_view_carries_a_script():
    for path in (ROOT / "mlnb" / "render").glob("*.py"):
        assert "<script" not in path.read_text().lower(), path


def test_runs_table_shows_every_row_without_scripts(ip):

    for c in (0.1, 0.2):
        ip.run_cell(f"%%track --name c{c}\nC = {c}\nscore = {c} * 3\n")
    result = ip.run_line_magic("runs", "")
    data, _ = DisplayFormatter().format(result)
    html_text = data["text/html"]
    assert "<script" not in html_text.lower()
    assert html_text.count("<tr>") == 3  # header + two runs, in the command's order
    assert [r["name"] for r in data[RESULT_MIMETYPE]] == ["c0.2", "c0.1"]
    assert "c0.1" in data["text/plain"]


def test_pipelines_elsewhere_fail_with_the_reason(tmp_path):
    env = dict(os.environ, MLNB_HOME=str(tmp_path / "reg"), PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", AS_ON_WINDOWS, "scheduler", "--once"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert out.returncode == 1
    assert "POSIX systems only" in out.stderr and "WSL" in out.stderr
    assert "Traceback" not in out.stderr
    out = subprocess.run(
        [sys.executable, "-c", AS_ON_WINDOWS, "runs"], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr  # the rest of mlnb still works there
    assert mlnb.__version__
