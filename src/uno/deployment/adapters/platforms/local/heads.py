"""Parsed heads remembered by their bytes: keep-alive clients and servers send the same heads again and again.

A client on a kept-alive connection (a load generator, a health checker, another service)
sends byte-identical request heads, and an application answers them with byte-identical
response heads, but for a Date field that changes once a second. Parsing both heads was
the largest part of the router's own work per request; looking the bytes up is a small
fraction of it.

Invariants:
- An entry is found only by exactly the bytes it was parsed from, with the same other input
  (the client's address for a request, whether the request was HEAD for a response): keys
  are compared whole, never by hash or prefix alone.
- Only heads that parsed are kept: a refused head is parsed, and refused, every time.
- At most ``entries`` entries, each of a head of at most ``max_bytes``: the least recently
  used entry goes first, and larger heads are parsed every time.
- A cache belongs to one router, so a head found in it passed that router's limits.
- Parsed heads are never changed, so one may serve many exchanges at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Generic, TypeVar

ENTRIES: Final = 256
MAX_BYTES: Final = 4096  # a head with large cookies is rarely sent twice the same; a cache stays near 2 MiB

Other = TypeVar("Other")
Parsed = TypeVar("Parsed")


class HeadCache(Generic[Other, Parsed]):
    """A bounded least-recently-used map from a head's bytes (and one other input) to its parse."""

    __slots__ = ("_entries", "_max_bytes", "_parse", "_parsed")

    def __init__(
        self, parse: Callable[[bytes, Other], Parsed], entries: int = ENTRIES, max_bytes: int = MAX_BYTES
    ) -> None:
        if entries <= 0 or max_bytes <= 0:
            raise ValueError("a head cache needs room for at least one head")
        self._parse = parse
        self._entries = entries
        self._max_bytes = max_bytes
        self._parsed: dict[tuple[bytes, Other], Parsed] = {}  # least recently used first

    def __len__(self) -> int:
        return len(self._parsed)

    def parse(self, head: bytes, other: Other) -> Parsed:
        """The parse of ``head``, which ends with its empty line; raises what the parse raises."""
        key = (head, other)
        cached = self._parsed
        parsed = cached.pop(key, None)
        if parsed is not None:
            cached[key] = parsed  # now the most recently used
            return parsed
        parsed = self._parse(head[:-4], other)
        if len(head) <= self._max_bytes:
            if len(cached) >= self._entries:
                del cached[next(iter(cached))]
            cached[key] = parsed
        return parsed
