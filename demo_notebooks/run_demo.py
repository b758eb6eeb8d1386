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


def main() -> int:
    sys.path.insert(0, str(HERE))
    outputs = run_notebooks()
    print()
    print(report(outputs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
