"""A catalogue of bad input, and what every answer to it must be.

Deterministic: the same requests in the same order on every run. Bodies are encoded by
``encoded`` (``ensure_ascii``, so a lone surrogate travels as ``\\ud800``, as a client
in another language would send it); nested values too deep for the encoder are spliced
in as text.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

DEEP = {f"__deep_{depth}__": depth for depth in (33, 600, 900, 5000)}
"""Placeholders for objects nested this deep, spliced in as JSON text."""

BAD_STRINGS = [
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfffy",
    "nl\n",
    "\r\n",
    "tab\t",
    "\x1b[2J",
    "\x7f",
    "\x85",
    "\u2028",
    "",
    " ",
    "\u00b2",
    "99999999999999999999",
    "-1",
    "../../etc/passwd",
    "\u00e9",
    "\ufeff",
    "\U0001f600",
    "A" * 300,
    "%00",
]
BAD_VALUES: list[Any] = [
    *BAD_STRINGS,
    None,
    True,
    -1,
    2**64,
    10**30,
    1e308,
    [],
    {},
    ["\x00"],
    {"\x00": 1},
    {"k": "\ud800"},
    *DEEP,
]
BAD_HEADERS = [b"\xb2", b"99999999999999999999", b"-1", b"1e3", b"\xff\xfe", b"abc", b"\xc3\xa9", b"1" * 200]
BAD_PATH_SEGMENTS = [
    "%00",
    "a%00b",
    "%ED%A0%80",
    "nl%0A",
    "%0D%0A",
    "%1B",
    "%C2%B2",
    "%FF",
    "99999999999999999999",
    "A" * 300,
]

_PLACEHOLDER = re.compile(r'"(__deep_\d+__)"')


def nested_text(depth: int) -> str:
    return '{"a":' * depth + "{}" + "}" * depth


def encoded(body: Any) -> bytes:
    text = json.dumps(body)
    return _PLACEHOLDER.sub(lambda match: nested_text(DEEP[match.group(1)]), text).encode()


def mutations(body: dict[str, Any]) -> list[dict[str, Any]]:
    """``body`` with one field at a time replaced by each bad value (one level into mappings too)."""
    found = []
    for name, value in body.items():
        found.extend({**body, name: bad} for bad in BAD_VALUES)
        if isinstance(value, dict):
            found.extend({**body, name: {**value, key: bad}} for key in value for bad in BAD_VALUES)
            found.extend({**body, name: {**value, bad: 1}} for bad in BAD_STRINGS[:12])
    found.append({**body, "\x00": 1})
    return found


class Answers:
    """Every answer seen; ``check`` holds each to the rules as it comes."""

    def __init__(self) -> None:
        self.count = 0
        self.server_errors: list[str] = []
        self.bad_problems: list[str] = []

    def check(self, label: str, response: httpx.Response) -> None:
        self.count += 1
        if response.status_code >= 500:
            self.server_errors.append(f"{label}: {response.status_code} {response.text[:200]}")
        elif response.status_code >= 400 and not is_problem(response.headers.get("content-type"), response.content):
            self.bad_problems.append(f"{label}: {response.status_code} {response.headers} {response.text[:200]}")


def is_problem(content_type: str | None, body: bytes) -> bool:
    if content_type != "application/problem+json":
        return False
    try:
        document = json.loads(body)
    except ValueError:
        return False
    return isinstance(document, dict) and isinstance(document.get("code"), str) and "status" in document


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def assert_nothing_bad_stored(pages: dict[str, httpx.Response]) -> None:
    """Every list answered 200, and no name in it holds a control character, NUL or a surrogate."""
    for path, page in pages.items():
        assert page.status_code == 200, (path, page.status_code, page.text[:300])
        assert "\\u0000" not in page.text, path
        for item in page.json()["items"]:
            names = [item.get("app_name", ""), item.get("name", "")]
            names += [stage["name"] for stage in item.get("stages", [])]
            names += [task["name"] for stage in item.get("stages", []) for task in stage["tasks"]]
            assert not any(_CONTROL.search(name) for name in names), (path, names)
