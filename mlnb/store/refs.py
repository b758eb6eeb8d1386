"""Parsing registered-model references: ``churn@production``, ``churn@champion``, ``churn/3``.

Pure functions with no registry access, so the grammar is easy to test on its own.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from mlnb.errors import ValidationError

STAGES = ("none", "staging", "production", "archived")
RESERVED_ALIASES = (*STAGES, "latest")
MAX_ID = (1 << 63) - 1  # the largest integer SQLite stores
# Letters and digits of any script (modèle-ü, 客户流失), '_', '-' and '.'; never a space or
# a character of the reference grammar ('@', '/').
_NAME = re.compile(r"^[^\W_][\w.\-]{0,99}$")
_REF = re.compile(r"^(?:models:/)?(?P<name>[^@/\s]+)(?:/(?P<version>\d+)|@(?P<alias>[^@/\s]+))?$")
REF_HELP = (
    "use NAME/VERSION (churn/3), NAME@VERSION (churn@3), NAME@STAGE (churn@production), "
    "NAME@ALIAS (churn@champion) or NAME for the latest version"
)


@dataclass(frozen=True)
class ModelRef:
    """A parsed reference: exactly one of ``version`` / ``alias`` is set, or neither (latest)."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}/{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name


def check_model_name(name: object) -> str:
    """A valid registered-model name, or ValidationError saying what is allowed."""
    if not isinstance(name, str) or not _NAME.match(unicodedata.normalize("NFC", name)):
        raise ValidationError(
            f"model name {name!r} is not valid: use 1-100 letters (any script), digits, '_', "
            "'-' or '.', starting with a letter or digit (e.g. 'churn' or 'modèle-ü')."
        )
    return name


def check_alias(alias: object) -> str:
    """A valid free alias (not a stage name, not a number)."""
    if (
        not isinstance(alias, str)
        or not _NAME.match(unicodedata.normalize("NFC", alias))
        or alias.isdigit()
    ):
        raise ValidationError(
            f"alias {alias!r} is not valid: use letters, digits, '_', '-' or '.', not only "
            "digits (e.g. 'champion')."
        )
    if alias.lower() in RESERVED_ALIASES:
        raise ValidationError(
            f"{alias!r} is a stage name, not a free alias: stages change through "
            "mlnb.promote / `mlnb promote`. Pick another alias such as 'champion'."
        )
    return alias


def parse_model_ref(ref: object) -> ModelRef:
    """Parse ``name``, ``name/3``, ``name@3``, ``name@stage`` or ``name@alias``
    (optionally prefixed with ``models:/``)."""
    text = str(ref).strip() if isinstance(ref, (str, int)) else None
    m = _REF.match(text) if text else None
    if m is None:
        raise ValidationError(f"cannot read model reference {ref!r}: {REF_HELP}.")
    name = check_model_name(m.group("name"))
    if m.group("version"):
        return ModelRef(name, version=_positive(m.group("version"), ref))
    alias = m.group("alias")
    if alias is None:
        return ModelRef(name)
    if is_number(alias):
        return ModelRef(name, version=_positive(alias, ref))
    if alias.lower() in RESERVED_ALIASES:
        return ModelRef(name, alias=alias.lower())
    return ModelRef(name, alias=check_alias(alias))


def _positive(text: str, ref: object) -> int:
    value = int(text)
    if value <= 0:
        raise ValidationError(f"model versions start at 1; {ref!r} names version {value}.")
    if value > MAX_ID:
        raise ValidationError(f"{ref!r} names version {value}, beyond any stored version.")
    return value


def is_number(text: str) -> bool:
    """Whether ``text`` is a whole number in ASCII digits ('²' and '٣' are not ids)."""
    return text.isascii() and text.isdigit()


def parse_id(value: object, what: str) -> int:
    """A positive id (1 .. 2**63-1, what SQLite stores) from an int or a string of ASCII
    digits; anything else is a ValidationError that names ``what``."""
    text = value.strip() if isinstance(value, str) else None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif text is not None and is_number(text):
        number = int(text)
    else:
        raise ValidationError(f"{what} must be a number (a whole one, such as 12), got {value!r}.")
    if not 1 <= number <= MAX_ID:
        raise ValidationError(f"{what} must be between 1 and {MAX_ID}, got {number}.")
    return number
