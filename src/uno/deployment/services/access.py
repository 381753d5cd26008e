"""API tokens: made with a secret shown once, checked on every request, revoked by id.

- The secret is ``uno_`` and 256 random bits (URL-safe base64). The prefix lets people
  and secret scanners recognise a leaked token; the bits make guessing hopeless, which is
  why a plain SHA-256 of the secret is all the store keeps (see ``ports.access``).
- ``authenticate`` runs on every request, so it does one repository read, by digest,
  and nothing else; what cannot be a token (no secret, no prefix, absurd length) is
  refused before the store is asked.
- Every reason to refuse a secret (missing, unknown, revoked, expired) gets the same
  ``UNAUTHENTICATED`` message, which never repeats the secret: a caller learns nothing
  about which tokens exist. A known token without the scope gets ``FORBIDDEN``.
- A failing store is ``Failure(STORAGE_ERROR)``, never ``UNAUTHENTICATED``: an outage
  must not look like a bad token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.ids import new_token_id
from uno.deployment.ports.access import ApiToken, Scope, TokenRepository
from uno.deployment.ports.clock import Clock
from uno.deployment.ports.repositories import StorageError
from uno.deployment.services import inputs

T = TypeVar("T")

SECRET_PREFIX = "uno_"
MAX_NAME = 100
MAX_EXPIRY_DAYS = 3650
#: Far longer than any secret this service makes: anything longer is not hashed at all.
_MAX_SECRET = 256

REFUSED = ErrorDetails(ErrorCode.UNAUTHENTICATED, "a valid API token is required (Authorization: Bearer <token>)")


def digest(secret: str) -> str:
    """What the store keeps of a secret: its SHA-256, in hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


class AccessService:
    def __init__(self, tokens: TokenRepository, clock: Clock) -> None:
        self._tokens = tokens
        self._clock = clock

    async def create_token(
        self, name: str, scopes: Sequence[Scope | str], expires_in_days: int | None = None
    ) -> Result[tuple[ApiToken, str]]:
        """Make a token; returns it and its secret, which nobody can read again after this."""
        match _checked(name, scopes, expires_in_days):
            case Failure() as failure:
                return failure
            case Success((checked_name, chosen, days)):
                pass
        now = self._clock.now()
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        expires_at = now + timedelta(days=days) if days is not None else None
        token = ApiToken(new_token_id(), checked_name, chosen, digest(secret), now, expires_at=expires_at)
        match await self._tokens.add(token):
            case Failure() as failure:
                return failure
            case Success(stored):
                return Success((stored, secret))

    async def authenticate(self, secret: str | None, needed: Scope) -> Result[ApiToken]:
        """The token whose secret this is, if it may be used now for ``needed``."""
        if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX) or len(secret) > _MAX_SECRET:
            return Failure(REFUSED)
        wanted = digest(secret)
        match await _stored(self._tokens.by_digest(wanted)):
            case Failure() as failure:
                return failure
            case Success(token):
                pass
        if token is None or not hmac.compare_digest(token.digest, wanted) or not token.usable_at(self._clock.now()):
            return Failure(REFUSED)
        if not token.allows(needed):
            return Failure(forbidden(token, needed))
        return Success(token)

    async def list_tokens(self) -> Result[list[ApiToken]]:
        """Every token, revoked and expired ones included, newest first."""
        return await _stored(self._tokens.list())

    async def revoke_token(self, token_id: str) -> Result[ApiToken]:
        """Make the token unusable from now on; revoking it again keeps the first time."""
        match inputs.text(token_id, "token_id", max_length=128):
            case Failure() as failure:
                return failure
            case Success(checked_id):
                return await self._tokens.revoke(checked_id, self._clock.now())


def _checked(name: Any, scopes: Any, expires_in_days: Any) -> Result[tuple[str, frozenset[Scope], int | None]]:
    match inputs.text(name, "name", max_length=MAX_NAME):
        case Failure() as failure:
            return failure
        case Success(checked_name):
            pass
    if not checked_name.isprintable():
        return Failure(ErrorDetails.validation("name", "must not hold control characters"))
    match _scopes(scopes):
        case Failure() as failure:
            return failure
        case Success(chosen):
            pass
    if expires_in_days is not None and (
        isinstance(expires_in_days, bool)
        or not isinstance(expires_in_days, int)
        or not 1 <= expires_in_days <= MAX_EXPIRY_DAYS
    ):
        return Failure(
            ErrorDetails.validation("expires_in_days", f"must be a whole number of days from 1 to {MAX_EXPIRY_DAYS}")
        )
    return Success((checked_name, chosen, expires_in_days))


def _scopes(given: Any) -> Result[frozenset[Scope]]:
    """The scopes asked for: one scope alone, or a non-empty sequence of known ones."""
    if isinstance(given, str):
        given = [given]
    if not isinstance(given, Sequence) or not given:
        return Failure(ErrorDetails.validation("scopes", f"give at least one of {', '.join(Scope)}"))
    chosen: set[Scope] = set()
    for value in given:
        match inputs.enum_value(Scope, value, "scopes"):
            case Failure() as failure:
                return failure
            case Success(scope):
                chosen.add(scope)
    return Success(frozenset(chosen))


def forbidden(token: ApiToken, needed: Scope) -> ErrorDetails:
    """The refusal of a known token that lacks ``needed`` (the same wherever it is checked)."""
    held = ", ".join(scope for scope in Scope if scope in token.scopes)
    return ErrorDetails(
        ErrorCode.FORBIDDEN,
        f"this needs the {needed.value!r} scope; token {token.id} has {held}",
        {"needed": needed.value, "token_id": token.id},
    )


async def _stored(pending: Awaitable[T]) -> Result[T]:
    """The store's answer, or its failure as a value: every method here returns a ``Result``."""
    try:
        return Success(await pending)
    except StorageError as failed:
        return Failure(failed.error)
