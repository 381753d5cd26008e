"""Settings, from code, ``UNO_DEPLOY_*`` environment variables or a TOML settings file.

Precedence, highest first: values passed in code, environment variables, the file named
by ``UNO_DEPLOY_SETTINGS_FILE`` (TOML, keys named as the fields), the defaults.
Environment variables are the field names in any case, prefixed ``UNO_DEPLOY_``
(``UNO_DEPLOY_DATABASE_URL``); ``queue_policies`` is given there as a JSON object and
``strict_environments`` as names separated by commas.

``database_url`` picks the store: ``memory://`` keeps everything in this process (tests,
notebooks); a ``sqlite:///`` URL or a plain path names a SQLite file; a
``postgresql://user@host/db`` URL names a PostgreSQL database (for teams: several
processes share it). Unset, it is the embedded default: one SQLite file in the user's data
directory, created and migrated on first use. The URL may carry a password, so it never
appears in a ``repr`` or a validation error; prefer libpq's ``PGPASSWORD`` or ``.pgpass``.

``Settings`` (``model``, a pydantic model) loads when it is first read from this package.
The sources are read here, by a few lines over ``os.environ`` and ``tomllib``, not by
pydantic-settings, whose import (it loads cloud secret-manager providers) cost every CLI
command more than a listing takes in all. ``plain_store_url`` answers the one question
the CLI's listings ask (which store?) without pydantic, when nothing but the store is set.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uno.deployment.settings.model import Settings

__all__ = ["MEMORY_URL", "SETTINGS_FILE_VARIABLE", "Settings", "plain_store_url"]

MEMORY_URL = "memory://"
SETTINGS_FILE_VARIABLE = "UNO_DEPLOY_SETTINGS_FILE"
ENV_PREFIX = "UNO_DEPLOY_"
STORE_FIELD = "database_url"
FIELDS = (
    "database_url",
    "auto_migrate",
    "max_parallel_tasks",
    "lease_ttl_seconds",
    "log_level",
    "backup_dir",
    "local_dir",
    "execution",
    "queue_policies",
    "strict_environments",
    "worker_poll_seconds",
    "worker_grace_seconds",
)
"""``Settings``' fields, named without loading the model (``tests/unit/test_settings.py`` compares them)."""
_JSON_FIELDS = frozenset({"queue_policies"})
_ANY_TEXT = frozenset({"backup_dir", "local_dir"})
"""Fields any text is valid for (the model makes it a ``Path``): setting them keeps the settings plain."""
_SCHEMES = frozenset({"memory", "sqlite", "postgres", "postgresql"})


def __getattr__(name: str) -> Any:
    if name == "Settings":
        from uno.deployment.settings.model import Settings  # noqa: PLC0415

        return Settings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def checked_store_url(value: str | None) -> str | None:
    """``database_url`` as the settings keep it (None: the embedded default); ValueError for a store none knows."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if "://" in value:
        scheme = value.split("://", 1)[0].split("+", 1)[0].lower()
        if scheme not in _SCHEMES or (scheme == "memory" and value != MEMORY_URL):
            raise ValueError(
                "use memory://, sqlite:///path/to/file.db, postgresql://user@host/db or a path to a SQLite file"
            )
    return value


def plain_store_url(environ: Mapping[str, str] | None = None) -> tuple[bool, str | None]:
    """``(True, Settings().database_url)`` when that is all the settings say, worked out without pydantic.

    That is when no settings file is named and no ``UNO_DEPLOY_*`` variable sets a field
    but the store's and the directories (any text is a valid path): every other field is
    then its default, valid by construction.
    ``(False, None)`` otherwise, or when the store's value is one ``Settings()`` would
    refuse: build ``Settings()`` then, which answers or says why.
    """
    given = environment(environ)
    if given.get(SETTINGS_FILE_VARIABLE):
        return False, None
    if any(variable(name) in given for name in FIELDS if name != STORE_FIELD and name not in _ANY_TEXT):
        return False, None
    try:
        return True, checked_store_url(given.get(variable(STORE_FIELD)))
    except ValueError:
        return False, None


def variable(field_name: str) -> str:
    return f"{ENV_PREFIX}{field_name.upper()}"


def environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment's variables by upper-case name: settings' names are matched in any case."""
    return {name.upper(): value for name, value in (os.environ if environ is None else environ).items()}


def environment_values(fields: Iterable[str]) -> dict[str, Any]:
    """The fields set by ``UNO_DEPLOY_*`` variables (names in any case, as pydantic-settings read them)."""
    given = environment()
    found: dict[str, Any] = {}
    for field_name in fields:
        name = variable(field_name)
        if name not in given:
            continue
        value: Any = given[name]
        if field_name in _JSON_FIELDS:
            try:
                value = json.loads(value)
            except json.JSONDecodeError as invalid:
                raise ValueError(f"{name} is not a JSON object ({invalid.msg})") from None
        found[field_name] = value
    return found


def file_values() -> dict[str, Any]:
    """What the file named by ``UNO_DEPLOY_SETTINGS_FILE`` sets; nothing when none is named."""
    named = os.environ.get(SETTINGS_FILE_VARIABLE)
    if not named:
        return {}
    path = Path(named).expanduser()
    if not path.is_file():
        raise ValueError(f"{SETTINGS_FILE_VARIABLE} names {path}, which is not a file")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as unreadable:
        raise ValueError(f"{SETTINGS_FILE_VARIABLE} names {path}, which is not readable TOML: {unreadable}") from None
