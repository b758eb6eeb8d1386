"""Argument parsing for magics: argparse that raises a clear UsageError instead of exiting."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from mlnb.errors import ValidationError


class MagicArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors say what was wrong and show the usage line."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        raise ValidationError(
            f"{self.prog}: {message}\nusage: {self.format_usage().removeprefix('usage: ').strip()}"
        )

    def exit(self, status: int = 0, message: str | None = None) -> Any:  # type: ignore[override]
        if status:
            raise ValidationError(message or f"{self.prog}: invalid arguments")
        raise _HelpShown(self.format_help())


class _HelpShown(Exception):
    """Raised for --help: the text is printed instead of running the magic."""


def parse(parser: MagicArgumentParser, line: str) -> argparse.Namespace:
    try:
        argv = shlex.split(line, posix=True)
    except ValueError as exc:
        raise ValidationError(f"{parser.prog}: cannot parse {line!r}: {exc}") from None
    return parser.parse_args(argv)


def comma_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [t.strip() for t in text.split(",") if t.strip()]


HelpShown = _HelpShown
