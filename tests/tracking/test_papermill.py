"""A tracked notebook executed headless by papermill, checked through the registry."""

from __future__ import annotations

import os

import nbformat
import papermill as pm

from mlnb.store.registry import Registry

CELLS = [
    ("code", "%load_ext mlnb\n%mlnb experiment churn", []),
    ("code", "n_rows = 400\nC = 0.7", ["parameters"]),
    (
        "code",
        "import numpy as np, pandas as pd\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "from sklearn.metrics import accuracy_score\n"
        "rng = np.random.default_rng(3)\n"
        "df = pd.DataFrame(rng.normal(size=(n_rows, 3)), columns=['x1', 'x2', 'x3'])\n"
        "y = (df.x1 - df.x2 > 0).astype(int)",
        [],
    ),
    (
        "code",
        "%%track --name train\nmodel = LogisticRegression(C=C).fit(df, y)\naccuracy = accuracy_score(y, model.predict(df))",
        [],
    ),
]


def make_notebook(path):
    nb = nbformat.v4.new_notebook()
    for _kind, source, tags in CELLS:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = tags
        nb.cells.append(cell)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)


def test_papermill_execution_is_tracked(tmp_path, monkeypatch):
    home = tmp_path / "reg"
    monkeypatch.setenv("MLNB_HOME", str(home))
    monkeypatch.setenv("MLNB_NOTEBOOK_PATH", str(tmp_path / "train.ipynb"))
    make_notebook(tmp_path / "train.ipynb")
    pm.execute_notebook(
        str(tmp_path / "train.ipynb"),
        str(tmp_path / "out.ipynb"),
        parameters={"n_rows": 600, "C": 0.2},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    reg = Registry(home)
    [run] = reg.runs.find()
    detail = reg.runs.get(run["id"])
    assert detail["experiment"] == "churn" and detail["status"] == "finished"
    assert detail["params"]["C"] == 0.2  # scikit-learn's own name, as MLflow autolog records it
    assert detail["params"]["n_rows"] == 600  # the injected papermill parameters are params
    assert detail["notebook_path"].endswith("train.ipynb")
    assert [d["name"] for d in detail["data"] if d["role"] == "input"] == ["df", "y"]
    assert detail["models"][0]["signature"]["inputs"][0]["name"] == "x1"
    assert 0.5 < detail["metrics"]["accuracy"] <= 1.0
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    outputs = "".join(str(o) for c in out.cells for o in c.get("outputs", []))
    assert "mlnb run #" in outputs
    assert os.environ["MLNB_HOME"] == str(home)


AUTO_CELLS = [
    ("%load_ext mlnb", []),
    ("n_rows = 300\nC = 0.7\nmax_depth = 3", ["parameters"]),
    (
        "import numpy as np, pandas as pd\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "rng = np.random.default_rng(3)\n"
        "df = pd.DataFrame(rng.normal(size=(n_rows, 2)), columns=['x1', 'x2'])\n"
        "y = (df.x1 > 0).astype(int)",
        [],
    ),
    ("%%track --name train\nmodel = LogisticRegression(C=C).fit(df, y)", []),
    ("%track on", []),
    ("def helper(x):\n    return x + 1", []),
    ("import math", []),
    ("%env MLNB_UNUSED=1", []),
    ("# the one cell that does work\ntotal = helper(n_rows)", []),
    ("%track off", []),
    ("after_off = 1", []),
]


def test_cell_numbers_parameters_and_track_on_in_a_papermill_kernel(tmp_path, monkeypatch):
    """The recorded cell number is the cell's own ``In [N]``; the execution's parameters
    (injected ones and the parameters cell's defaults) are params of every run; ``%track on``
    records only the cells that do work, and not the cell that turns it off."""
    home = tmp_path / "reg"
    monkeypatch.setenv("MLNB_HOME", str(home))
    nb = nbformat.v4.new_notebook()
    for source, tags in AUTO_CELLS:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = tags
        nb.cells.append(cell)
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, tmp_path / "auto.ipynb")
    pm.execute_notebook(
        str(tmp_path / "auto.ipynb"),
        str(tmp_path / "out.ipynb"),
        parameters={"n_rows": 500, "C": 1.0},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    counts = {c.source: c.execution_count for c in out.cells if c.cell_type == "code"}
    reg = Registry(home)
    runs = sorted(reg.runs.find(), key=lambda r: r["id"])
    assert [r["name"] for r in runs] == [
        "train",
        "the one cell that does work",
    ]  # not the helper, import, magic-only, %track off or later cells
    train, work = (reg.runs.get(r["id"]) for r in runs)
    assert train["execution_count"] == counts[AUTO_CELLS[3][0]]
    assert work["execution_count"] == counts[AUTO_CELLS[8][0]]
    for run in (train, work):
        assert run["params"]["n_rows"] == 500 and run["params"]["C"] == 1.0
        assert run["params"]["max_depth"] == 3  # a default of the parameters cell
        assert run["tags"]["mlnb.parameters"].split(",") == ["n_rows", "C", "max_depth"]
    assert "model.C" not in train["params"]
