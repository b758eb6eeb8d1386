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
    assert detail["params"]["model.C"] == 0.2
    assert detail["notebook_path"].endswith("train.ipynb")
    assert [d["name"] for d in detail["data"] if d["role"] == "input"] == ["df", "y"]
    assert detail["models"][0]["signature"]["inputs"][0]["name"] == "x1"
    assert 0.5 < detail["metrics"]["accuracy"] <= 1.0
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    outputs = "".join(str(o) for c in out.cells for o in c.get("outputs", []))
    assert "mlnb run #" in outputs
    assert os.environ["MLNB_HOME"] == str(home)
