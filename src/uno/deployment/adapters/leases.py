"""An in-process lease table, for the embedded mode (one process owns the store)."""

from __future__ import annotations

from datetime import timedelta

from uno.deployment.ports.clock import Clock
from uno.deployment.ports.leases import Lease


class MemoryLeaseRepository:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._leases: dict[str, Lease] = {}
        self._tokens: dict[str, int] = {}

    async def acquire(self, key: str, holder: str, ttl: float) -> Lease | None:
        current = await self.current(key)
        if current is not None and current.holder != holder:
            return None
        token = self._tokens.get(key, 0) + 1
        self._tokens[key] = token
        lease = Lease(key, holder, token, self._clock.now() + timedelta(seconds=ttl))
        self._leases[key] = lease
        return lease

    async def renew(self, lease: Lease, ttl: float) -> Lease | None:
        if not self.holds(lease):  # expired but not taken by anyone still renews
            return None
        renewed = Lease(lease.key, lease.holder, lease.token, self._clock.now() + timedelta(seconds=ttl))
        self._leases[lease.key] = renewed
        return renewed

    async def release(self, lease: Lease) -> None:
        if self.holds(lease):  # the same grant, however often it was renewed
            del self._leases[lease.key]

    async def force_release(self, key: str) -> Lease | None:
        return self._leases.pop(key, None)

    def holds(self, fence: Lease) -> bool:
        """Whether ``fence`` is still the grant on its key (expired but not taken still is)."""
        granted = self._leases.get(fence.key)
        return granted is not None and (granted.holder, granted.token) == (fence.holder, fence.token)

    async def current(self, key: str) -> Lease | None:
        lease = self._leases.get(key)
        if lease is not None and lease.expires_at <= self._clock.now():
            return None
        return lease
