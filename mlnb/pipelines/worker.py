"""One attempt of one pipeline run, in its own process: ``python -m mlnb.pipelines.worker ID``.

The worker executes the notebook with papermill in a fresh kernel that inherits
``MLNB_HOME``, ``MLNB_PIPELINE_RUN_ID`` and ``MLNB_NOTEBOOK_PATH``, so everything the notebook
tracks links to the pipeline run. It then runs the gate and promotion step and records the
outcome. Running in a child process lets the caller enforce timeouts by killing it, and keeps
the scheduler alive whatever the kernel does. The worker dies with the process that started
it, and a kernel dies with its worker (ipykernel watches its parent).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from mlnb.errors import MlnbError
from mlnb.pipelines.config import PipelineConfig, validate_params
from mlnb.pipelines.notebook import (
    failure_in_output,
    failure_text,
    find_parameters_cell,
    first_line,
    read_notebook,
    source_index,
)
from mlnb.pipelines.triggers import hash_watched_paths
from mlnb.store.registry import Registry

HEARTBEAT_SECONDS = 5.0
log = logging.getLogger("mlnb.pipelines.worker")


class Terminated(BaseException):
    """SIGTERM reached the worker: its parent stopped it, or its parent died (``orphaned``)."""

    def __init__(self, message: str, orphaned: bool = False) -> None:
        super().__init__(message)
        self.orphaned = orphaned


class _CurrentCell:
    """Which source cell papermill is executing (for kernel deaths and interruptions)."""

    def __init__(self) -> None:
        self.index: int | None = None
        self.line = ""

    def describe(self) -> str:
        if self.index is None:
            return "before the first cell ran"
        return f"while executing cell {self.index + 1} ({self.line!r})"


CURRENT = _CurrentCell()


def _register_engine() -> None:
    """A papermill engine that notes the cell in progress before papermill saves it."""
    from papermill.engines import NBClientEngine, papermill_engines

    class MlnbEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
            original = nb_man.cell_start

            def cell_start(cell: Any, cell_index: int | None = None, **kw: Any) -> Any:
                if cell_index is not None:
                    CURRENT.index = source_index(nb_man.nb, cell_index)
                    CURRENT.line = first_line(cell.source)
                return original(cell, cell_index, **kw)

            nb_man.cell_start = cell_start
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    papermill_engines.register("mlnb", MlnbEngine)


def _die_with_parent(parent_pid: int | None) -> None:
    """Ask Linux to send SIGTERM when the parent dies; elsewhere the heartbeat polls."""
    if not parent_pid:
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        raise Terminated(
            f"the process that started this run (pid {parent_pid}) is gone", orphaned=True
        )


def _on_sigterm(parent_pid: int | None) -> Any:
    def handler(signum: int, frame: Any) -> None:
        if parent_pid and os.getppid() != parent_pid:
            raise Terminated(
                f"the scheduler or command that started this run (pid {parent_pid}) died",
                orphaned=True,
            )
        raise Terminated("stopped by SIGTERM")

    return handler


def _heartbeat(reg: Any, run_id: int, parent_pid: int | None, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_SECONDS):
        try:
            reg.pipelines.heartbeat_run(run_id)
        except Exception:  # a missed beat is harmless
            pass
        if parent_pid and os.getppid() != parent_pid:
            os.kill(os.getpid(), signal.SIGTERM)


def pin_default_kernel(kernel: str, folder: Path) -> str | None:
    """Make the default ``python3`` kernel run this interpreter, the one that has mlnb.

    When the ``python3`` kernelspec Jupyter would pick (a user-level one, say) starts another
    interpreter, a spec for this one is put first on ``JUPYTER_PATH`` for the run. Returns a
    note for the log when that happened. Other kernel names are used as they are.
    """
    if kernel != "python3":
        return None
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        argv0 = KernelSpecManager().get_kernel_spec(kernel).argv[0]
    except (NoSuchKernel, IndexError):
        argv0 = None
    same = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}
    if argv0 in same or (argv0 and Path(argv0).resolve() == Path(sys.executable).resolve()):
        return None
    spec_dir = folder / "kernels" / "python3"
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (mlnb)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    paths = [str(folder), *filter(None, [os.environ.get("JUPYTER_PATH")])]
    os.environ["JUPYTER_PATH"] = os.pathsep.join(paths)
    found = f"would start {argv0}" if argv0 else "is not installed"
    return f"the python3 kernelspec {found}; the run uses {sys.executable}, which has mlnb"


def run_params(cfg: PipelineConfig, run: dict[str, Any]) -> dict[str, Any]:
    """The pipeline's parameters with this run's overrides on top."""
    return {**cfg.params, **run["details"].get("params", {})}


def kernel_environment(reg: Any, pipeline: dict[str, Any], run: dict[str, Any]) -> dict[str, str]:
    """What the kernel needs to know: which registry, which pipeline run, which notebook."""
    return {
        "MLNB_HOME": str(reg.home),
        "MLNB_PIPELINE_RUN_ID": str(run["id"]),
        "MLNB_PIPELINE": pipeline["name"],
        "MLNB_PIPELINE_TRIGGER": run["trigger"],
        "MLNB_NOTEBOOK_PATH": pipeline["notebook_path"],
    }


def execute(reg: Any, run_id: int, parent_pid: int | None = None) -> dict[str, Any]:
    """Run the notebook of pipeline run ``run_id`` and record the outcome; returns the fields
    written (status, error, failing_cell)."""
    run = reg.pipelines.run(run_id)
    pipeline = reg.pipelines.get_by_id(run["pipeline_id"])
    cfg = PipelineConfig.from_dict(pipeline["config"])
    stop = threading.Event()
    beat = threading.Thread(
        target=_heartbeat, args=(reg, run_id, parent_pid, stop), name="mlnb-pipeline-heartbeat"
    )
    beat.daemon = True
    beat.start()
    try:
        outcome = _execute_notebook(reg, pipeline, cfg, run)
        if outcome["status"] == "finished" and not run["details"].get("defer_promotion"):
            outcome.update(_promotion_step(reg, pipeline, cfg, run_id))
    except Terminated as exc:
        outcome = {
            "status": "crashed",
            "error": f"{exc} {CURRENT.describe()}.",
            "failing_cell": CURRENT.index,
        }
        orphaned = exc.orphaned
    else:
        orphaned = False
    finally:
        stop.set()
    _record(reg, run_id, outcome)
    if orphaned:
        # nobody is left to alert or retry: do what the scheduler would have done
        from mlnb.pipelines.outcomes import settle_orphaned_run

        settle_orphaned_run(reg, run_id)
    return outcome


def _execute_notebook(
    reg: Any, pipeline: dict[str, Any], cfg: PipelineConfig, run: dict[str, Any]
) -> dict[str, Any]:
    notebook = Path(pipeline["notebook_path"])
    output = run["output_path"]
    try:
        nb = read_notebook(notebook)
    except MlnbError as exc:
        return {"status": "failed", "error": f"{exc}"}
    cell = find_parameters_cell(nb)
    if cell is None or not cell.tagged:
        return {
            "status": "failed",
            "error": f"{notebook} no longer has a cell tagged 'parameters'; tag one again "
            f"(or recreate the pipeline with --tag-parameters).",
        }
    _record_data_hashes(reg, cfg, run["id"])
    os.environ.update(kernel_environment(reg, pipeline, run))
    note = pin_default_kernel(cfg.kernel, Path(reg.home) / "pipelines" / ".jupyter")
    if note:
        log.info("%s", note)
    try:
        params = validate_params(run_params(cfg, run))
    except MlnbError as exc:
        return {"status": "failed", "error": f"refused to run: {exc}"}
    log.info(
        "pipeline %s run #%d (%s): executing %s with %s",
        pipeline["name"],
        run["id"],
        run["trigger"],
        notebook,
        params,
    )
    import papermill as pm
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    _register_engine()
    try:
        pm.execute_notebook(
            str(notebook),
            str(output),
            parameters=params,
            kernel_name=cfg.kernel,
            engine_name="mlnb",
            cwd=str(notebook.parent),
            log_output=True,
            progress_bar=False,
            request_save_on_cell_execute=True,
        )
    except PapermillExecutionError as exc:
        return {
            "status": "failed",
            "error": failure_text(
                exc.ename, exc.evalue, exc.traceback, CURRENT.index, first_line(exc.source)
            ),
            "failing_cell": CURRENT.index,
        }
    except DeadKernelError:
        return {
            "status": "crashed",
            "error": f"the kernel died {CURRENT.describe()} (killed, or out of memory); "
            "see the output notebook for the last output.",
            "failing_cell": CURRENT.index,
        }
    except Exception as exc:
        name = type(exc).__name__
        saved = failure_in_output(output) if output and Path(output).exists() else None
        if saved and not str(exc).strip():  # e.g. a CellExecutionError with no message
            return {"status": "failed", "error": saved, "failing_cell": CURRENT.index}
        hint = ""
        if name == "NoSuchKernel":
            hint = f" Install it (e.g. `{sys.executable} -m ipykernel install --sys-prefix`) or pass --kernel."
        message = str(exc).strip() or "raised without a message"
        return {
            "status": "failed",
            "error": f"{name}: {message} {CURRENT.describe()}.{hint}",
            "failing_cell": CURRENT.index,
        }
    return {"status": "finished"}


def _record_data_hashes(reg: Any, cfg: PipelineConfig, run_id: int) -> None:
    """The content hash of every watched path at the start, the baseline for the next
    new-data check once this run succeeds."""
    if not cfg.on_new_data:
        return

    hashes, _ = hash_watched_paths(reg, cfg.on_new_data)
    reg.pipelines.merge_run_details(run_id, {"data_hashes": hashes})


def _promotion_step(
    reg: Any, pipeline: dict[str, Any], cfg: PipelineConfig, run_id: int
) -> dict[str, Any]:
    if not cfg.promote_to:
        return {}
    # loaded only when the pipeline promotes: gates pull in the data and model stack, which a
    # worker that only runs the notebook never needs (it is a fresh process per attempt)
    from mlnb.pipelines.promotion import promote_candidates

    try:
        decision = promote_candidates(reg, pipeline, cfg, run_id)
    except Exception as exc:
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        reg.pipelines.merge_run_details(
            run_id, {"promotion": {"decision": "error", "error": detail}}
        )
        return {"status": "failed", "error": f"the gate/promotion step failed: {detail}"}
    reg.pipelines.merge_run_details(run_id, {"promotion": decision})
    return {}


def _record(reg: Any, run_id: int, outcome: dict[str, Any], tries: int = 5) -> None:
    """Write the outcome (only if the run is still ours: a timeout may have ended it)."""
    fields = {
        "status": outcome["status"],
        "error": outcome.get("error"),
        "failing_cell": outcome.get("failing_cell"),
        "ended_at": time.time(),
    }
    for attempt in range(tries):
        try:
            reg.pipelines.update_run(run_id, fields, only_if_status="running")
            return
        except MlnbError:
            if attempt == tries - 1:
                raise
            time.sleep(1.0 + attempt)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlnb.pipelines.worker")
    parser.add_argument("run_id", type=int)
    parser.add_argument("--registry", required=True)
    parser.add_argument("--parent-pid", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(  # force: a worker forked from the command line drops its handlers
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(name)s: %(message)s",
        force=True,
    )
    signal.signal(signal.SIGTERM, _on_sigterm(args.parent_pid))

    try:
        _die_with_parent(args.parent_pid)
        reg = Registry(args.registry, create=False)
    except Terminated as exc:
        print(f"mlnb worker: {exc}", file=sys.stderr)
        return 3
    outcome = execute(reg, args.run_id, args.parent_pid)
    log.info(
        "run #%d %s%s",
        args.run_id,
        outcome["status"],
        f": {outcome.get('error')}" if outcome.get("error") else "",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
