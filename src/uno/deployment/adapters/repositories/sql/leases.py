"""SQL leases: one holder per key across connections, processes and machines.

Each operation is one short transaction on one row. The row of a key is created once
(``INSERT ... ON CONFLICT DO NOTHING``) and never deleted: a release only clears its
holder, so the fencing ``token`` is a counter that never goes back, even after a release.
Then the row is locked (PostgreSQL ``SELECT ... FOR UPDATE``; on SQLite the transaction's
``BEGIN IMMEDIATE`` already holds the write lock) and the decision is taken on what it
holds, so two acquirers never both win.

Time comes from the injected ``Clock``, never from the database's clock: the same rules
hold under a fake clock in tests, and every process compares with its own clock, as the
memory repository does (clocks of different machines must agree to within a small part
of the TTL).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from uno.deployment.adapters.repositories.sql import documents, tables
from uno.deployment.adapters.repositories.sql.executing import Database
from uno.deployment.ports.clock import Clock
from uno.deployment.ports.leases import Lease

_c = tables.leases.c
_LOCK = sa.select(_c.holder, _c.token, _c.expires_at).where(_c.key == sa.bindparam("l_key")).with_for_update()
_READ = sa.select(_c.holder, _c.token, _c.expires_at).where(_c.key == sa.bindparam("l_key"))
_GRANT = (
    sa.update(tables.leases)
    .where(_c.key == sa.bindparam("l_key"))
    .values(holder=sa.bindparam("l_holder"), token=sa.bindparam("l_token"), expires_at=sa.bindparam("l_expires"))
)
_RELEASE = (
    sa.update(tables.leases)
    .where(
        _c.key == sa.bindparam("l_key"),
        _c.holder == sa.bindparam("l_holder"),
        _c.token == sa.bindparam("l_token"),
    )
    .values(holder=None, expires_at=None)
)


class SqlLeaseRepository:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def acquire(self, key: str, holder: str, ttl: float) -> Lease | None:
        now = self._clock.now()
        return await self._database.write(lambda connection: _acquire(connection, key, holder, now, ttl))

    async def renew(self, lease: Lease, ttl: float) -> Lease | None:
        now = self._clock.now()
        return await self._database.write(lambda connection: _renew(connection, lease, now, ttl))

    async def release(self, lease: Lease) -> None:
        values = {"l_key": lease.key, "l_holder": lease.holder, "l_token": lease.token}
        await self._database.write(lambda connection: connection.execute(_RELEASE, values), single=True)

    async def force_release(self, key: str) -> Lease | None:
        now = self._clock.now()
        return await self._database.write(lambda connection: _force_release(connection, key, now))

    async def current(self, key: str) -> Lease | None:
        now = self._clock.now()
        row = await self._database.read(lambda connection: connection.execute(_READ, {"l_key": key}).one_or_none())
        return _live(key, row, now)


def _acquire(connection: sa.Connection, key: str, holder: str, now: datetime, ttl: float) -> Lease | None:
    connection.execute(
        documents.insert(connection, tables.leases)
        .values(key=key, holder=None, token=0, expires_at=None)
        .on_conflict_do_nothing()
    )
    row = connection.execute(_LOCK, {"l_key": key}).one()
    current = _live(key, row, now)
    if current is not None and current.holder != holder:
        return None
    lease = Lease(key, holder, int(row[1]) + 1, now + timedelta(seconds=ttl))
    _store(connection, lease)
    return lease


def _renew(connection: sa.Connection, lease: Lease, now: datetime, ttl: float) -> Lease | None:
    row = connection.execute(_LOCK, {"l_key": lease.key}).one_or_none()
    if row is None or row[0] != lease.holder or int(row[1]) != lease.token:
        return None  # taken by another (or released); expired but not taken still renews
    renewed = Lease(lease.key, lease.holder, lease.token, now + timedelta(seconds=ttl))
    _store(connection, renewed)
    return renewed


def _force_release(connection: sa.Connection, key: str, now: datetime) -> Lease | None:
    row = connection.execute(_LOCK, {"l_key": key}).one_or_none()
    if row is None or row[0] is None:
        return None
    connection.execute(sa.update(tables.leases).where(_c.key == key).values(holder=None, expires_at=None))
    return Lease(key, row[0], int(row[1]), row[2])


def _store(connection: sa.Connection, lease: Lease) -> None:
    values = {"l_key": lease.key, "l_holder": lease.holder, "l_token": lease.token, "l_expires": lease.expires_at}
    connection.execute(_GRANT, values)


def _live(key: str, row: Any, now: datetime) -> Lease | None:
    """The lease a row holds, if it has a holder and has not expired by ``now``."""
    if row is None or row[0] is None or row[2] is None or row[2] <= now:
        return None
    return Lease(key, row[0], int(row[1]), row[2])
