"""The deployment queue: procrastinate's schema, on PostgreSQL only.

Revision ID: 0003
Revises: 0002
Created: 2026-11-29

Queue execution (API servers enqueue, ``uno-deploy worker`` processes run) keeps its jobs
in procrastinate's tables. Their schema is procrastinate's own ``schema.sql`` from the
pinned release (3.10.0); a later procrastinate release that changes it comes with a
migration of ours applying its migration scripts. SQLite has no queue: nothing to do.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from procrastinate.schema import SchemaManager

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DROP = """
DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers, procrastinate_jobs,
    procrastinate_workers CASCADE;
DO $$
DECLARE item record;
BEGIN
    FOR item IN SELECT oid::regprocedure AS signature FROM pg_proc WHERE proname LIKE 'procrastinate%' LOOP
        EXECUTE 'DROP FUNCTION IF EXISTS ' || item.signature || ' CASCADE';
    END LOOP;
    FOR item IN SELECT typname FROM pg_type WHERE typname LIKE 'procrastinate%' AND typtype IN ('e', 'c') LOOP
        EXECUTE 'DROP TYPE IF EXISTS ' || quote_ident(item.typname) || ' CASCADE';
    END LOOP;
END $$;
"""


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(_escaped(SchemaManager.get_schema()))


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(_escaped(_DROP))


def _escaped(script: str) -> str:
    """The driver reads ``%`` as a placeholder even without parameters: double it."""
    return script.replace("%", "%%")
