"""Leases: one deployment per (application, environment) at a time, never a stuck lock.

A lease has a time to live; a holder that stops renewing it loses it, so a crashed
deployer can never block an environment for longer than the TTL. Each grant carries a
fencing token that grows with every grant for the same key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Lease:
    key: str
    holder: str
    token: int
    expires_at: datetime


class LeaseRepository(Protocol):
    async def acquire(self, key: str, holder: str, ttl: float) -> Lease | None:
        """The lease for ``key``, or None while another holder's lease is unexpired."""
        ...

    async def renew(self, lease: Lease, ttl: float) -> Lease | None:
        """The lease extended, or None if it was lost (taken by another holder, or released).

        A lease that expired but that nobody took since still renews: its token is still
        the newest, so no write of another holder can have happened in between.
        """
        ...

    async def release(self, lease: Lease) -> None:
        """End the grant (same holder and token, whatever its expiry now); a lost lease is left alone."""
        ...

    async def current(self, key: str) -> Lease | None: ...

    async def force_release(self, key: str) -> Lease | None:
        """End whatever lease ``key`` has, whoever holds it (an operator's decision); returns it.

        The token is kept, so the old holder's fenced writes are refused from then on.
        """
        ...
