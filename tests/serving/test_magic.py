"""``%serve`` in a notebook: the server starts in the background, the URL is printed, the
deployments listing shows it, and ``%serve stop`` stops it."""

from __future__ import annotations

import re

import httpx


def test_serve_magic_starts_in_the_background_and_stops(ip, churn_registry, capsys):
    capsys.readouterr()
    assert ip.run_cell("%serve churn@production").success
    out = capsys.readouterr().out
    url = re.search(r"serving churn@production at (http://127\.0\.0\.1:\d+)", out).group(1)
    try:
        assert httpx.get(url + "/ping", timeout=10).status_code == 200
        assert ip.run_cell("%mlnb deployments").success
        listing = capsys.readouterr().out
        assert url in listing and "running" in listing
    finally:
        assert ip.run_cell("%serve stop").success
    assert f"stopped {url}" in capsys.readouterr().out
    try:
        httpx.get(url + "/ping", timeout=2)
        reachable = True
    except httpx.HTTPError:
        reachable = False
    assert not reachable
    ip.run_cell("%serve stop")
    assert "no server started by this notebook" in capsys.readouterr().out
