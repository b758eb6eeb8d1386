"""Keeping secrets out of what mlnb shows and stores: a URL is reduced to its scheme and host.

Webhook URLs (Slack, Teams, Discord) carry their secret in the path, others in the user part
or the query string, so everything after the host goes."""

from __future__ import annotations

import re
import urllib.parse

_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>()\[\]{},]+")


def redact_url(url: str) -> str:
    """``scheme://host[:port]`` of a URL: no credentials, path, query or fragment."""
    try:
        parts = urllib.parse.urlsplit(str(url).strip())
        port = parts.port
    except ValueError:
        return "<invalid url>"
    host = parts.hostname or ""
    if not parts.scheme or not host:
        return "<invalid url>"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def redact_urls(text: str) -> str:
    """``text`` with every URL in it reduced to scheme and host."""
    return _URL.sub(lambda m: redact_url(m.group(0)), text)


def scrub(text: str, url: str) -> str:
    """``text`` without any URL and without the secret parts of ``url`` (its user part, path,
    query and fragment), which some libraries print on their own."""
    text = redact_urls(text)
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return text
    secrets = [parts.path, parts.query, parts.fragment, parts.username, parts.password]
    for secret in sorted((s for s in secrets if s and len(s) > 1), key=len, reverse=True):
        text = text.replace(secret, "…")
    return text
