"""Which schema revision a store is at, and which is the newest: without loading Alembic.

Opening a store with ``auto_migrate`` brings its schema to head. Alembic (and the
migration scripts it loads, the queue's among them) costs more to import than a CLI
command that lists ten rows takes in all, and is only needed when the schema is behind.
So opening asks this module first: the newest revision is read from the scripts' own
``revision``/``down_revision`` lines, the stored one with one query, and Alembic runs
only when they differ (``migrating``, which checks again under its transaction).

Invariants: a script this module cannot read plainly (a merge of branches, a computed
revision) makes ``newest`` None, and None always means "run Alembic": the cheap check
may only skip an upgrade, never decide one. The check is SQLite's (the embedded store, a
file on this machine); PostgreSQL is migrated through Alembic under its advisory lock, as
before. ``tests/unit/test_schema_revisions.py`` compares ``newest`` with Alembic's head.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from uno.deployment.adapters.repositories.sql import locations

if TYPE_CHECKING:
    from uno.deployment.adapters.repositories.sql import connecting

SCRIPTS = Path(__file__).with_name("migrations") / "versions"
_ASSIGNED = re.compile(r"^(revision|down_revision)\b[^=\n]*=\s*(.+?)\s*$", re.MULTILINE)
_PLAIN = re.compile(r"""^(?:"([\w-]+)"|'([\w-]+)'|(None))$""")


@functools.cache
def newest() -> str | None:
    """The head revision the package ships, or None when the scripts are not plain to read."""
    return head_of(SCRIPTS)


def head_of(scripts: Path) -> str | None:
    """The one revision of ``scripts`` no other names as its ``down_revision``; None if unsure."""
    revisions: set[str] = set()
    parents: set[str | None] = set()
    for script in sorted(scripts.glob("*.py")):
        text = script.read_text(encoding="utf-8")
        assigned = {match.group(1): match.group(2) for match in _ASSIGNED.finditer(text)}
        if "revision" not in assigned:
            continue  # not a migration (the package's __init__)
        revision, parent = _plain(assigned["revision"]), _plain(assigned.get("down_revision", "?"))
        if revision is None or parent == "?":
            return None
        revisions.add(revision)
        parents.add(parent)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _plain(expression: str) -> str | None:
    """The string an assignment's right side spells; None for ``None``; "?" for anything else."""
    match = _PLAIN.match(expression)
    if match is None:
        return "?"
    return match.group(1) or match.group(2)


def at_head(where: connecting.Target) -> bool:
    """Whether the store's schema is known to be the newest, so opening it needs no migration."""
    head = newest()
    if head is None or where.path is None or not where.path.is_file():
        return False
    return _stored(where.path) == head


def _stored(path: Path) -> str | None:
    """The SQLite file's recorded revision; None when it has none or cannot be read (Alembic then says why)."""
    try:
        connection = sqlite3.connect(path, timeout=locations.BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error:
        return None
    try:
        return stored_in(connection)
    finally:
        connection.close()


def stored_in(connection: sqlite3.Connection) -> str | None:
    """The revision recorded in an open SQLite database; None when it has none or cannot be read."""
    try:
        rows = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error:
        return None
    return str(rows[0][0]) if len(rows) == 1 else None
