"""Bearer tokens with scopes: who is calling, and may they do this?

Each route names the scope it needs (``read``, ``deploy`` or ``admin``, each including
the ones before it). A token is checked through the access service, which stores only
its digest; a checked token is remembered here for ``CACHE_SECONDS`` by that digest, so
a status poll costs no store lookup. A revoked token (``uno-deploy token revoke``)
therefore stops working within that time on every server.

Without auth (``--no-auth``, loopback only), every caller is ``anonymous`` with every scope.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import Request

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result
from uno.deployment.entrypoints.http.problems import Problem
from uno.deployment.ports.access import ApiToken, Scope
from uno.deployment.services.access import forbidden
from uno.deployment.services.authority import Caller

CACHE_SECONDS = 10.0
_CACHE_LIMIT = 10_000

Authenticate = Callable[[str | None, Scope], Awaitable[Result[ApiToken]]]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made the request: a token's id, name and scopes, or ``anonymous`` (every scope) without auth."""

    id: str
    name: str
    scopes: frozenset[Scope]

    @property
    def label(self) -> str:
        """How records name the caller (``approved by ...``): the token's name and id, never its secret."""
        return self.name if self.id == self.name else f"{self.name} ({self.id})"

    @property
    def caller(self) -> Caller:
        """The caller as the services weigh it: may it define and run free-form tasks?"""
        return Caller(self.label, any(scope.allows(Scope.ADMIN) for scope in self.scopes))


ANONYMOUS = Principal("anonymous", "anonymous", frozenset(Scope))


class Guard:
    def __init__(self, authenticate: Authenticate | None) -> None:
        self._authenticate = authenticate
        self._known: dict[str, tuple[ApiToken, float]] = {}

    @property
    def enabled(self) -> bool:
        return self._authenticate is not None

    async def check(self, request: Request, needed: Scope) -> Principal:
        return await self.check_header(request.headers.get("authorization"), needed)

    async def check_header(self, authorization: str | None, needed: Scope) -> Principal:
        """The caller named by an ``Authorization`` header, if it may do what needs ``needed``."""
        if self._authenticate is None:
            return ANONYMOUS
        secret = _bearer(authorization)
        token = await self._token(secret, needed)
        if not token.allows(needed):
            raise Problem(forbidden(token, needed))
        return Principal(token.id, token.name, token.scopes)

    def forget(self, token_id: str) -> None:
        """Drop a revoked token from the cache at once."""
        for digest, (token, _) in list(self._known.items()):
            if token.id == token_id:
                del self._known[digest]

    async def _token(self, secret: str | None, needed: Scope) -> ApiToken:
        assert self._authenticate is not None
        if secret is None:
            raise _unauthenticated("send a bearer token: Authorization: Bearer <token>")
        digest = hashlib.sha256(secret.encode()).hexdigest()
        known = self._known.get(digest)
        now = time.monotonic()
        if known is not None and now - known[1] < CACHE_SECONDS:
            token = known[0]
            if token.usable_at(datetime.now(UTC)):
                return token
        checked = await self._authenticate(secret, needed)
        if isinstance(checked, Failure):
            self._known.pop(digest, None)
            raise Problem(checked.error, _CHALLENGE if checked.error.code is ErrorCode.UNAUTHENTICATED else None)
        if len(self._known) >= _CACHE_LIMIT:
            self._known.clear()
        self._known[digest] = (checked.value, now)
        return checked.value


_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="uno-deployment"'}


def _unauthenticated(message: str) -> Problem:
    return Problem(ErrorDetails(ErrorCode.UNAUTHENTICATED, message), _CHALLENGE)


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise _unauthenticated("the Authorization header must be: Bearer <token>")
    return credentials.strip()
