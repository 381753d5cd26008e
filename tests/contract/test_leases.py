"""The lease contract: every lease backend must pass these tests unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from uno.deployment.adapters.clocks import FakeClock
from uno.deployment.adapters.leases import MemoryLeaseRepository
from uno.deployment.adapters.repositories.sql import stores


def _memory(request: pytest.FixtureRequest, clock: FakeClock) -> tuple[Any, Any]:
    return MemoryLeaseRepository(clock), None


def _sql(url_fixture: str) -> Callable[[pytest.FixtureRequest, FakeClock], tuple[Any, Any]]:
    def build(request: pytest.FixtureRequest, clock: FakeClock) -> tuple[Any, Any]:
        store = stores.open_store(request.getfixturevalue(url_fixture), clock)
        return store.leases, store

    return build


#: Each backend gives its lease repository and what to close after the test (or None).
BACKENDS: dict[str, Callable[[pytest.FixtureRequest, FakeClock], tuple[Any, Any]]] = {
    "memory": _memory,
    "sqlite": _sql("sqlite_url"),
    "postgresql": _sql("postgres_url"),
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=sorted(BACKENDS))
async def leases(request: pytest.FixtureRequest, clock: FakeClock) -> AsyncIterator[Any]:
    repository, store = BACKENDS[request.param](request, clock)
    yield repository
    if store is not None:
        await store.aclose()


async def test_one_holder_at_a_time(leases: Any):
    first = await leases.acquire("shop/dev", "dep-1", ttl=30)

    assert first.holder == "dep-1"
    assert await leases.acquire("shop/dev", "dep-2", ttl=30) is None
    assert (await leases.acquire("shop/test", "dep-2", ttl=30)).holder == "dep-2"
    assert (await leases.current("shop/dev")).holder == "dep-1"


async def test_an_unrenewed_lease_expires_and_can_be_taken(leases: Any, clock: FakeClock):
    first = await leases.acquire("shop/dev", "dep-1", ttl=30)
    clock.advance(31)

    second = await leases.acquire("shop/dev", "dep-2", ttl=30)

    assert second.holder == "dep-2"
    assert second.token > first.token
    assert await leases.renew(first, ttl=30) is None  # the first holder lost it


async def test_renewal_keeps_the_lease(leases: Any, clock: FakeClock):
    lease = await leases.acquire("shop/dev", "dep-1", ttl=30)
    clock.advance(20)
    renewed = await leases.renew(lease, ttl=30)
    clock.advance(20)

    assert renewed.token == lease.token
    assert await leases.acquire("shop/dev", "dep-2", ttl=30) is None


async def test_release_frees_the_key_only_for_its_holder(leases: Any, clock: FakeClock):
    first = await leases.acquire("shop/dev", "dep-1", ttl=30)
    clock.advance(31)
    second = await leases.acquire("shop/dev", "dep-2", ttl=30)

    await leases.release(first)  # a stale holder cannot release the new lease
    assert (await leases.current("shop/dev")).holder == "dep-2"
    await leases.release(second)
    assert await leases.current("shop/dev") is None
