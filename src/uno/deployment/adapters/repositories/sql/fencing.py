"""Fenced writes: a write goes through only while its writer still holds its lease.

The check reads the lease's row in the write's own transaction: on PostgreSQL with
``FOR SHARE``, so a grant to someone else (which updates that row) waits for the write to
commit, or the write sees the new token; on SQLite the write's ``BEGIN IMMEDIATE`` already
excludes every other writer. Either way a writer that lost its lease writes nothing.
"""

from __future__ import annotations

import sqlalchemy as sa

from uno.core.errors import ErrorDetails
from uno.deployment.adapters.repositories.sql import tables
from uno.deployment.ports.leases import Lease
from uno.deployment.ports.repositories import fenced

_c = tables.leases.c
_GRANT = sa.select(_c.holder, _c.token).where(_c.key == sa.bindparam("f_key"))
_SHARED = _GRANT.with_for_update(read=True)


def refusal(connection: sa.Connection, fence: Lease | None) -> ErrorDetails | None:
    """None when the write may go on (no fence, or the fence still holds); else why not."""
    if fence is None:
        return None
    statement = _SHARED if connection.dialect.name == "postgresql" else _GRANT
    row = connection.execute(statement, {"f_key": fence.key}).one_or_none()
    if row is None or (row[0], int(row[1])) != (fence.holder, fence.token):
        return fenced(fence)
    return None
