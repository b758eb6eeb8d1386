"""Hostile ids at every REST route, found from the server's own route table (so routes added
later are covered): each capture group in turn gets an id too large for SQLite, unicode
digits, a percent-encoded '²' and friends. Every answer is a 4xx JSON error with a message,
never a 500; the id routes the issue names answer 400. A JSON body nested 100,000 deep is a
400 at every write route."""

from __future__ import annotations

import json
import re

from mlnb.server.handlers import ROUTES
from mlnb.store.registry import Registry
from tests.reliability.figures import record_figure
from tests.reliability.rest.test_rest_reliability import _call, _methods

HOSTILE = ("99999999999999999999", "²", "%C2%B2", "١٢", "-1", "0", "1e3", "9" * 400)
GROUP = re.compile(r"\([^)]*\)")


def _paths_with(pattern: str, hostile: str) -> list[str]:
    """The route with ``hostile`` in each capture group in turn (the others get '1', or the
    first choice of an alternation)."""
    groups = GROUP.findall(pattern)
    paths = []
    for target in range(len(groups)):
        if "|" in groups[target]:
            continue
        counter = iter(range(len(groups)))

        def fill(match: re.Match, target: int = target, counter=counter) -> str:
            index = next(counter)
            group = match.group(0)
            if index == target:
                return hostile
            return group[1:].split("|")[0] if "|" in group else "1"

        paths.append(GROUP.sub(fill, pattern))
    return paths


def _seed(home) -> None:
    reg = Registry(home)
    reg.runs.end(reg.runs.start("exp", name="one", environment={}))
    reg.close()


async def _error_of(response) -> str:
    try:
        body = json.loads(response.body or b"null")
    except ValueError:
        return ""
    return body.get("error", "") if isinstance(body, dict) else ""


async def test_every_route_answers_hostile_ids_with_a_4xx(jp_fetch, registry_home):
    _seed(registry_home)
    problems, n = [], 0
    for pattern, cls in ROUTES:
        for method in _methods(cls):
            for hostile in HOSTILE:
                for path in _paths_with(pattern, hostile):
                    n += 1
                    response = await _call(jp_fetch, method, path)
                    error = await _error_of(response)
                    if not 400 <= response.code < 500 or not error or "Traceback" in error:
                        problems.append((method, path[:60], response.code, error[:200]))
    assert problems == [], "\n".join(map(repr, problems))
    assert n > 50
    record_figure("hostile_ids_rest", {"requests": n, "routes": len(ROUTES)})


ID_ROUTES = [
    ("GET", "runs/{id}"),
    ("GET", "models/m/versions/{id}/lineage"),
    ("POST", "alerts/{id}/ack"),
    ("GET", "pipelines/p/runs/{id}/output"),
]


async def test_the_id_routes_answer_400_and_say_what_is_wrong(jp_fetch, registry_home):
    _seed(registry_home)
    problems = []
    for hostile in ("99999999999999999999", "²", "%C2%B2"):
        for method, template in ID_ROUTES:
            response = await _call(jp_fetch, method, template.replace("{id}", hostile))
            error = await _error_of(response)
            if response.code != 400 or not ("id" in error or "version" in error):
                problems.append((template, hostile, response.code, error))
        compare = await _call(jp_fetch, "GET", "compare", params={"runs": f"1,{hostile}"})
        if compare.code != 400:
            problems.append(("compare", hostile, compare.code, await _error_of(compare)))
    for version in (99999999999999999999, "²", -1, 1.5):
        body = json.dumps({"version": version}).encode()
        response = await _call(jp_fetch, "POST", "models/m/promote", body=body)
        if response.code != 400:
            problems.append(("promote", version, response.code, await _error_of(response)))
    assert problems == [], "\n".join(map(repr, problems))


async def test_a_json_body_nested_100000_deep_is_a_400(jp_fetch, registry_home):
    _seed(registry_home)
    deep = b"[" * 100_000 + b"]" * 100_000
    posts = [
        re.sub(
            r"\([^)]*\)", lambda m: m.group(0)[1:].split("|")[0] if "|" in m.group(0) else "1", p
        )
        for p, cls in ROUTES
        if "POST" in _methods(cls)
    ]
    problems = []
    for path in posts:
        response = await _call(jp_fetch, "POST", path, body=deep)
        error = await _error_of(response)
        if response.code != 400 or "nested too deeply" not in error:
            problems.append((path, response.code, error[:200]))
    assert posts and problems == [], "\n".join(map(repr, problems))
