"""``%pipeline``: turn the notebook you are in into a scheduled pipeline, run it, watch it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from mlnb.errors import MlnbError, ValidationError
from mlnb.magics._args import HelpShown, MagicArgumentParser, parse

PIPELINE_HELP = """%pipeline: this notebook as a scheduled, retrained pipeline (papermill).

  %pipeline create NAME [--schedule '0 3 * * *'] [--timezone Europe/Berlin]
                   [--param k=v ...] [--on-new-data PATH] [--on-alert MONITOR[:KINDS]]
                   [--gate GATE --promote-to production] [--model NAME]
                   [--timeout S] [--retries N] [--retry-delay S] [--max-concurrent N]
                   [--keep N] [--catchup once|skip] [--tag-parameters] [--replace]
                   [--notebook PATH]          (default: this notebook)
  %pipeline run NAME [--param k=v ...]        run now in a fresh kernel and wait
  %pipeline list | show NAME [RUN_ID] | history NAME [-n N]
  %pipeline pause NAME | resume NAME | delete NAME
  %pipeline export NAME --crontab|--systemd   the entry that keeps it scheduled

Parameters go into the cell tagged 'parameters'. Keep `mlnb scheduler` running (or install
the exported entry) for schedules, new-data and alert triggers.
"""


def _create_parser() -> MagicArgumentParser:
    from mlnb.pipelines.options import add_definition_options

    p = MagicArgumentParser(prog="%pipeline create")
    p.add_argument("name")
    p.add_argument("--notebook", default=None, help="notebook to run (default: this one)")
    add_definition_options(p)
    return p


def _run_parser() -> MagicArgumentParser:
    p = MagicArgumentParser(prog="%pipeline run")
    p.add_argument("name")
    p.add_argument("--param", "-p", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--reason", default="")
    return p


def _name_parser(action: str) -> MagicArgumentParser:
    p = MagicArgumentParser(prog=f"%pipeline {action}")
    p.add_argument("name")
    if action == "show":
        p.add_argument("run_id", nargs="?", type=int)
    if action == "history":
        p.add_argument("--limit", "-n", type=int, default=20)
    if action == "export":
        how = p.add_mutually_exclusive_group(required=True)
        how.add_argument("--crontab", action="store_true")
        how.add_argument("--systemd", action="store_true")
    return p


def this_notebook(ns: dict[str, Any]) -> Path:
    """The notebook this kernel belongs to, as far as Jupyter tells the kernel."""
    from mlnb.magics.core import _notebook_path

    vscode = ns.get("__vsc_ipynb_file__")
    found = vscode if isinstance(vscode, str) else _notebook_path(ns)
    if found:
        path = Path(found).expanduser()
        for candidate in (path, Path.cwd() / path, Path.cwd() / path.name):
            if candidate.suffix == ".ipynb" and candidate.exists():
                return candidate.resolve()
    raise ValidationError(
        "cannot tell which notebook this is (Jupyter did not say); pass --notebook PATH."
    )


@magics_class
class PipelineMagics(Magics):
    """``%pipeline`` over :mod:`mlnb.pipelines`."""

    @line_magic
    def pipeline(self, line: str) -> Any:
        """%pipeline create|run|list|show|history|pause|resume|delete|export ... (%pipeline help)"""
        try:
            return self._dispatch(line)
        except HelpShown as shown:
            print(str(shown))
        except MlnbError as exc:
            raise UsageError(str(exc)) from None
        return None

    def _dispatch(self, line: str) -> Any:
        from mlnb.store.registry import get_registry

        words = line.split(None, 1)
        if not words or words[0] in ("help", "-h", "--help"):
            print(PIPELINE_HELP)
            return None
        action, rest = words[0], words[1] if len(words) > 1 else ""
        reg = get_registry()
        handler = getattr(self, f"_{action}", None)
        if handler is None:
            raise ValidationError(f"unknown %pipeline action {action!r}; try %pipeline help.")
        return handler(reg, rest)

    def _create(self, reg: Any, rest: str) -> Any:
        from mlnb.pipelines import create_pipeline
        from mlnb.pipelines.options import definition_kwargs
        from mlnb.render.pipelines import pipeline_html, pipeline_text
        from mlnb.render.tables import Rendered

        args = parse(_create_parser(), rest)
        inside = os.environ.get("MLNB_PIPELINE_RUN_ID")
        if inside:
            print(
                f"mlnb: inside pipeline run #{inside}: `%pipeline create {args.name}` left the "
                "stored definition as it is."
            )
            return None
        notebook = (
            Path(args.notebook).expanduser() if args.notebook else this_notebook(self.shell.user_ns)
        )
        p = create_pipeline(args.name, notebook, registry=reg, **definition_kwargs(args))
        for message in p["messages"]:
            print(f"mlnb: {message}")
        if any(m.startswith("tagged ") for m in p["messages"]):
            print(
                "mlnb: the notebook file changed on disk; reload it (File > Reload) before saving."
            )
        else:
            print(f"mlnb: runs execute {notebook.name} as saved on disk; save it to include edits.")
        return Rendered(pipeline_html(p), pipeline_text(p))

    def _run(self, reg: Any, rest: str) -> Any:
        from mlnb.pipelines import get_pipeline_run, run_pipeline
        from mlnb.pipelines.config import parse_params
        from mlnb.render.pipelines import run_rendered

        args = parse(_run_parser(), rest)
        print(f"mlnb: running pipeline {args.name} in a fresh kernel ...", flush=True)
        row = run_pipeline(
            args.name, params=parse_params(args.param), reason=args.reason, registry=reg
        )
        return run_rendered(get_pipeline_run(row["id"], registry=reg))

    def _list(self, reg: Any, rest: str) -> Any:
        from mlnb.pipelines import list_pipelines
        from mlnb.render.pipelines import pipelines_html, pipelines_text
        from mlnb.render.tables import Rendered

        pipelines = list_pipelines(registry=reg)
        return Rendered(pipelines_html(pipelines), pipelines_text(pipelines))

    def _show(self, reg: Any, rest: str) -> Any:
        from mlnb.pipelines import describe_pipeline, get_pipeline_run
        from mlnb.render.pipelines import pipeline_html, pipeline_text, run_rendered
        from mlnb.render.tables import Rendered

        args = parse(_name_parser("show"), rest)
        if args.run_id is not None:
            return run_rendered(get_pipeline_run(args.run_id, registry=reg))
        p = describe_pipeline(args.name, registry=reg)
        return Rendered(pipeline_html(p), pipeline_text(p))

    def _history(self, reg: Any, rest: str) -> Any:
        from mlnb.pipelines import pipeline_history
        from mlnb.render.pipelines import history_html, history_text
        from mlnb.render.tables import Rendered

        args = parse(_name_parser("history"), rest)
        runs = pipeline_history(args.name, limit=args.limit, registry=reg)
        return Rendered(history_html(runs), history_text(runs))

    def _pause(self, reg: Any, rest: str) -> None:
        from mlnb.pipelines import set_pipeline_status

        args = parse(_name_parser("pause"), rest)
        set_pipeline_status(args.name, "paused", registry=reg)
        print(f"mlnb: pipeline {args.name} paused")

    def _resume(self, reg: Any, rest: str) -> None:
        from mlnb.pipelines import set_pipeline_status

        args = parse(_name_parser("resume"), rest)
        p = set_pipeline_status(args.name, "active", registry=reg)
        nxt = f"; next scheduled run {p['next_run_at']}" if p.get("next_run_at") else ""
        print(f"mlnb: pipeline {args.name} resumed{nxt}")

    def _delete(self, reg: Any, rest: str) -> None:
        from mlnb.pipelines import delete_pipeline

        args = parse(_name_parser("delete"), rest)
        delete_pipeline(args.name, registry=reg)
        print(f"mlnb: pipeline {args.name} deleted")

    def _export(self, reg: Any, rest: str) -> None:
        from mlnb.pipelines.export import export_crontab, export_systemd

        args = parse(_name_parser("export"), rest)
        print(export_crontab(reg, args.name) if args.crontab else export_systemd(reg, args.name))
