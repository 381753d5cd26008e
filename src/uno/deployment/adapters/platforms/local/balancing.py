"""Choosing where a request goes: a version set by weight, then one of its backends.

Deployment strategies move traffic by changing weights (canary 10 -> 25 -> 50 -> 100,
blue-green 0/100 -> 100/0) and retire a version by draining it, so a change must reach the
very next request and must never leave a request half routed by old and half by new rules.

Invariants:
- The choice table (eligible versions and their cumulative weights) is rebuilt whole on
  every change and swapped in one assignment: a request sees the old or the new routing.
- A version is eligible when its weight is above zero, it has backends, and it is not
  drained. Weights are relative: 10/90 and 1/9 split the same way.
- Each version's backends are chosen round-robin, or by fewest requests in flight (ties
  broken round-robin). A backend keeps its pool of idle connections while it stays in its
  version's list; a backend taken out of the list, or of a drained version, pools nothing.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from uno.deployment.adapters.platforms.local.upstreams import UpstreamConnection

Balancing = Literal["round_robin", "least_connections"]
Address = tuple[str, int]


class Backend:
    """One replica of a version: its address, its idle upstream connections, its load."""

    __slots__ = ("address", "idle", "in_flight", "pooling", "version")

    def __init__(self, version: str, address: Address) -> None:
        self.version = version
        self.address = address
        self.idle: list[UpstreamConnection] = []  # most recently used last
        self.in_flight = 0
        self.pooling = True

    def take_idle(self) -> UpstreamConnection | None:
        idle = self.idle
        while idle:
            connection = idle.pop()
            if connection.usable():
                return connection
        return None

    def close_idle(self) -> None:
        idle, self.idle = self.idle, []
        for connection in idle:
            connection.close()


class _Version:
    __slots__ = ("backends", "cursor")

    def __init__(self, backends: list[Backend]) -> None:
        self.backends = backends
        self.cursor = 0

    def next_backend(self, least_connections: bool) -> Backend:
        backends = self.backends
        count = len(backends)
        start = self.cursor % count
        self.cursor = start + 1
        if not least_connections or count == 1:
            return backends[start]
        best = backends[start]
        for offset in range(1, count):
            candidate = backends[(start + offset) % count]
            if candidate.in_flight < best.in_flight:
                best = candidate
        return best


class Balancer:
    """Versions, their weights, backends and drains; ``choose`` picks a backend for one request."""

    def __init__(self, rng: random.Random, balancing: Balancing = "round_robin") -> None:
        if balancing not in ("round_robin", "least_connections"):
            raise ValueError(f"unknown balancing {balancing!r}")
        self._rng = rng
        self._least_connections = balancing == "least_connections"
        self._versions: dict[str, _Version] = {}
        self._weights: dict[str, int] = {}
        self._drained: set[str] = set()
        self._table: tuple[list[_Version], list[int]] = ([], [])

    def choose(self) -> Backend | None:
        versions, cumulative = self._table
        if not versions:
            return None
        if len(versions) == 1:
            return versions[0].next_backend(self._least_connections)
        point = self._rng.random() * cumulative[-1]
        version = versions[bisect.bisect_right(cumulative, point)]
        return version.next_backend(self._least_connections)

    def another(self, backend: Backend, tried: int) -> Backend | None:
        """A different backend of the same version to try after a failed connect, while untried ones remain."""
        version = self._versions.get(backend.version)
        if version is None or tried >= len(version.backends) or backend.version in self._drained:
            return None
        backends = version.backends
        index = backends.index(backend) if backend in backends else -1
        return backends[(index + 1) % len(backends)]

    def set_backends(self, version: str, addresses: Sequence[Address]) -> None:
        current = {backend.address: backend for backend in self.backends(version)}
        backends = [
            current.pop(address) if address in current else Backend(version, address)
            for address in dict.fromkeys(addresses)
        ]
        _retire(current.values())
        if backends:
            self._versions[version] = _Version(backends)
            for backend in backends:
                backend.pooling = version not in self._drained
        else:
            self._versions.pop(version, None)
        self._rebuild()

    def set_weights(self, weights: Mapping[str, int]) -> None:
        for version, weight in weights.items():
            if not isinstance(weight, int) or weight < 0:
                raise ValueError(f"the weight of {version!r} must be an integer >= 0, not {weight!r}")
        self._weights = dict(weights)
        self._rebuild()

    def weights(self) -> dict[str, int]:
        return dict(self._weights)

    def drain(self, version: str) -> None:
        self._drained.add(version)
        for backend in self.backends(version):
            backend.pooling = False
            backend.close_idle()
        self._rebuild()

    def undrain(self, version: str) -> None:
        self._drained.discard(version)
        for backend in self.backends(version):
            backend.pooling = True
        self._rebuild()

    def backends(self, version: str) -> list[Backend]:
        group = self._versions.get(version)
        return list(group.backends) if group is not None else []

    def all_backends(self) -> list[Backend]:
        return [backend for group in self._versions.values() for backend in group.backends]

    def _rebuild(self) -> None:
        versions: list[_Version] = []
        cumulative: list[int] = []
        total = 0
        for name, weight in self._weights.items():
            group = self._versions.get(name)
            if weight > 0 and group is not None and name not in self._drained:
                total += weight
                versions.append(group)
                cumulative.append(total)
        self._table = (versions, cumulative)


def _retire(backends: Iterable[Backend]) -> None:
    for backend in backends:
        backend.pooling = False
        backend.close_idle()
