"""The access contract: token and idempotency stores must pass these tests unchanged.

Backends are built as in ``test_repositories``: memory, SQLite (a file of the test's own)
and PostgreSQL (the session's database, emptied for the test). The race tests give each
claimant a store of its own (its own engine and connections), as separate API servers
would have, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from uno.core.errors import ErrorCode
from uno.deployment.adapters.clocks import SystemClock
from uno.deployment.adapters.repositories import memory
from uno.deployment.adapters.repositories.sql import stores
from uno.deployment.ports.access import ApiToken, IdempotencyClaim, Scope

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CLAIMANTS = 20


async def _nothing() -> None:
    return None


@dataclass
class Access:
    tokens: Any
    idempotency: Any
    close: Callable[[], Awaitable[None]] = field(default=_nothing)


def _sql(url_fixture: str) -> Callable[[pytest.FixtureRequest], Access]:
    def build(request: pytest.FixtureRequest) -> Access:
        store = stores.open_store(request.getfixturevalue(url_fixture), SystemClock())
        return Access(store.tokens, store.idempotency, store.aclose)

    return build


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], Access]] = {
    "memory": lambda _: Access(memory.MemoryTokenRepository(), memory.MemoryIdempotencyRepository()),
    "sqlite": _sql("sqlite_url"),
    "postgresql": _sql("postgres_url"),
}


@pytest.fixture(params=sorted(BACKENDS))
async def access(request: pytest.FixtureRequest) -> AsyncIterator[Access]:
    made = BACKENDS[request.param](request)
    yield made
    await made.close()


def a_token(number: int, *scopes: Scope, minutes: int = 0, **fields: Any) -> ApiToken:
    return ApiToken(
        id=f"tok-{number:04d}",
        name=f"token {number}",
        scopes=frozenset(scopes or (Scope.READ,)),
        digest=f"{number:064x}",
        created_at=T0 + timedelta(minutes=minutes),
        **fields,
    )


def a_claim(deployment: str, key: str = "key-1", scope: str = "deploy:tok-0001", minutes: int = 0) -> IdempotencyClaim:
    return IdempotencyClaim(scope, key, f"{len(deployment):064x}", deployment, T0 + timedelta(minutes=minutes))


async def test_a_token_is_stored_whole_and_found_by_id_and_digest(access: Access):
    token = a_token(1, Scope.READ, Scope.DEPLOY, expires_at=T0 + timedelta(days=30))

    assert (await access.tokens.add(token)).value == token
    assert await access.tokens.get(token.id) == token
    assert await access.tokens.by_digest(token.digest) == token
    assert await access.tokens.get("tok-missing") is None
    assert await access.tokens.by_digest("0" * 63 + "f") is None


async def test_every_scope_set_comes_back_as_it_went_in(access: Access):
    sets = [{Scope.READ}, {Scope.DEPLOY}, {Scope.ADMIN}, {Scope.READ, Scope.ADMIN}, set(Scope)]
    for number, scopes in enumerate(sets, start=1):
        await access.tokens.add(a_token(number, *scopes))

    assert [(await access.tokens.get(f"tok-{number:04d}")).scopes for number in range(1, 6)] == sets


async def test_a_duplicate_id_or_digest_is_a_conflict_and_changes_nothing(access: Access):
    token = a_token(1)
    await access.tokens.add(token)
    same_id = ApiToken(token.id, "other", token.scopes, f"{99:064x}", token.created_at)
    same_digest = ApiToken("tok-0002", "other", token.scopes, token.digest, token.created_at)

    assert (await access.tokens.add(same_id)).error.code is ErrorCode.CONFLICT
    assert (await access.tokens.add(same_digest)).error.code is ErrorCode.CONFLICT
    assert await access.tokens.list() == [token]
    assert await access.tokens.by_digest(same_id.digest) is None


async def test_tokens_are_listed_newest_first_revoked_ones_included(access: Access):
    old, new, newest = a_token(1, minutes=1), a_token(2, minutes=2), a_token(3, minutes=3)
    same_time = a_token(4, minutes=3)
    for token in (new, old, same_time, newest):
        await access.tokens.add(token)
    await access.tokens.revoke(new.id, T0 + timedelta(hours=1))

    listed = await access.tokens.list()

    assert [token.id for token in listed] == [same_time.id, newest.id, new.id, old.id]
    assert listed[2].revoked_at == T0 + timedelta(hours=1)


async def test_revoking_twice_keeps_the_first_time(access: Access):
    token = a_token(1)
    await access.tokens.add(token)
    first, later = T0 + timedelta(hours=1), T0 + timedelta(hours=2)

    assert (await access.tokens.revoke(token.id, first)).value.revoked_at == first
    assert (await access.tokens.revoke(token.id, later)).value.revoked_at == first
    assert (await access.tokens.by_digest(token.digest)).revoked_at == first


async def test_revoking_an_unknown_token_is_not_found(access: Access):
    missing = await access.tokens.revoke("tok-missing", T0)

    assert missing.error.code is ErrorCode.NOT_FOUND
    assert "tok-missing" in missing.error.message


async def test_the_first_claim_wins_and_a_second_gets_the_first_back(access: Access):
    first = a_claim("dep-1")
    second = a_claim("dep-2", minutes=1)

    assert (await access.idempotency.claim(first)).value == first
    assert (await access.idempotency.claim(second)).value == first


async def test_keys_of_two_scopes_never_meet(access: Access):
    mine = a_claim("dep-1", scope="deploy:tok-0001")
    theirs = a_claim("dep-2", scope="deploy:tok-0002")

    assert (await access.idempotency.claim(mine)).value == mine
    assert (await access.idempotency.claim(theirs)).value == theirs


async def test_only_the_owning_deployment_releases_a_claim(access: Access):
    first = a_claim("dep-1")
    await access.idempotency.claim(first)

    await access.idempotency.release(first.scope, first.key, "dep-2")
    assert (await access.idempotency.claim(a_claim("dep-3"))).value == first
    await access.idempotency.release(first.scope, first.key, "dep-1")
    retry = a_claim("dep-4")
    assert (await access.idempotency.claim(retry)).value == retry
    await access.idempotency.release("deploy:nobody", "no-key", "dep-1")  # nothing there: fine


async def test_purge_forgets_only_claims_older_than_the_cut(access: Access):
    old = a_claim("dep-1", key="old", minutes=0)
    edge = a_claim("dep-2", key="edge", minutes=10)
    new = a_claim("dep-3", key="new", minutes=20)
    for claim in (old, edge, new):
        await access.idempotency.claim(claim)

    assert await access.idempotency.purge(T0 + timedelta(minutes=10)) == 1
    assert await access.idempotency.purge(T0 + timedelta(minutes=10)) == 0
    assert (await access.idempotency.claim(a_claim("dep-4", key="old"))).value.deployment_id == "dep-4"
    assert (await access.idempotency.claim(a_claim("dep-5", key="edge"))).value == edge
    assert (await access.idempotency.claim(a_claim("dep-6", key="new"))).value == new


@pytest.fixture(params=["sqlite", "postgresql"])
async def claimants(request: pytest.FixtureRequest) -> AsyncIterator[list[stores.SqlStore]]:
    """Stores on one database, each with its own connections: the first migrates it."""
    url = str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url"))
    opened = [stores.open_store(url, SystemClock())]
    opened += [stores.open_store(url, SystemClock(), migrate=False) for _ in range(CLAIMANTS - 1)]
    yield opened
    for store in opened:
        await store.aclose()


async def test_of_twenty_concurrent_claims_of_one_key_exactly_one_wins(claimants: list[stores.SqlStore]):
    barrier = asyncio.Barrier(CLAIMANTS)

    async def claim(index: int, store: stores.SqlStore) -> tuple[IdempotencyClaim, IdempotencyClaim]:
        await store.tokens.get("tok-warm-up")  # connected before the race starts
        await barrier.wait()
        mine = a_claim(f"dep-{index}")
        return mine, (await store.idempotency.claim(mine)).value

    outcomes = await asyncio.gather(*(claim(index, store) for index, store in enumerate(claimants)))

    winners = [mine for mine, stored in outcomes if stored == mine]
    assert len(winners) == 1
    assert {stored for _, stored in outcomes} == {winners[0]}
