"""Argument parsing for magics: the declared parsers, raising a clear error instead of
exiting, and showing ``--help`` once."""

from __future__ import annotations

import argparse
import shlex
from typing import Any, NoReturn

from mlnb.errors import ValidationError


class HelpShown(Exception):
    """Raised for ``--help``: the magic prints the text instead of running."""


class MagicArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors say what was wrong and show the usage line."""

    def error(self, message: str) -> NoReturn:
        raise ValidationError(
            f"{self.prog}: {message}\nusage: {self.format_usage().removeprefix('usage: ').strip()}"
        )

    def print_help(self, file: Any = None) -> NoReturn:
        # argparse prints the help, then exits; a magic must do neither, and print it once.
        raise HelpShown(self.format_help())

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if status:
            raise ValidationError(message or f"{self.prog}: invalid arguments")
        raise HelpShown(self.format_help())


def split(line: str, prog: str) -> list[str]:
    """The words of a magic line, with shell quoting."""
    try:
        return shlex.split(line, posix=True)
    except ValueError as exc:
        raise ValidationError(f"{prog}: cannot parse {line!r}: {exc}") from None


def parse(parser: argparse.ArgumentParser, line: str) -> argparse.Namespace:
    """Parse a magic's line with ``parser``."""
    return parser.parse_args(split(line, parser.prog))


__all__ = ["HelpShown", "MagicArgumentParser", "parse", "split"]
