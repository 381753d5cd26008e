"""Holding the (application, environment) lease while something changes that environment.

A lease is taken before the work starts, renewed by a heartbeat at a third of its TTL
while the work runs, and released when it ends, however it ends. A holder that dies
stops renewing, so its lease expires: nothing is ever left locked.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.engine import logs
from uno.deployment.ports.clock import Clock
from uno.deployment.ports.leases import Lease, LeaseRepository

_log = logs.get_logger("uno.deployment.leases")  # structlog loads with the first line

DEFAULT_LEASE_TTL = 60.0


def lease_key(config: DeploymentConfig) -> str:
    return f"{config.app_name}/{config.environment.value}"


class LeaseKeeper:
    def __init__(self, leases: LeaseRepository, clock: Clock, ttl: float = DEFAULT_LEASE_TTL) -> None:
        self._leases = leases
        self._clock = clock
        self._ttl = ttl

    @property
    def ttl(self) -> float:
        return self._ttl

    async def acquire(self, config: DeploymentConfig, holder: str) -> Result[Lease]:
        """The lease for the configuration's application and environment, or ``CONFLICT``."""
        lease = await self._leases.acquire(lease_key(config), holder, self._ttl)
        if lease is not None:
            return Success(lease)
        current = await self._leases.current(lease_key(config))
        owner = current.holder if current else "unknown"
        return Failure(
            ErrorDetails(
                ErrorCode.CONFLICT,
                f"another deployment of {config.app_name} to {config.environment.value} is running ({owner}); "
                "wait for it or cancel it",
                {"holder": owner, "lease": lease_key(config)},
            )
        )

    async def force_release(self, key: str) -> Lease | None:
        """End the lease on ``key`` whoever holds it (see ``DeploymentService.release_lease``)."""
        return await self._leases.force_release(key)

    async def current(self, key: str) -> Lease | None:
        return await self._leases.current(key)

    async def holder(self, config: DeploymentConfig) -> str | None:
        """Who holds the configuration's lease now (a deployment id), or None when it is free."""
        current = await self._leases.current(lease_key(config))
        return current.holder if current else None

    async def release(self, lease: Lease) -> None:
        """Give the lease up at once (a deployment that could not start)."""
        await self._leases.release(lease)

    @contextlib.asynccontextmanager
    async def held(self, lease: Lease, on_lost: Callable[[], None] | None = None) -> AsyncIterator[Holding]:
        """Renew ``lease`` while the block runs; release it when the block ends.

        When a renewal finds the lease lost (this process stalled past the TTL and another
        holder took it), ``holding.lost`` turns true and ``on_lost`` is called: the block
        must stop acting, and its fenced writes are refused from then on anyway.
        """
        holding = Holding(lease)

        async def heartbeat() -> None:
            current: Lease | None = lease
            while current is not None:
                await self._clock.sleep(self._ttl / 3)
                current = await self._leases.renew(current, self._ttl)
                if current is not None:
                    holding.lease = current
            holding.lost = True
            _log.warning("lease lost", lease=lease.key, holder=lease.holder, token=lease.token)
            if on_lost is not None:
                on_lost()

        beating = asyncio.create_task(heartbeat())
        try:
            yield holding
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
            if not holding.lost:
                await self._leases.release(holding.lease)


@dataclass
class Holding:
    """A lease being held: ``lost`` once a renewal found it taken."""

    lease: Lease
    lost: bool = False
