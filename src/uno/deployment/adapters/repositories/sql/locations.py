"""Where the embedded store's SQLite file is, without SQLAlchemy.

``connecting`` turns any database URL into SQLAlchemy's URLs; the few places that only
need the SQLite file (the schema revision check, the read-only reader of the CLI's
listings) read it from here, so they open the file with the standard ``sqlite3`` module
before, or instead of, importing SQLAlchemy. ``sqlite_file`` knows the plain forms only
and answers None for the rest: its callers then take the full path through ``connecting``.
"""

from __future__ import annotations

from pathlib import Path

import platformdirs

APP_NAME = "uno-deployment"
DEFAULT_FILE = "uno-deploy.db"
BUSY_TIMEOUT_MS = 30_000
_PLAIN_SQLITE = "sqlite:///"


def default_database_path() -> Path:
    """The embedded default: one SQLite file in the user's data directory."""
    return platformdirs.user_data_path(APP_NAME) / DEFAULT_FILE


def sqlite_file(url: str | None) -> Path | None:
    """The absolute path of the SQLite file ``url`` names, for the plain forms; None otherwise.

    Plain: unset (the default file), a bare path, or ``sqlite:///path`` with no driver,
    query or escapes. ``connecting.target`` reads these the same way (its test says so).
    """
    if url is None:
        path = default_database_path()
    elif "://" not in url:
        path = Path(url)
    elif url.startswith(_PLAIN_SQLITE) and not any(mark in url for mark in "?%#@"):
        path = Path(url.removeprefix(_PLAIN_SQLITE))
        if not path.name or path.name == ":memory:":
            return None
    else:
        return None
    return path.expanduser().absolute()
