"""Schema migrations: Alembic, configured in code, run on the sync driver.

Migrations ship inside the package (``migrations/``) and run through here only, in one
transaction (SQLite and PostgreSQL both have transactional DDL): a failed upgrade leaves
the schema as it was. On PostgreSQL an advisory lock makes concurrent starts queue, so two
processes that start on a fresh database do not both create the tables.

They run synchronously so ``configure()`` stays a plain function that works with or
without a running event loop; a start with the schema at head costs one connection and
one read of ``alembic_version``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from uno.deployment.adapters.repositories.sql import connecting
from uno.deployment.adapters.repositories.sql.executing import translated

MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_KEY = 0x756E6F2D6D6967  # "uno-mig": one advisory lock for every uno-deployment schema change


@dataclass(frozen=True, slots=True)
class Revisions:
    """Where a schema was before an operation, where it is after, and the newest there is."""

    before: str | None
    after: str | None
    head: str

    @property
    def changed(self) -> bool:
        return self.before != self.after


def head() -> str:
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None, "the package ships at least one migration"
    return revision


def upgrade(where: connecting.Target, revision: str = "head") -> Revisions:
    """Bring the schema up to ``revision`` (the newest by default); a no-op when it is there."""
    return _migrate(where, lambda config: command.upgrade(config, revision))


def downgrade(where: connecting.Target, revision: str) -> Revisions:
    """Take the schema down to ``revision`` (``base``: no tables). For tests and rollbacks."""
    return _migrate(where, lambda config: command.downgrade(config, revision))


def current(where: connecting.Target) -> Revisions:
    """The schema's revision, changing nothing."""
    return _migrate(where, lambda config: None, writes=False)


def _migrate(where: connecting.Target, action: Callable[[Config], None], *, writes: bool = True) -> Revisions:
    with translated(where):
        connecting.prepare(where)
        engine = connecting.sync_engine(where)
        try:
            with engine.connect() as connection:
                connection.execution_options(**{connecting.BEGIN: "write" if writes else "read"})
                with connection.begin():
                    if writes and not where.is_sqlite:
                        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
                    before = _revision(connection)
                    action(_config(connection))
                    after = _revision(connection)
        finally:
            engine.dispose()
    return Revisions(before, after, head())


def _revision(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config
