"""The kernel side where notebooks really run: loading the extension leaves the folder alone,
and runs know their notebook under VS Code, nbconvert and the papermill command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from mlnb.store.registry import Registry

BIN = Path(sys.executable).parent
TRACKED_CELL = "%%track --name fit\nC = 0.5\nscore = C * 2\n"


def write_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext mlnb"),
        nbformat.v4.new_code_cell(TRACKED_CELL),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def kernel_env(home: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("MLNB_NOTEBOOK_PATH", "JPY_SESSION_NAME")
    }
    env["MLNB_HOME"] = str(home)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_load_ext_creates_no_registry_until_the_first_run(tmp_path):
    code = (
        "from IPython.core.interactiveshell import InteractiveShell; import os; "
        "ip = InteractiveShell.instance(); ip.run_line_magic('load_ext', 'mlnb'); "
        "print('after load_ext:', os.path.exists('.mlnb')); "
        "ip.run_cell_magic('track', '--name first', 'x = 1\\n'); "
        "print('after track:', os.path.exists('.mlnb/registry.db'))"
    )
    env = {k: v for k, v in os.environ.items() if k != "MLNB_HOME"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert "after load_ext: False" in out.stdout, out.stdout + out.stderr
    assert "created at the first run" in out.stdout
    assert "after track: True" in out.stdout, out.stdout + out.stderr


def test_track_records_the_vscode_notebook(ip, registry_home, tmp_path):
    notebook = tmp_path / "analysis.ipynb"
    ip.user_ns["__vsc_ipynb_file__"] = str(notebook)
    try:
        ip.run_cell(TRACKED_CELL)
    finally:
        ip.user_ns.pop("__vsc_ipynb_file__", None)
    reg = Registry(registry_home)
    [run] = reg.runs.find()
    assert reg.runs.get(run["id"])["notebook_path"] == str(notebook)


@pytest.mark.parametrize("tool", ["nbconvert", "papermill"])
def test_batch_executed_runs_record_their_notebook(tmp_path, tool):
    notebook = write_notebook(tmp_path / "train.ipynb")
    home = tmp_path / "reg"
    if tool == "nbconvert":
        cmd = [str(BIN / "jupyter"), "nbconvert", "--to", "notebook", "--execute", notebook.name]
    else:
        cmd = [str(BIN / "papermill"), "--no-progress-bar", notebook.name, "out.ipynb"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=kernel_env(home))
    assert out.returncode == 0, out.stderr[-2000:]
    reg = Registry(home)
    [run] = reg.runs.find()
    assert reg.runs.get(run["id"])["notebook_path"] == str(notebook)
