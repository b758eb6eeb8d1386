"""A model's identity is its content: the same model fitted in two processes gets the same
sha256, is stored once, and loads back with its trust checks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from mlnb.store.registry import Registry
from mlnb.tracking.artifacts import load_artifact

ROOT = Path(__file__).resolve().parents[2]

FIT_AND_SAVE = """
import json, sys
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from mlnb.store.registry import Registry
from mlnb.tracking.artifacts import save_model

rng = np.random.default_rng(0)
X = rng.normal(size=(300, 4))
y = (X[:, 0] + X[:, 1] > 0).astype(int)
reg = Registry(sys.argv[1])
junk = [object() for _ in range(int(sys.argv[2]))]  # shifts every id() in this process
saved = {}
for name, model in {
    "logreg": LogisticRegression(C=0.5).fit(X, y),
    "forest": RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0).fit(X, y),
}.items():
    artifact = save_model(reg, model, name=name)
    saved[name] = [artifact["object_hash"], artifact["id"]]
print(json.dumps(saved))
"""


def save_in_a_new_process(home: Path, shift: int) -> dict[str, list]:
    out = subprocess.run(
        [sys.executable, "-c", FIT_AND_SAVE, str(home), str(shift)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_identical_models_in_two_processes_have_one_sha256_and_are_stored_once(tmp_path):
    home = tmp_path / "reg"
    first = save_in_a_new_process(home, 10)
    second = save_in_a_new_process(home, 5000)
    assert first["logreg"][0] == second["logreg"][0]
    assert first["forest"][0] == second["forest"][0]
    reg = Registry(home)
    stored = [p for p in (home / "objects").rglob("*") if p.is_file()]
    assert len(stored) == 2  # one file per model, whatever the number of saves
    forest = load_artifact(reg, second["forest"][1], trusted=None)
    X = np.random.default_rng(1).normal(size=(20, 4))
    assert forest.predict(X).shape == (20,)
    assert reg.models.artifact(second["forest"][1])["trusted_types"] == ["sklearn.tree._tree.Tree"]
    reg.close()


def test_recorded_trusted_types_are_what_skops_finds_in_the_file():
    """The audit at save time sees the file as a load will (a pipeline with encoders)."""
    import pandas as pd
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from mlnb.tracking.artifacts import serialize

    X = pd.DataFrame({"plan": ["a", "b", "c"] * 20, "usage": np.arange(60.0)})
    y = np.arange(60) % 2
    model = make_pipeline(
        ColumnTransformer(
            [("cat", OneHotEncoder(), ["plan"]), ("num", StandardScaler(), ["usage"])]
        ),
        LogisticRegression(),
    ).fit(X, y)
    data, fmt, trusted = serialize(model)
    assert fmt == "skops" and trusted == sorted(sio.get_untrusted_types(data=data))
    assert (sio.loads(data, trusted=trusted).predict(X) == model.predict(X)).all()
