"""The REST payloads declared in mlnb/server/payloads.py and the sidebar's interfaces in
labextension/src/types.ts name the same keys: ``Name`` is ``IName``, required keys are
required on both sides and optional (``NotRequired`` / ``key?:``) keys optional on both."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, is_typeddict

import pytest

from mlnb.server import handlers, payloads

TYPES_TS = Path(__file__).resolve().parents[2] / "labextension" / "src" / "types.ts"

INTERFACE = re.compile(r"export\s+interface\s+(\w+)(?:\s+extends\s+([\w\s,]+?))?\s*\{")
MEMBER = re.compile(r"^\s*(\w+)(\?)?\s*:")


def parse_interfaces(source: str) -> dict[str, tuple[set[str], set[str]]]:
    """Each exported interface's (required keys, optional keys), inherited keys included.

    Only top-level members count: keys of inline object types (``latest: { ... }``) are
    skipped by tracking brace depth."""
    source = re.sub(r"/\*.*?\*/", "", source, flags=re.S)
    source = re.sub(r"//[^\n]*", "", source)
    own: dict[str, tuple[set[str], set[str]]] = {}
    parents: dict[str, list[str]] = {}
    for match in INTERFACE.finditer(source):
        name = match.group(1)
        parents[name] = [p.strip() for p in (match.group(2) or "").split(",") if p.strip()]
        depth, i = 1, match.end()
        body_start = i
        while depth:
            depth += {"{": 1, "}": -1}.get(source[i], 0)
            i += 1
        body = source[body_start : i - 1]
        required: set[str] = set()
        optional: set[str] = set()
        depth = 0
        for line in body.splitlines():
            if depth == 0 and (m := MEMBER.match(line)):
                (optional if m.group(2) else required).add(m.group(1))
            depth += line.count("{") - line.count("}")
        own[name] = (required, optional)

    def resolve(name: str) -> tuple[set[str], set[str]]:
        required, optional = set(own[name][0]), set(own[name][1])
        for parent in parents[name]:
            r, o = resolve(parent)
            required |= r
            optional |= o
        return required, optional

    return {name: resolve(name) for name in own}


def typed_dicts() -> dict[str, Any]:
    return {
        name: obj
        for name, obj in vars(payloads).items()
        if is_typeddict(obj) and obj.__module__ == payloads.__name__
    }


def test_the_parser_reads_members_optionals_inheritance_and_skips_inline_objects() -> None:
    parsed = parse_interfaces(
        """
        /** doc { with braces } */
        export interface IA {
          a: number;
          b?: string; // comment: not a key
          inline: {
            hidden: number;
          } | null;
        }
        export interface IB extends IA {
          c: Record<string, { x: number }>;
        }
        """
    )
    assert parsed["IA"] == ({"a", "inline"}, {"b"})
    assert parsed["IB"] == ({"a", "inline", "c"}, {"b"})


def test_every_payload_has_an_interface_and_every_interface_a_payload() -> None:
    interfaces = parse_interfaces(TYPES_TS.read_text())
    declared = {f"I{name}" for name in typed_dicts()}
    missing_ts = sorted(declared - set(interfaces))
    missing_py = sorted(set(interfaces) - declared)
    assert not missing_ts, f"TypedDicts with no interface in types.ts: {missing_ts}"
    assert not missing_py, f"interfaces in types.ts with no TypedDict in payloads.py: {missing_py}"


@pytest.mark.parametrize("name", sorted(typed_dicts()))
def test_payload_keys_match_the_typescript_interface(name: str) -> None:
    interfaces = parse_interfaces(TYPES_TS.read_text())
    td = typed_dicts()[name]
    if f"I{name}" not in interfaces:
        pytest.fail(f"types.ts has no interface I{name} for payloads.{name}")
    ts_required, ts_optional = interfaces[f"I{name}"]
    py_required, py_optional = set(td.__required_keys__), set(td.__optional_keys__)
    problems = []
    for label, py, ts in (
        ("required", py_required, ts_required),
        ("optional", py_optional, ts_optional),
    ):
        if py - ts:
            problems.append(f"{label} in payloads.{name} but not in I{name}: {sorted(py - ts)}")
        if ts - py:
            problems.append(f"{label} in I{name} but not in payloads.{name}: {sorted(ts - py)}")
    assert not problems, "\n".join(problems)


def test_payload_builders_make_exactly_the_declared_keys(tmp_path: Path) -> None:
    gate = handlers.gate_brief(
        {
            "id": 1,
            "gate": "default",
            "passed": 1,
            "created_at": 1.0,
            "checks": [{"name": "acc", "passed": 1}],
        }
    )
    assert gate is not None
    assert set(gate) == set(payloads.GateResult.__required_keys__)
    assert set(gate["checks"][0]) == set(payloads.GateCheck.__required_keys__)
    out = tmp_path / "out.ipynb"
    out.write_text("{}")
    run = handlers.pipeline_run_brief({"id": 3, "output_path": str(out)})
    assert set(run) == set(payloads.PipelineRun.__required_keys__)
    assert run["has_output"] is True
    pipeline = handlers.pipeline_summary({"name": "p", "config": {}}, [{"id": 3}])
    assert set(pipeline) == set(payloads.Pipeline.__required_keys__) | {"runs"}
    batch = handlers.batch_brief({"batch_id": 1, "batch_at": 1.0, "report": None})
    assert set(batch) == set(payloads.Batch.__required_keys__)
