"""Run search expressions: ``metrics.accuracy > 0.9 and params.C < 1``.

A query is comparisons joined by ``and`` / ``or`` (``and`` binds tighter; parentheses
group). A comparison is ``FIELD OP VALUE``:

- FIELD: ``metrics.NAME``, ``params.NAME``, ``tags.NAME`` or a run field (``name``,
  ``experiment``, ``status``, ``source``, ``user``, ``id``);
- OP: ``=`` (or ``==``), ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``~`` (contains, any case);
- VALUE: a number, a quoted string (``'a b'`` or ``"a b"``) or a bare word.

A run without the named metric, param or tag never matches a comparison on it; numbers
compare as numbers and text as text (a number against text matches only ``!=``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlnb.errors import ValidationError
from mlnb.store.runs import RUN_STATUSES

RUN_FIELDS = ("id", "name", "experiment", "status", "source", "user")
PREFIXES = ("metrics", "params", "tags")
OPERATORS = ("==", "!=", "<=", ">=", "=", "<", ">", "~")
EXAMPLE = "metrics.accuracy > 0.9 and params.C < 1"

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<op>==|!=|<=|>=|=|<|>|~)
      | (?P<paren>[()])
      | (?P<word>[^\s()'"=!<>~]+)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Comparison:
    """``FIELD OP VALUE``; ``scope`` is metrics/params/tags, or "" for a run field."""

    scope: str
    key: str
    op: str
    value: float | str


@dataclass(frozen=True)
class Both:
    """Both sides match."""

    left: Query
    right: Query


@dataclass(frozen=True)
class Either:
    """At least one side matches."""

    left: Query
    right: Query


Query = Comparison | Both | Either


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    at: int


def _tokens(text: str) -> list[_Token]:
    """Split a query into strings, operators, parentheses and words, with their positions."""
    out: list[_Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.lastgroup is None:
            raise ValidationError(
                f"cannot read the search at position {pos + 1}: {text[pos : pos + 20]!r} "
                f"(an unclosed quote?). Example: {EXAMPLE}"
            )
        kind = match.lastgroup
        out.append(_Token(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return out


class _Parser:
    """Recursive descent: or_expr := and_expr ('or' and_expr)*; and_expr := atom ('and' atom)*."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise self.error("the search ends too early", None)
        self.i += 1
        return token

    def error(self, what: str, token: _Token | None) -> ValidationError:
        where = f"at position {token.at + 1} ({token.text!r})" if token else "at the end"
        return ValidationError(f"{what} {where} in {self.text!r}. Example: {EXAMPLE}")

    def is_word(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "word" and token.text.lower() == word

    def parse(self) -> Query:
        query = self.or_expr()
        token = self.peek()
        if token is not None:
            raise self.error("expected 'and', 'or' or the end", token)
        return query

    def or_expr(self) -> Query:
        query = self.and_expr()
        while self.is_word("or"):
            self.take()
            query = Either(query, self.and_expr())
        return query

    def and_expr(self) -> Query:
        query = self.atom()
        while self.is_word("and"):
            self.take()
            query = Both(query, self.atom())
        return query

    def atom(self) -> Query:
        token = self.peek()
        if token is not None and token.kind == "paren" and token.text == "(":
            self.take()
            query = self.or_expr()
            close = self.peek()
            if close is None or close.text != ")":
                raise self.error("expected ')'", close)
            self.take()
            return query
        return self.comparison()

    def comparison(self) -> Comparison:
        field = self.take()
        if field.kind != "word":
            raise self.error("expected a field such as metrics.accuracy", field)
        scope, key = _field(field.text, self)
        op = self.take()
        if op.kind != "op":
            raise self.error(
                f"expected an operator ({', '.join(OPERATORS)}) after {field.text}", op
            )
        value = self.take()
        if value.kind not in ("word", "string"):
            raise self.error(f"expected a value after {field.text} {op.text}", value)
        if value.kind == "word" and value.text.lower() in ("and", "or"):
            raise self.error(f"expected a value after {field.text} {op.text}", value)
        return Comparison(scope, key, "=" if op.text == "==" else op.text, _value(value))


def _field(text: str, parser: _Parser) -> tuple[str, str]:
    """``metrics.acc`` -> ("metrics", "acc"); ``name`` -> ("", "name")."""
    scope, dot, key = text.partition(".")
    if dot:
        if scope not in PREFIXES or not key:
            raise parser.error(
                f"unknown field {text!r}: use metrics.NAME, params.NAME, tags.NAME or one of "
                f"{', '.join(RUN_FIELDS)}",
                parser.tokens[parser.i - 1],
            )
        return scope, key
    if text not in RUN_FIELDS:
        raise parser.error(
            f"unknown field {text!r}: use metrics.NAME, params.NAME, tags.NAME or one of "
            f"{', '.join(RUN_FIELDS)}",
            parser.tokens[parser.i - 1],
        )
    return "", text


def _value(token: _Token) -> float | str:
    """A quoted string as text, a word as a number when it reads as a finite one, else text."""
    if token.kind == "string":
        return re.sub(r"\\(.)", r"\1", token.text[1:-1])
    try:
        number = float(token.text)
    except ValueError:
        return token.text
    return number if math.isfinite(number) else token.text


def parse(text: str) -> Query | None:
    """The query in ``text``; None for an empty search; ValidationError saying what is wrong."""
    if not isinstance(text, str):
        raise ValidationError(f"a search must be text, got {type(text).__name__}.")
    if not text.strip():
        return None
    if len(text) > 2000:
        raise ValidationError(f"the search is {len(text)} characters long; keep it under 2000.")
    return _Parser(text).parse()


def _quote(value: float | str) -> str:
    if isinstance(value, float):
        return repr(value)
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def render(query: Query) -> str:
    """The query as text that parses back to the same query (fully parenthesised)."""
    if isinstance(query, Comparison):
        field = f"{query.scope}.{query.key}" if query.scope else query.key
        return f"{field} {query.op} {_quote(query.value)}"
    word = "and" if isinstance(query, Both) else "or"
    return f"({render(query.left)} {word} {render(query.right)})"


def _compare(actual: Any, op: str, wanted: float | str) -> bool:
    """One comparison; numbers as numbers, text as text, a type mismatch matches only !=."""
    if actual is None:
        return False
    if isinstance(actual, bool):
        actual = str(actual).lower()
    if isinstance(wanted, float) and isinstance(actual, (int, float)):
        left: Any = float(actual)
        if math.isnan(left):
            return op == "!="
    elif isinstance(wanted, str):
        left = actual if isinstance(actual, str) else _as_text(actual)
    else:
        left = None
    if op == "~":
        return isinstance(left, str) and str(wanted).lower() in left.lower()
    if left is None:
        return op == "!="
    if op == "=":
        return bool(left == wanted)
    if op == "!=":
        return bool(left != wanted)
    if op == "<":
        return bool(left < wanted)
    if op == "<=":
        return bool(left <= wanted)
    if op == ">":
        return bool(left > wanted)
    return bool(left >= wanted)


def _as_text(value: Any) -> str | None:
    """A param shown as text: strings as they are, numbers as written; others not comparable."""
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    return None


def matches(query: Query | None, run: Mapping[str, Any]) -> bool:
    """Whether a run record (with ``metrics``, ``params``, ``tags``) satisfies the query."""
    if query is None:
        return True
    if isinstance(query, Both):
        return matches(query.left, run) and matches(query.right, run)
    if isinstance(query, Either):
        return matches(query.left, run) or matches(query.right, run)
    if query.scope:
        values = run.get(query.scope) or {}
        if query.key not in values:
            return False
        actual = values[query.key]
    else:
        actual = run.get(query.key)
    if query.scope == "" and query.key == "id" and isinstance(query.value, str):
        return False
    return _compare(actual, query.op, query.value)


def uses_tags(query: Query | None) -> bool:
    """Whether the query looks at tags (listing runs does not load them otherwise)."""
    if query is None:
        return False
    if isinstance(query, Comparison):
        return query.scope == "tags"
    return uses_tags(query.left) or uses_tags(query.right)


def search(
    runs: Any,
    text: str | None,
    experiment: str | None = None,
    status: str | None = None,
    sort: str | None = None,
    descending: bool = True,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the runs matching ``text`` (a query, see the module doc) and how many
    match in all. ``runs`` is the registry's run store (``reg.runs``)."""
    if status is not None and status not in RUN_STATUSES:
        raise ValidationError(
            f"unknown run status {status!r}; choose one of {', '.join(RUN_STATUSES)}."
        )
    query = parse(text or "")
    if query is None and sort is None:
        return _newest_page(runs, experiment, status, offset, limit)
    if query is None:
        total = runs.count(experiment, status)
        page = runs.find(
            experiment=experiment,
            status=status,
            limit=offset + limit,
            sort=sort,
            descending=descending,
        )
        return list(page[offset:]), total
    candidates = runs.find(experiment=experiment, status=status, sort=sort, descending=descending)
    if uses_tags(query):
        for run in candidates:
            run["tags"] = runs.tags(run["id"])
    found = [run for run in candidates if matches(query, run)]
    return found[offset : offset + limit], len(found)


def _newest_page(
    runs: Any, experiment: str | None, status: str | None, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of runs newest first, paged in SQL, with their params and latest metrics."""
    page = runs.find(experiment=experiment, status=status, limit=limit, offset=offset)
    return [dict(run) for run in page], runs.count(experiment, status)
