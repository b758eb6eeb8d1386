"""Model save/load through mlnb against plain skops (and joblib) on the same model, and
fingerprint work the buffer memories save; used by bench/run.py (rows ``model_io`` and
``fingerprint_memory``) and runnable alone:

    PYTHONPATH=. python bench/bench_models.py            # prints one JSON object

mlnb's save is skops' dump plus the canonical rewrite, the type audit of the schema, sha256
and the object-store write; its load is the sha256 check plus one skops load, which audits
the types as it parses (for objects of 4 MB or more the sha256 runs in a thread beside the
parse and is checked before anything is built, so ``where_load_goes`` adds up to more than
the load). The floor is ``skops.io.dump`` / ``skops.io.load`` of the same model
to a file (with its untrusted types passed as ``trusted``, the trust checks kept).
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

FOREST_TREES = 100
LGBM_TREES = 300
MIXED_ROWS = 1_000_000


def best_of(func: Callable[[], Any], repeats: int = 3) -> float:
    """The fastest of ``repeats`` timed calls after one warm-up (the least disturbed by load)."""
    func()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return min(times)


def fit_models(fit_data: Path | None) -> dict[str, Any]:
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier

    if fit_data is not None:
        data = pd.read_parquet(fit_data)
        X, y = data.drop(columns="target").to_numpy(), data["target"].to_numpy()
    else:
        rng = np.random.default_rng(2)
        X = rng.standard_normal((20_000, 20))
        y = (X @ rng.standard_normal(20) + rng.logistic(size=20_000) > 0).astype(np.int64)
    models: dict[str, Any] = {
        "RandomForest": RandomForestClassifier(n_estimators=FOREST_TREES, random_state=0).fit(X, y)
    }
    try:
        import lightgbm

        models["LightGBM"] = lightgbm.LGBMClassifier(
            n_estimators=LGBM_TREES, num_leaves=63, verbose=-1
        ).fit(X, y)
    except ImportError:
        pass
    return models


def model_io(workdir: Path, fit_data: Path | None = None) -> dict[str, Any]:
    """Save and load times, mlnb vs plain skops (and joblib), per model."""
    import joblib
    import skops.io as sio

    import mlnb
    from mlnb.tracking.artifacts import load_artifact, save_model

    reg = mlnb.Registry(workdir / "registry")
    out: dict[str, Any] = {}
    for name, model in fit_models(fit_data).items():
        path = workdir / f"{name}.skops"
        plain_dump = best_of(lambda m=model, p=path: sio.dump(m, p))
        trusted = sio.get_untrusted_types(file=path)
        plain_load = best_of(lambda p=path, t=trusted: sio.load(p, trusted=t))
        jpath = workdir / f"{name}.joblib"
        joblib.dump(model, jpath)
        joblib_load = best_of(lambda p=jpath: joblib.load(p))
        artifact = save_model(reg, model, name=name)
        mlnb_save = best_of(lambda m=model, n=name: save_model(reg, m, name=n))
        mlnb_load = best_of(lambda a=artifact["id"]: load_artifact(reg, a))
        out[name] = {
            "size_mb": path.stat().st_size / 1e6,
            "skops_dump_s": plain_dump,
            "skops_load_s": plain_load,
            "joblib_load_s": joblib_load,
            "mlnb_save_s": mlnb_save,
            "mlnb_load_s": mlnb_load,
            "where_load_goes": load_breakdown(reg, artifact),
        }
    reg.close()
    return out


def load_breakdown(reg: Any, artifact: dict[str, Any]) -> dict[str, float]:
    """Where an mlnb load spends its time: reading + sha256, skops' parse + audit, building."""
    import hashlib

    from skops.io._audit import audit_tree, get_tree
    from skops.io._utils import read_schema

    path = reg.objects.path_for(artifact["object_hash"])
    read = best_of(lambda: path.read_bytes())
    data = path.read_bytes()
    sha = best_of(lambda: hashlib.sha256(data).hexdigest())
    import zipfile

    def parse() -> Any:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            schema, context = read_schema(z)
            tree = get_tree(schema, context, trusted=artifact["trusted_types"])
            audit_tree(tree, trusted=artifact["trusted_types"])
            return tree

    parse_s = best_of(parse)
    build = best_of(lambda: parse().construct()) - parse_s
    return {"read_s": read, "sha256_s": sha, "parse_and_audit_s": parse_s, "construct_s": build}


def mixed_objects(rows: int = MIXED_ROWS) -> dict[str, float]:
    """A mixed-type object column (ints, strings, floats): the per-value repr route mlnb used
    before vs the by-type route, on the same values."""
    import numpy as np
    import xxhash

    from mlnb.tracking import fingerprint as fp

    values = np.empty(rows, dtype=object)
    values[0::3] = list(range(0, rows, 3))
    values[1::3] = [f"s{i}" for i in range(1, rows, 3)]
    values[2::3] = [float(i) for i in range(2, rows, 3)]

    def per_value_repr() -> None:
        h = xxhash.xxh3_128()
        for v in values:
            fp.update_text(h, f"{type(v).__name__}:{v!r}")

    return {
        "repr_s": best_of(per_value_repr, repeats=2),
        "by_type_s": best_of(lambda: fp._hash_objects(xxhash.xxh3_128(), values)),
    }


def memories(rows: int = MIXED_ROWS) -> dict[str, float]:
    """``dfa = df0`` in one snapshot, and an unchanged Arrow-backed frame mentioned again."""
    import numpy as np
    import pandas as pd

    from mlnb.tracking import fingerprint as fp

    rng = np.random.default_rng(0)
    df0 = pd.DataFrame(rng.standard_normal((rows, 10)), columns=[f"x{i}" for i in range(10)])

    def twice_apart() -> None:
        fp.describe(df0)
        fp.describe(df0)

    def twice_in_one_snapshot() -> None:
        with fp.one_snapshot():
            fp.describe(df0)
            fp.describe(df0)

    words = pd.Series([f"customer-{i % 50_000:05d}" for i in range(rows)], dtype="str")
    text = pd.DataFrame({f"s{i}": words.copy() for i in range(4)})
    first = best_of(lambda: fp._fresh_column_digest(text["s0"]) and None, repeats=2) * 4
    again = best_of(lambda: fp.describe(text))
    return {
        "twice_apart_s": best_of(twice_apart),
        "twice_in_snapshot_s": best_of(twice_in_one_snapshot),
        "arrow_first_s": first,
        "arrow_again_s": again,
        "arrow_is_arrow": float("Arrow" in type(words.array).__name__),
    }


def main(argv: list[str]) -> int:
    fit_data = Path(argv[1]) if len(argv) > 1 else None
    with tempfile.TemporaryDirectory() as tmp:
        result = {
            "model_io": model_io(Path(tmp), fit_data),
            "mixed_objects": mixed_objects(),
            "memories": memories(),
        }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
