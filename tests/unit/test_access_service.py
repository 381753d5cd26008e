"""AccessService as the API and the CLI use it: make a token, check it on a request, revoke it."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import inject
import pytest

from uno.core.errors import ErrorCode, ErrorDetails
from uno.deployment import bootstrap
from uno.deployment.adapters.clocks import FakeClock
from uno.deployment.adapters.repositories.memory import MemoryTokenRepository
from uno.deployment.ports.access import ApiToken, Scope
from uno.deployment.ports.repositories import StorageError
from uno.deployment.services.access import AccessService


class CountingTokens(MemoryTokenRepository):
    """The memory store, counting the calls a request costs."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def by_digest(self, digest: str) -> ApiToken | None:
        self.calls += 1
        return await super().by_digest(digest)

    async def get(self, token_id: str) -> ApiToken | None:
        self.calls += 1
        return await super().get(token_id)

    async def list(self) -> list[ApiToken]:
        self.calls += 1
        return await super().list()


class FailingTokens(MemoryTokenRepository):
    async def by_digest(self, digest: str) -> ApiToken | None:
        raise StorageError(ErrorDetails(ErrorCode.STORAGE_ERROR, "the store at test.db failed: disk I/O error"))


@pytest.fixture
def tokens() -> CountingTokens:
    return CountingTokens()


@pytest.fixture
def service(tokens: CountingTokens, fake_clock: FakeClock) -> AccessService:
    return AccessService(tokens, fake_clock)


async def a_token(service: AccessService, *scopes: Scope | str, **options: Any) -> tuple[ApiToken, str]:
    return (await service.create_token("ci", list(scopes) or [Scope.READ], **options)).value


async def test_a_new_token_has_a_secret_shown_once_and_only_its_digest_is_stored(
    service: AccessService, tokens: CountingTokens, fake_clock: FakeClock
):
    token, secret = await a_token(service, "deploy", Scope.READ)

    assert secret.startswith("uno_")
    assert len(secret) >= 4 + 43  # 32 random bytes in URL-safe base64
    assert token.id.startswith("tok-")
    assert token.name == "ci"
    assert token.scopes == {Scope.READ, Scope.DEPLOY}
    assert token.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert (token.created_at, token.expires_at, token.revoked_at) == (fake_clock.now(), None, None)
    assert await tokens.get(token.id) == token
    assert secret not in repr(await tokens.list())


async def test_two_tokens_never_share_a_secret_a_digest_or_an_id(service: AccessService):
    first, first_secret = await a_token(service)
    second, second_secret = await a_token(service)

    assert first_secret != second_secret
    assert first.digest != second.digest
    assert first.id != second.id


async def test_an_expiry_is_counted_in_days_from_now(service: AccessService, fake_clock: FakeClock):
    token, _ = await a_token(service, expires_in_days=30)

    assert token.expires_at == fake_clock.now() + timedelta(days=30)


@pytest.mark.parametrize(
    ("name", "scopes", "days", "field"),
    [
        ("", ["read"], None, "name"),
        ("   ", ["read"], None, "name"),
        ("x" * 101, ["read"], None, "name"),
        ("ci\nbot", ["read"], None, "name"),
        (None, ["read"], None, "name"),
        ("ci", [], None, "scopes"),
        ("ci", ["read", "root"], None, "scopes"),
        ("ci", None, None, "scopes"),
        ("ci", ["read"], 0, "expires_in_days"),
        ("ci", ["read"], 3651, "expires_in_days"),
        ("ci", ["read"], True, "expires_in_days"),
        ("ci", ["read"], "7", "expires_in_days"),
    ],
)
async def test_bad_input_is_a_validation_error_naming_the_field(
    service: AccessService, tokens: CountingTokens, name: Any, scopes: Any, days: Any, field: str
):
    refused = await service.create_token(name, scopes, expires_in_days=days)

    assert refused.error.code is ErrorCode.VALIDATION_ERROR
    assert refused.error.context["field"] == field
    assert await tokens.list() == []


async def test_the_limits_themselves_are_accepted(service: AccessService):
    made = await service.create_token("x" * 100, "admin", expires_in_days=3650)

    assert made.value[0].scopes == {Scope.ADMIN}
    assert (await service.create_token("a", ["read"], expires_in_days=1)).is_success()


async def test_a_secret_authenticates_with_one_repository_call(service: AccessService, tokens: CountingTokens):
    token, secret = await a_token(service, Scope.DEPLOY)
    tokens.calls = 0

    assert (await service.authenticate(secret, Scope.DEPLOY)).value == token
    assert tokens.calls == 1


@pytest.mark.parametrize(
    ("held", "needed", "allowed"),
    [
        (Scope.READ, Scope.READ, True),
        (Scope.READ, Scope.DEPLOY, False),
        (Scope.DEPLOY, Scope.READ, True),
        (Scope.DEPLOY, Scope.ADMIN, False),
        (Scope.ADMIN, Scope.DEPLOY, True),
        (Scope.ADMIN, Scope.ADMIN, True),
    ],
)
async def test_a_scope_includes_the_ones_below_it(service: AccessService, held: Scope, needed: Scope, allowed: bool):
    _, secret = await a_token(service, held)

    checked = await service.authenticate(secret, needed)

    assert checked.is_success() is allowed
    if not allowed:
        assert checked.error.code is ErrorCode.FORBIDDEN
        assert f"'{needed.value}' scope" in checked.error.message
        assert checked.error.context["needed"] == needed.value


async def test_every_refused_secret_gets_the_same_message_without_the_secret(
    service: AccessService, tokens: CountingTokens, fake_clock: FakeClock
):
    revoked, revoked_secret = await a_token(service)
    await service.revoke_token(revoked.id)
    _, expiring_secret = await a_token(service, expires_in_days=1)
    _, good_secret = await a_token(service)
    fake_clock.advance(timedelta(days=1).total_seconds())
    tokens.calls = 0

    refusals = {
        secret: await service.authenticate(secret, Scope.READ)
        for secret in (None, "", "not-a-token", "uno_" + "x" * 43, "uno_" + "x" * 1000, revoked_secret, expiring_secret)
    }

    for secret, refused in refusals.items():
        assert refused.error.code is ErrorCode.UNAUTHENTICATED
        assert refused.error.message == refusals[None].error.message
        assert not secret or secret not in refused.error.message
    assert tokens.calls == 3  # what cannot be a token never reaches the store
    assert (await service.authenticate(good_secret, Scope.READ)).is_success()


async def test_a_token_expires_at_its_expiry_not_after(service: AccessService, fake_clock: FakeClock):
    _, secret = await a_token(service, expires_in_days=1)
    fake_clock.advance(timedelta(days=1).total_seconds() - 1)
    assert (await service.authenticate(secret, Scope.READ)).is_success()

    fake_clock.advance(1)
    assert (await service.authenticate(secret, Scope.READ)).error.code is ErrorCode.UNAUTHENTICATED


async def test_a_failing_store_is_a_storage_error_not_a_bad_token(fake_clock: FakeClock):
    service = AccessService(FailingTokens(), fake_clock)

    failed = await service.authenticate("uno_" + "x" * 43, Scope.READ)

    assert failed.error.code is ErrorCode.STORAGE_ERROR


async def test_tokens_are_listed_newest_first(service: AccessService, fake_clock: FakeClock):
    first, _ = await a_token(service)
    fake_clock.advance(1)
    second, _ = await a_token(service)

    assert (await service.list_tokens()).value == [second, first]


async def test_revoking_keeps_the_first_time_and_an_unknown_id_is_not_found(
    service: AccessService, fake_clock: FakeClock
):
    token, secret = await a_token(service)
    revoked = (await service.revoke_token(token.id)).value
    fake_clock.advance(60)

    assert revoked.revoked_at == fake_clock.now() - timedelta(seconds=60)
    assert (await service.revoke_token(token.id)).value.revoked_at == revoked.revoked_at
    assert (await service.authenticate(secret, Scope.READ)).error.code is ErrorCode.UNAUTHENTICATED
    assert (await service.revoke_token("tok-missing")).error.code is ErrorCode.NOT_FOUND
    assert (await service.revoke_token("")).error.code is ErrorCode.VALIDATION_ERROR


async def test_the_container_checks_tokens_against_its_own_store(container: bootstrap.Container):
    token, secret = (await container.access_service.create_token("ci", ["deploy"])).value

    assert await container.tokens.get(token.id) == token
    assert (await container.access_service.authenticate(secret, Scope.DEPLOY)).value == token
    bootstrap.configure(container=container)
    assert inject.instance(AccessService) is container.access_service
