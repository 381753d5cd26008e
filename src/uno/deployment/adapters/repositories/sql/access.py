"""SQL API tokens and idempotency claims: the memory repositories' contract, across processes.

A token is one row; its scopes are one text column (names joined by commas, in the
order of ``Scope``), so a lookup by digest, done on every authenticated request, is one
indexed read. Revoking is one ``UPDATE ... WHERE revoked_at IS NULL``: of two revocations
the first time stays.

A claim is ``INSERT ... ON CONFLICT DO NOTHING`` on the (scope, key) primary key, then,
when nothing went in, a read of the claim that did: of any number of processes claiming
one key at once exactly one inserts, and every other one gets the winner's claim back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.adapters.repositories.sql import documents, tables
from uno.deployment.adapters.repositories.sql.executing import Database
from uno.deployment.ports.access import ApiToken, IdempotencyClaim, Scope

_t = tables.api_tokens.c
_TOKEN = sa.select(_t.id, _t.name, _t.scopes, _t.digest, _t.created_at, _t.expires_at, _t.revoked_at)
_BY_ID = _TOKEN.where(_t.id == sa.bindparam("t_id"))
_BY_DIGEST = _TOKEN.where(_t.digest == sa.bindparam("t_digest"))
_NEWEST_FIRST = _TOKEN.order_by(_t.created_at.desc(), _t.id.desc())
_REVOKE = (
    sa.update(tables.api_tokens)
    .where(_t.id == sa.bindparam("t_id"), _t.revoked_at.is_(None))
    .values(revoked_at=sa.bindparam("t_at"))
)

_k = tables.idempotency_keys.c
_CLAIMED = sa.select(_k.fingerprint, _k.deployment_id, _k.created_at).where(
    _k.scope == sa.bindparam("i_scope"), _k.key == sa.bindparam("i_key")
)
_RELEASE = sa.delete(tables.idempotency_keys).where(
    _k.scope == sa.bindparam("i_scope"), _k.key == sa.bindparam("i_key"), _k.deployment_id == sa.bindparam("i_owner")
)
_PURGE = sa.delete(tables.idempotency_keys).where(_k.created_at < sa.bindparam("i_before"))

#: A claim read back can vanish (released) before it is read: try again, a few times.
_CLAIM_ATTEMPTS = 3


class SqlTokenRepository:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def add(self, token: ApiToken) -> Result[ApiToken]:
        return await documents.as_result(self._add(token))

    async def _add(self, token: ApiToken) -> Result[ApiToken]:
        row = _token_row(token)
        if not await self._database.write(
            lambda connection: documents.add(connection, tables.api_tokens, row), single=True
        ):
            return documents.duplicate("token", token.id)
        return Success(token)

    async def by_digest(self, digest: str) -> ApiToken | None:
        key = {"t_digest": digest}
        # every authenticated request comes here: on SQLite, the one-hop worker thread
        row = await self._database.read(lambda connection: connection.execute(_BY_DIGEST, key).one_or_none())
        return _token(row) if row is not None else None

    async def get(self, token_id: str) -> ApiToken | None:
        key = {"t_id": token_id}
        row = await self._database.read(lambda connection: connection.execute(_BY_ID, key).one_or_none())
        return _token(row) if row is not None else None

    async def list(self) -> list[ApiToken]:
        rows = await self._database.read(lambda connection: connection.execute(_NEWEST_FIRST).all())
        return [_token(row) for row in rows]

    async def revoke(self, token_id: str, at: datetime) -> Result[ApiToken]:
        return await documents.as_result(self._database.write(lambda connection: _revoke(connection, token_id, at)))


def _revoke(connection: sa.Connection, token_id: str, at: datetime) -> Result[ApiToken]:
    connection.execute(_REVOKE, {"t_id": token_id, "t_at": at})
    row = connection.execute(_BY_ID, {"t_id": token_id}).one_or_none()
    return Success(_token(row)) if row is not None else Failure(ErrorDetails.not_found("token", token_id))


def _token_row(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "scopes": ",".join(scope.value for scope in Scope if scope in token.scopes),
        "digest": token.digest,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
    }


def _token(row: Any) -> ApiToken:
    scopes = frozenset(Scope(name) for name in row[2].split(",") if name)
    return ApiToken(row[0], row[1], scopes, row[3], row[4], expires_at=row[5], revoked_at=row[6])


class SqlIdempotencyRepository:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def claim(self, claim: IdempotencyClaim) -> Result[IdempotencyClaim]:
        return await documents.as_result(self._database.write(lambda connection: _claim(connection, claim)))

    async def release(self, scope: str, key: str, deployment_id: str) -> None:
        values = {"i_scope": scope, "i_key": key, "i_owner": deployment_id}
        await self._database.write(lambda connection: connection.execute(_RELEASE, values), single=True)

    async def purge(self, older_than: datetime) -> int:
        return await self._database.write(lambda connection: _purge(connection, older_than), single=True)


def _claim(connection: sa.Connection, claim: IdempotencyClaim) -> Result[IdempotencyClaim]:
    row = {
        "scope": claim.scope,
        "key": claim.key,
        "fingerprint": claim.fingerprint,
        "deployment_id": claim.deployment_id,
        "created_at": claim.created_at,
    }
    key = {"i_scope": claim.scope, "i_key": claim.key}
    for _ in range(_CLAIM_ATTEMPTS):
        if documents.add(connection, tables.idempotency_keys, row):
            return Success(claim)
        # PostgreSQL's READ COMMITTED gives each statement a new snapshot: the winner's row,
        # committed before the insert gave way, is visible to this read
        stored = connection.execute(_CLAIMED, key).one_or_none()
        if stored is not None:
            return Success(IdempotencyClaim(claim.scope, claim.key, stored[0], stored[1], stored[2]))
    return Failure(ErrorDetails.conflict(f"idempotency key {claim.key!r} is being claimed and released; retry"))


def _purge(connection: sa.Connection, older_than: datetime) -> int:
    return int(connection.execute(_PURGE, {"i_before": older_than}).rowcount)
