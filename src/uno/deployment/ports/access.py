"""Who may call the HTTP API, and requests that must not run twice.

API tokens: a token is a random secret shown once, when it is made; the store keeps only
its SHA-256 digest (a token has 256 bits of entropy, so a fast hash is the right one: no
dictionary can guess it), its name and its scopes. ``read`` lets a client look,
``deploy`` also lets it deploy, roll back, approve and promote, ``admin`` also lets it
change configurations, manage tokens and define free-form tasks (``services.authority``).

Idempotency keys: a client that retries ``POST /deploy`` with the same
``Idempotency-Key`` gets the deployment the first attempt started, never a second one.
A claim ties (scope, key) to the request's fingerprint and the deployment it started;
the first claim wins, across processes (a unique key in the database).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from uno.core.result import Result


class Scope(StrEnum):
    READ = "read"
    DEPLOY = "deploy"
    ADMIN = "admin"

    def allows(self, needed: Scope) -> bool:
        """``admin`` includes ``deploy``, which includes ``read``."""
        order = (Scope.READ, Scope.DEPLOY, Scope.ADMIN)
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True, slots=True)
class ApiToken:
    id: str
    """Public handle (``tok-...``): shown in lists and logs, used to revoke; not a secret."""
    name: str
    scopes: frozenset[Scope]
    digest: str
    """SHA-256 (hex) of the secret token; the secret itself is never stored."""
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def allows(self, needed: Scope) -> bool:
        return any(scope.allows(needed) for scope in self.scopes)

    def usable_at(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


class TokenRepository(Protocol):
    async def add(self, token: ApiToken) -> Result[ApiToken]:
        """Store a new token; ``CONFLICT`` if its id or digest exists."""
        ...

    async def by_digest(self, digest: str) -> ApiToken | None: ...

    async def get(self, token_id: str) -> ApiToken | None: ...

    async def list(self) -> list[ApiToken]:
        """Every token, revoked ones included, newest first."""
        ...

    async def revoke(self, token_id: str, at: datetime) -> Result[ApiToken]:
        """Mark the token revoked (``NOT_FOUND`` if absent; revoking twice keeps the first time)."""
        ...


@dataclass(frozen=True, slots=True)
class IdempotencyClaim:
    scope: str
    """What the key is for, and for whom: ``deploy:tok-...``; keys of two clients never meet."""
    key: str
    fingerprint: str
    """SHA-256 of the request's canonical body: the same key with another body is refused."""
    deployment_id: str
    created_at: datetime


class IdempotencyRepository(Protocol):
    async def claim(self, claim: IdempotencyClaim) -> Result[IdempotencyClaim]:
        """Store the claim, or return the claim already stored for its (scope, key).

        The caller compares what comes back with what it sent: the same ``deployment_id``
        means it won and must start the work; another means the work was started before.
        """
        ...

    async def release(self, scope: str, key: str, deployment_id: str) -> None:
        """Forget a claim whose request started nothing (so a retry may try again)."""
        ...

    async def purge(self, older_than: datetime) -> int:
        """Forget claims made before ``older_than``; returns how many."""
        ...
