"""The SQL schema: the one definition the repositories query and the migrations must equal.

Aggregates (configurations, deployment records) are stored whole as a JSON document, with
the fields that queries filter or sort on copied into indexed columns and a ``version``
column for optimistic concurrency. A pipeline is a structure document plus small rows
that its run writes: one state row per subject that changed (``pipeline_states``) and one
journal row per transition (``pipeline_events``), so a transition never rewrites the
structure.

Invariants the code relies on:
- ids sort by code point on every dialect (PostgreSQL columns use the ``C`` collation),
  as the memory repositories sort them;
- times are stored in UTC and always read back timezone-aware (``UtcDateTime``);
- ``pipelines.status`` and ``pipelines.event_count`` are kept by the same transaction that
  writes the states and events, so a status filter and the journal's numbering are exact;
- a lease row is never deleted, so its ``token`` never goes back;
- an API token's secret is never stored, only its SHA-256 ``digest`` (unique, the lookup
  key of every authenticated request); its ``scopes`` are scope names joined by commas;
- an idempotency key is claimed once per (scope, key): the primary key decides the race.
- an application has one configuration per environment: ``configs`` is unique on
  (``app_name``, ``environment``) among rows whose ``superseded_by`` is null. Only
  migration 0004 sets ``superseded_by``: on the older duplicates an old store held, naming
  the newest one, which stays the configuration (the older ones stay readable by id).

A test compares this module with the migrated schema (Alembic's ``compare_metadata``):
change both together, through a new migration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING)


def identifier(length: int = 128) -> sa.types.TypeEngine[str]:
    """A string compared by code point: PostgreSQL's default collation would not."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


#: JSON text on SQLite, ``jsonb`` on PostgreSQL (so states merge in SQL with ``||``).
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class UtcDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every dialect (SQLite keeps no zone by itself)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"a naive datetime cannot be stored: {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


configs = sa.Table(
    "configs",
    metadata,
    sa.Column("id", identifier(), primary_key=True),
    sa.Column("app_name", sa.String(63), nullable=False),
    sa.Column("environment", sa.String(32), nullable=False),
    sa.Column("platform", sa.String(32), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("document", Json, nullable=False),
    sa.Column("superseded_by", identifier(), nullable=True),
    sa.Index(None, "app_name", "environment", "created_at"),
    sa.Index(None, "environment", "created_at"),
    sa.Index(None, "created_at", "id"),
    sa.Index(
        "uq_configs_app_name_environment",
        "app_name",
        "environment",
        unique=True,
        sqlite_where=sa.text("superseded_by IS NULL"),
        postgresql_where=sa.text("superseded_by IS NULL"),
    ),
)

deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("id", identifier(), primary_key=True),
    sa.Column("config_id", identifier(), nullable=False),
    sa.Column("app_name", sa.String(63), nullable=False),
    sa.Column("environment", sa.String(32), nullable=False),
    sa.Column("platform", sa.String(32), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("document", Json, nullable=False),
    sa.Index(None, "app_name", "environment", "created_at"),
    sa.Index(None, "environment", "created_at"),
    sa.Index(None, "status", "created_at"),
    sa.Index(None, "config_id"),
    sa.Index(None, "created_at", "id"),
)

pipelines = sa.Table(
    "pipelines",
    metadata,
    sa.Column("id", identifier(), primary_key=True),
    sa.Column("deployment_id", identifier(), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("event_count", sa.Integer(), nullable=False),
    sa.Column("document", Json, nullable=False),
    sa.Index(None, "deployment_id", "created_at"),
    sa.Index(None, "status", "created_at"),
    sa.Index(None, "created_at", "id"),
)

pipeline_states = sa.Table(
    "pipeline_states",
    metadata,
    sa.Column("pipeline_id", identifier(), sa.ForeignKey("pipelines.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("subject_kind", sa.String(16), primary_key=True),
    sa.Column("subject_id", identifier(), primary_key=True),
    sa.Column("state", Json, nullable=False),
)

pipeline_events = sa.Table(
    "pipeline_events",
    metadata,
    sa.Column("pipeline_id", identifier(), sa.ForeignKey("pipelines.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("at", UtcDateTime(), nullable=False),
    sa.Column("subject_kind", sa.String(16), nullable=False),
    sa.Column("subject_id", identifier(), nullable=False),
    sa.Column("old", sa.String(32), nullable=False),
    sa.Column("new", sa.String(32), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("key", identifier(255), primary_key=True),
    sa.Column("holder", sa.String(255), nullable=True),
    sa.Column("token", sa.BigInteger(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=True),
)

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("pipeline_id", identifier(), primary_key=True),
    sa.Column("task_id", identifier(), primary_key=True),
    sa.Column("approved", sa.Boolean(), nullable=False),
    sa.Column("decided_by", sa.String(255), nullable=False),
    sa.Column("decided_at", UtcDateTime(), nullable=False),
    sa.Column("comment", sa.Text(), nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", identifier(), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("scopes", sa.Text(), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("expires_at", UtcDateTime(), nullable=True),
    sa.Column("revoked_at", UtcDateTime(), nullable=True),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("scope", identifier(255), primary_key=True),
    sa.Column("key", identifier(255), primary_key=True),
    sa.Column("fingerprint", sa.String(128), nullable=False),
    sa.Column("deployment_id", identifier(), nullable=False),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Index(None, "created_at"),
)

#: Every table, children first: the order to empty them in.
ALL = (
    pipeline_events,
    pipeline_states,
    pipelines,
    deployments,
    configs,
    leases,
    decisions,
    api_tokens,
    idempotency_keys,
)
