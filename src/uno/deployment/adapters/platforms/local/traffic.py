"""Per-version traffic counters for canary analysis: requests, errors, in flight, latency.

A canary is judged against the stable version over the same window, so each version's
counters can be reset on their own; latency percentiles come from a fixed-size ring of the
most recent samples, so memory stays bounded however long a window runs.

Invariants:
- ``requests`` counts every request routed to the version; ``errors`` counts the 5xx
  responses from its upstreams, the 502/504 the router answered on its behalf, and the
  responses its upstreams broke off.
- ``in_flight`` is live state, never reset: it drops when a request routed to the version
  ends, whatever the window.
- A latency sample is recorded when the last byte of a response is handed to the client.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_SAMPLES = 10_000


@dataclass(frozen=True, slots=True)
class TrafficStats:
    """One version's traffic since its counters were last reset (latency in milliseconds)."""

    requests: int
    errors: int
    in_flight: int
    p50_ms: float
    p99_ms: float

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


class VersionTraffic:
    """The live counters behind ``TrafficStats``; mutated by the router's connections only."""

    __slots__ = ("_cursor", "_samples", "_size", "errors", "in_flight", "requests")

    def __init__(self, samples: int = DEFAULT_SAMPLES) -> None:
        self._size = samples
        self.in_flight = 0
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.errors = 0
        self._samples: list[float] = []
        self._cursor = 0

    def record(self, seconds: float) -> None:
        """Keep a latency sample, replacing the oldest once the ring is full."""
        if len(self._samples) < self._size:
            self._samples.append(seconds)
        else:
            self._samples[self._cursor] = seconds
            self._cursor = (self._cursor + 1) % self._size

    def snapshot(self) -> TrafficStats:
        ordered = sorted(self._samples)
        return TrafficStats(
            self.requests, self.errors, self.in_flight, _percentile(ordered, 0.50), _percentile(ordered, 0.99)
        )


def _percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile in milliseconds; 0.0 without samples."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1] * 1000.0
