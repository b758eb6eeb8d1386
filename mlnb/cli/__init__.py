"""The ``mlnb`` command line: a thin layer over :mod:`mlnb.commands`.

The parser tree is built from :data:`mlnb.commands.catalog.COMMANDS`; the function of the
command the user chose is imported only then, so ``mlnb --help`` starts in milliseconds.
Results print as text, or as JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from mlnb.commands import spec
from mlnb.commands.catalog import COMMANDS
from mlnb.errors import MlnbError

REGISTRY_CLASS = "mlnb.store.registry:Registry"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"mlnb: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    """The whole ``mlnb`` parser tree, one sub-parser per declared command line command."""
    parser = _Parser(
        prog="mlnb",
        description="mlnb: tracking, model registry, gates, drift monitoring and pipelines "
        "over a local registry (.mlnb/ or $MLNB_HOME).",
    )
    parser.add_argument(
        "--registry", "-r", default=None, help="registry folder (default: $MLNB_HOME or ./.mlnb)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    spec.add_subcommands(parser, COMMANDS, (), spec.CLI)
    return parser


def _context(args: argparse.Namespace, cmd: spec.Command) -> spec.Context:
    def open_registry() -> Any:
        return spec.load(REGISTRY_CLASS)(args.registry, create=cmd.creates_registry)

    return spec.Context(spec.CLI, open_registry, json=args.json)


def emit(args: argparse.Namespace, result: spec.Result) -> None:
    """Print a result: its JSON value with --json, else its text."""
    if args.json and result.has_data and not result.raw:
        print(json.dumps(result.data, indent=2, default=str))
    elif result.text or result.has_data:
        print(result.text)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mlnb ARGS``; returns the exit status (1 for an mlnb error, 2 for bad usage)."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    cmd: spec.Command | None = getattr(args, "command", None)
    if cmd is None:
        parser.print_help()
        return 0
    cmd = spec.chosen(cmd, args, COMMANDS)  # `mlnb alerts --all` is `mlnb alerts list --all`
    if cmd is None:
        parser.parse_args([*argv, "--help"])
        return 0
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="mlnb: %(message)s")
    try:
        result = spec.run(cmd, _context(args, cmd), args)
        emit(args, result)
        return result.code
    except MlnbError as exc:
        print(f"mlnb: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mlnb: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:  # a path the user gave: too long, a folder, not permitted...
        where = f": {exc.filename}" if exc.filename else ""
        print(f"mlnb: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: one line, the traceback only on request
        if os.environ.get("MLNB_DEBUG"):
            raise
        detail = " ".join(str(exc).split())[:500]
        print(
            f"mlnb: error: unexpected {type(exc).__name__}: {detail} (a bug in mlnb; run again "
            "with MLNB_DEBUG=1 to see the traceback and report it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
