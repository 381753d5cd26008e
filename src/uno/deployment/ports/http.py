"""Probing HTTP endpoints (health checks), so checks can run against real servers or fakes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int | None  # None when no response came (refused, reset, timed out)
    body_head: str  # the first bytes of the body, decoded leniently
    elapsed: float
    error: str | None = None


class HttpProber(Protocol):
    async def probe(
        self, url: str, *, method: str = "GET", headers: Mapping[str, str] | None = None, timeout: float
    ) -> HttpResponse:
        """One request; never raises for network problems (they come back in ``error``)."""
        ...
