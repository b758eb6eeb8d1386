"""Tracking magics: ``%mlnb``, ``%%track``, ``%track on|off``, ``%dataversion``, ``%runs``."""

from __future__ import annotations

import ast
import os
import sys
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.display import display

from mlnb.errors import MlnbError
from mlnb.magics._args import HelpShown, MagicArgumentParser, comma_list, parse

MLNB_HELP = """mlnb: MLOps in the notebook.

  %mlnb status                      registry, experiment, runs, models, open alerts
  %mlnb registry [PATH]             show or switch the registry folder
  %mlnb experiment [NAME]           show or set the experiment new runs belong to
  %%track [--name N] [--params a,b] [--metrics m,n] [--no-data] [--no-models]
                                    run the cell and record params, data, models, metrics
  %track on|off [same options]      track every cell
  %dataversion OBJ_OR_PATH [--name N] [--snapshot]
                                    record a data version (snapshot keeps a copy to restore)
  %runs [--experiment E] [--status S] [--sort METRIC] [--asc] [--limit N]
  %runs --compare A B [C ...]       params, metrics and data of runs side by side

  %register_model VAR --name NAME [--stage staging] [--alias A] [--X VAR]
                                    register a fitted model as a new version
  %promote NAME [--version N] [--to STAGE] [--gate G] [--holdout VAR] [--target COL]
                                    run the gate; promote only if every check passes
  %models [NAME]   %rollback NAME   %lineage NAME@VERSION

  %drift CURRENT --reference REF | --monitor NAME [--log] [--widget]
                                    drift panel of a DataFrame against a reference or monitor
  %monitor help                     create monitors, log batches, status, history, panels
  %pipeline help                    this notebook as a scheduled, retrained pipeline

Python: mlnb.track, log_param/log_metric/log_data/log_model, fingerprint, load_model,
load_data, register_model, promote, rollback, lineage, Monitor, drift, create_pipeline.
CLI: mlnb --help.
"""


def _warn(message: str) -> None:
    """The one line a capture problem costs the user; their cell is never affected."""
    print(f"mlnb: {message}", file=sys.stderr)


def _notebook_path(ns: dict[str, Any]) -> str | None:
    return (
        os.environ.get("MLNB_NOTEBOOK_PATH")
        or (ns.get("__session__") if isinstance(ns.get("__session__"), str) else None)
        or os.environ.get("JPY_SESSION_NAME")
        or None
    )


def _track_parser(prog: str) -> MagicArgumentParser:
    p = MagicArgumentParser(prog=prog, add_help=True)
    p.add_argument("--name", default="", help="run name")
    p.add_argument("--experiment", default=None, help="experiment for this run")
    p.add_argument("--params", default=None, help="comma-separated names to record as params")
    p.add_argument("--metrics", default=None, help="comma-separated names to record as metrics")
    p.add_argument("--no-data", action="store_true", help="do not version data")
    p.add_argument("--no-models", action="store_true", help="do not save fitted models")
    return p


def _options(args: Any) -> Any:
    from mlnb.tracking.cell import TrackOptions

    return TrackOptions(
        name=args.name,
        params=comma_list(args.params),
        metrics=comma_list(args.metrics) or [],
        data=not args.no_data,
        models=not args.no_models,
        experiment=args.experiment,
    )


@magics_class
class CoreMagics(Magics):
    """Magics for tracking cells into the registry."""

    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self._auto_options: Any = None
        self._auto_capture: Any = None

    # -- helpers --------------------------------------------------------------------

    def _registry(self) -> Any:
        from mlnb.store.registry import get_registry

        return get_registry()

    def _run_guarded(self, func: Any, *args: Any) -> Any:
        try:
            return func(*args)
        except HelpShown as shown:
            print(str(shown))
        except MlnbError as exc:
            raise UsageError(str(exc)) from None

    # -- %mlnb ----------------------------------------------------------------------

    @line_magic
    def mlnb(self, line: str) -> Any:
        """mlnb status | registry [PATH] | experiment [NAME] | help"""
        return self._run_guarded(self._mlnb, line)

    def _mlnb(self, line: str) -> Any:
        from mlnb.store.registry import get_registry, set_registry
        from mlnb.tracking.run import current_experiment, set_experiment

        words = line.split(None, 1)
        if not words or words[0] in ("help", "-h", "--help"):
            print(MLNB_HELP)
            return None
        cmd, rest = words[0], (words[1].strip() if len(words) > 1 else "")
        if cmd == "registry":
            if rest:
                reg = set_registry(os.path.expanduser(rest.strip("'\"")))
                print(f"mlnb: registry {reg.home}")
            else:
                print(f"mlnb: registry {get_registry().home}")
            return None
        if cmd == "experiment":
            if rest:
                name = set_experiment(rest.strip("'\""))
                print(f"mlnb: experiment {name!r}")
            else:
                print(f"mlnb: experiment {current_experiment()!r}")
            return None
        if cmd == "status":
            from mlnb.commands.status import status_report

            return status_report(
                get_registry(), current_experiment(), self._auto_options is not None
            )
        raise MlnbError(f"unknown %mlnb command {cmd!r}; try %mlnb help.")

    # -- %%track / %track on|off ------------------------------------------------------

    @line_cell_magic
    def track(self, line: str, cell: str | None = None) -> Any:
        """%%track [--name N] [--params a,b] [--metrics m,n] [--no-data] [--no-models]

        As a cell magic: run the cell and record what it did as a run. As a line magic:
        `%track on [options]` tracks every following cell, `%track off` stops.
        """
        __tracebackhide__ = True  # noqa: F841 - IPython hides this frame in tracebacks
        if cell is None:
            return self._run_guarded(self._track_line, line)
        try:
            args = parse(_track_parser("%%track"), line)
        except HelpShown as shown:
            print(str(shown))
            return None
        except MlnbError as exc:
            raise UsageError(str(exc)) from None
        return self._track_cell(cell, _options(args))

    def _track_line(self, line: str) -> None:
        words = line.split(None, 1)
        if not words or words[0] not in ("on", "off"):
            raise MlnbError(
                "usage: %track on [--name N] [--params a,b] [--metrics m,n] [--no-data] [--no-models] | %track off"
            )
        if words[0] == "off":
            if self._auto_options is not None:
                self.shell.events.unregister("pre_run_cell", self._pre_run_cell)
                self.shell.events.unregister("post_run_cell", self._post_run_cell)
                self._auto_options = None
            print("mlnb: tracking every cell is off")
            return
        args = parse(_track_parser("%track on"), words[1] if len(words) > 1 else "")
        if self._auto_options is None:
            self.shell.events.register("pre_run_cell", self._pre_run_cell)
            self.shell.events.register("post_run_cell", self._post_run_cell)
        self._auto_options = _options(args)
        print("mlnb: tracking every cell (turn off with %track off)")

    def _new_capture(self, cell: str, options: Any, execution_count: int | None) -> Any:
        from mlnb.tracking.cell import CellCapture

        try:
            transformed = self.shell.transform_cell(cell)
        except Exception:
            transformed = cell
        return CellCapture(
            self._registry(),
            self.shell.user_ns,
            cell,
            options,
            execution_count=execution_count,
            notebook_path=_notebook_path(self.shell.user_ns),
            analysed_source=transformed,
        )

    def _track_cell(self, cell: str, options: Any) -> Any:
        __tracebackhide__ = True  # noqa: F841
        capture = None
        try:
            capture = self._new_capture(cell, options, self.shell.execution_count)
            capture.before()
        except Exception as exc:
            _warn(
                f"could not start tracking ({type(exc).__name__}: {exc}); the cell runs untracked."
            )
            capture = None
        error: BaseException | None = None
        try:
            return self._execute(cell)
        except BaseException as exc:
            error = exc
            raise
        finally:
            if capture is not None:
                self._finish(capture, error)

    def _finish(self, capture: Any, error: BaseException | None) -> None:
        try:
            summary = capture.after(error)
            display(summary)
        except Exception as exc:
            _warn(f"capture problem ({type(exc).__name__}: {exc}); your cell ran normally.")
        finally:
            _release(capture)

    def _execute(self, cell: str) -> Any:
        """Run the cell body in the user namespace; its last expression is the result."""
        __tracebackhide__ = True  # noqa: F841
        shell = self.shell
        transformed = shell.transform_cell(cell)
        tree = shell.compile.ast_parse(transformed)
        tree = shell.transform_ast(tree)
        filename = shell.compile.cache(transformed, shell.execution_count, raw_code=cell)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        ns = shell.user_ns
        if tree.body:
            exec(shell.compile(tree, filename, "exec"), shell.user_global_ns, ns)
        if last is not None:
            return eval(shell.compile(last, filename, "eval"), shell.user_global_ns, ns)
        return None

    def _pre_run_cell(self, info: Any) -> None:
        self._auto_capture = None
        try:
            cell = getattr(info, "raw_cell", "") or ""
            if not _worth_tracking(cell):
                return
            capture = self._new_capture(cell, self._auto_options, self.shell.execution_count)
            capture.before()
            self._auto_capture = capture
        except Exception as exc:
            _warn(
                f"could not start tracking this cell ({type(exc).__name__}: {exc}); it runs untracked."
            )

    def _post_run_cell(self, result: Any) -> None:
        capture, self._auto_capture = self._auto_capture, None
        if capture is None:
            return
        error = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
        self._finish(capture, error)

    # -- %dataversion -----------------------------------------------------------------

    @line_magic
    def dataversion(self, line: str) -> Any:
        """%dataversion OBJ_OR_PATH [--name N] [--snapshot]: record a data version."""
        return self._run_guarded(self._dataversion, line)

    def _dataversion(self, line: str) -> Any:
        from mlnb.render.tables import Rendered, esc, short_id
        from mlnb.tracking.data import record_data
        from mlnb.tracking.fingerprint import is_data
        from mlnb.tracking.run import active_run

        p = MagicArgumentParser(prog="%dataversion")
        p.add_argument("target", help="a variable name or a path")
        p.add_argument("--name", default=None)
        p.add_argument("--snapshot", action="store_true", help="keep a copy to restore later")
        args = parse(p, line)
        ns = self.shell.user_ns
        if args.target in ns and is_data(ns[args.target]):
            obj, name = ns[args.target], args.name or args.target
        elif args.target in ns:
            raise MlnbError(
                f"{args.target} is a {type(ns[args.target]).__name__}; %dataversion versions "
                "DataFrames, Series, numpy arrays, or a file/folder path."
            )
        elif os.path.exists(os.path.expanduser(args.target)):
            obj, name = (
                os.path.expanduser(args.target),
                args.name or os.path.basename(args.target.rstrip("/")),
            )
        else:
            raise MlnbError(
                f"{args.target!r} is neither a variable in the notebook nor an existing file or "
                "folder. Check the spelling or the path."
            )
        run = active_run()
        version = record_data(
            self._registry(), obj, name=name, run_id=run.id if run else None, snapshot=args.snapshot
        )
        shape = (
            f"{version.get('n_rows')}x{version.get('n_cols')}"
            if version.get("n_rows") is not None
            else version["kind"]
        )
        kept = (
            " (snapshot kept: restore with `mlnb data restore`)" if version.get("snapshot") else ""
        )
        text = f"data version {version['id']} of {name} [{shape}]{kept}"
        return Rendered(
            f"<div style='font-size:12px'>mlnb: data version <code>{esc(short_id(version['id'], 32))}</code> of <code>{esc(name)}</code> [{esc(shape)}]{esc(kept)}</div>",
            text,
        )

    # -- %runs --------------------------------------------------------------------------

    @line_magic
    def runs(self, line: str) -> Any:
        """%runs [--experiment E] [--status S] [--sort METRIC] [--asc] [--limit N] | --compare A B"""
        return self._run_guarded(self._runs, line)

    def _runs(self, line: str) -> Any:
        from mlnb.render.tables import Rendered, compare_html, compare_text, runs_html, runs_text

        p = MagicArgumentParser(prog="%runs")
        p.add_argument("--experiment", default=None)
        p.add_argument("--status", default=None)
        p.add_argument("--sort", default=None, help="metric or field to sort by (descending)")
        p.add_argument("--asc", action="store_true", help="sort ascending")
        p.add_argument("--limit", type=int, default=50)
        p.add_argument("--compare", nargs="+", default=None, metavar="RUN")
        args = parse(p, line)
        reg = self._registry()
        if args.compare:
            cmp = reg.runs.compare(args.compare)
            return Rendered(compare_html(cmp), compare_text(cmp))
        if args.limit is not None and args.limit <= 0:
            raise MlnbError("--limit must be a positive number of runs.")
        runs = reg.runs.find(
            experiment=args.experiment,
            status=args.status,
            limit=args.limit,
            sort=args.sort,
            descending=not args.asc,
        )
        return Rendered(runs_html(runs), runs_text(runs))


def _release(capture: Any) -> None:
    """Whatever happened, the cell's run is no longer the active one (and is not left running)."""
    from mlnb.tracking.run import _pop

    run = getattr(capture, "run", None)
    if run is None:
        return
    _pop(run)
    if run.status == "running":
        try:
            run.end("failed", "mlnb could not finish capturing this cell")
        except Exception:
            pass


def _worth_tracking(cell: str) -> bool:
    """Skip empty cells, magic-only cells and cells that only hold comments."""
    lines = [ln.strip() for ln in cell.strip().splitlines() if ln.strip()]
    if not lines:
        return False
    if lines[0].startswith("%"):
        return False
    return any(not ln.startswith("#") for ln in lines)
