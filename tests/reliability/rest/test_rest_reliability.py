"""Every REST endpoint, found from the server's own route table (so a new endpoint is covered
the day it is added), refuses unauthenticated and cross-site requests; malformed JSON, huge and
unicode names, SQL metacharacters and HTML get clear 4xx answers or come back as plain text.

tests/server checks a fixed list of endpoints; this derives the list and counts the cases."""

from __future__ import annotations

import json
import re
import urllib.parse

import pytest
from tornado.web import RequestHandler

from mlnb.server.handlers import ROUTES
from mlnb.store.registry import Registry
from tests.reliability.figures import record_figure
from tests.server.test_server_api import API, browser_login

SQL = "x'; DROP TABLE runs; --"
HTML = "<script>alert(1)</script>"
HUGE = "n" * 20_000
UNICODE = "模型-ü-🚀"


def _concrete(pattern: str) -> str:
    """A request path for a route pattern: each capture group becomes '1' (or its first choice)."""

    def fill(match: re.Match) -> str:
        group = match.group(0)
        return group[1:].split("|")[0] if "|" in group else "1"

    return re.sub(r"\([^)]*\)", fill, pattern)


def _methods(cls: type) -> list[str]:
    return [
        m
        for m in ("GET", "POST")
        if getattr(cls, m.lower()) is not getattr(RequestHandler, m.lower())
    ]


ENDPOINTS = [(m, _concrete(p)) for p, cls in ROUTES for m in _methods(cls)]
POSTS = [path for method, path in ENDPOINTS if method == "POST"]


@pytest.fixture
def seeded(registry_home):
    reg = Registry(registry_home)
    for name in (HTML, SQL, UNICODE):
        run = reg.runs.start("exp", name=name, environment={})
        reg.runs.log_params(run, {"p": HTML})
        reg.runs.end(run)
    reg.close()


async def _call(jp_fetch, method: str, path: str, headers=None, body=b"{}", params=None):
    kw = {"method": method, "raise_error": False, "headers": headers or {}}
    if method == "POST":
        kw["body"] = body
    return await jp_fetch(*API, *path.split("/"), params=params or {}, **kw)


async def test_every_endpoint_refuses_requests_without_credentials(jp_fetch, seeded):
    assert len(ENDPOINTS) >= 20
    refused = []
    for method, path in ENDPOINTS:
        response = await _call(jp_fetch, method, path, headers={"Authorization": ""})
        refused.append((method, path, response.code))
    assert [r for r in refused if r[2] != 403] == []
    record_figure("rest_unauthenticated_refused", {"endpoints": len(ENDPOINTS)})


async def test_every_write_endpoint_refuses_cross_site_posts(jp_fetch, jp_serverapp, seeded):
    jar = await browser_login(jp_fetch, jp_serverapp)
    cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
    as_browser = {"Authorization": "", "Cookie": cookie}
    outcomes = []
    for path in POSTS:
        no_xsrf = await _call(jp_fetch, "POST", path, headers=as_browser)
        foreign = await _call(
            jp_fetch,
            "POST",
            path,
            headers={**as_browser, "X-XSRFToken": jar["_xsrf"], "Origin": "http://evil.example"},
        )
        outcomes.append((path, no_xsrf.code, foreign.code))
    assert [o for o in outcomes if o[1] != 403 or o[2] not in (403, 404)] == []
    record_figure("rest_cross_site_refused", {"write_endpoints": len(POSTS)})


def _get_cases() -> list[tuple[str, dict, tuple[int, ...]]]:
    return [
        ("runs", {"experiment": SQL}, (200,)),
        ("runs", {"sort": SQL}, (200, 400)),
        ("runs", {"status": SQL}, (400,)),
        ("runs", {"limit": SQL}, (400,)),
        ("runs", {"experiment": HUGE}, (200,)),
        ("runs", {"experiment": UNICODE}, (200,)),
        (f"runs/{urllib.parse.quote(SQL, safe='')}", {}, (400,)),
        (f"runs/{urllib.parse.quote(HTML, safe='')}", {}, (400,)),
        (f"runs/{HUGE}", {}, (400,)),
        ("compare", {"runs": SQL}, (400,)),
        ("compare", {"runs": "1," + HUGE}, (400,)),
        (f"models/{urllib.parse.quote(SQL, safe='')}", {}, (400, 404)),
        (f"models/{urllib.parse.quote(UNICODE)}", {}, (400, 404)),
        (f"models/{HUGE}", {}, (400, 404)),
        (f"pipelines/{urllib.parse.quote(HTML, safe='')}", {}, (400, 404)),
        (f"monitors/{urllib.parse.quote(SQL, safe='')}", {}, (400, 404)),
        ("alerts", {"status": HTML}, (400,)),
        ("data", {"limit": "1e309"}, (400,)),
    ]


BAD_BODIES = [b"{not json", b"[1, 2]", b"\xff\xfe\x00", b'"just a string"', b"null"]


async def test_bad_input_gets_a_clear_4xx_and_html_comes_back_as_text(jp_fetch, seeded):
    problems = []
    cases = _get_cases()
    for path, params, allowed in cases:
        response = await _call(jp_fetch, "GET", path, params=params)
        body = json.loads(response.body or b"null")
        if response.code not in allowed:
            problems.append((path[:40], params, response.code))
        elif response.code >= 400 and not (isinstance(body, dict) and body.get("error")):
            problems.append((path[:40], params, "no error message"))
    for path in POSTS:
        for raw in BAD_BODIES:
            response = await _call(jp_fetch, "POST", path, body=raw)
            body = json.loads(response.body or b"null")
            if response.code != 400 or "JSON" not in body.get("error", ""):
                problems.append((path, raw, response.code, body))
    assert problems == []
    # names and params that carry HTML are returned verbatim as JSON strings (the sidebar
    # renders them as text) and SQL text is stored, not run
    response = await _call(jp_fetch, "GET", "runs", params={"limit": "50"})
    runs = json.loads(response.body)["runs"]
    assert {r["name"] for r in runs} == {HTML, SQL, UNICODE}
    assert all(r["params"]["p"] == HTML for r in runs)
    record_figure("bad_input_rest", {"cases": len(cases) + len(POSTS) * len(BAD_BODIES)})
