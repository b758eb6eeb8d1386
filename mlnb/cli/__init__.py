"""The ``mlnb`` command line: a thin layer over the core. Each area adds its subcommands."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from typing import Any

from mlnb.errors import MlnbError

COMMAND_MODULES = [
    "mlnb.cli.tracking",
    "mlnb.cli.models",
    "mlnb.cli.alerts",
    "mlnb.cli.monitoring",
    "mlnb.cli.pipelines",
    "mlnb.cli.sync",
]


class CliError(MlnbError):
    """Bad command-line usage."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"mlnb: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mlnb",
        description="mlnb: tracking, model registry, gates, drift monitoring and pipelines "
        "over a local registry (.mlnb/ or $MLNB_HOME).",
    )
    parser.add_argument(
        "--registry", "-r", default=None, help="registry folder (default: $MLNB_HOME or ./.mlnb)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_commands(sub)
    return parser


def open_registry(args: argparse.Namespace, create: bool = False) -> Any:
    from mlnb.store.registry import Registry

    return Registry(args.registry, create=create)


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    """Print ``data`` as JSON with --json, else the human ``text``."""
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, default=str))
    else:
        print(text)


def main(argv: Sequence[str] | None = None) -> int:
    import logging

    parser = build_parser()
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="mlnb: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        result = args.func(args)
        return int(result or 0)
    except MlnbError as exc:
        print(f"mlnb: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mlnb: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
