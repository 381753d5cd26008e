"""Settings, from code, ``UNO_DEPLOY_*`` environment variables or a TOML settings file.

Precedence, highest first: values passed in code, environment variables, the file named
by ``UNO_DEPLOY_SETTINGS_FILE`` (TOML, keys named as the fields), the defaults.
Environment variables are the field names in any case, prefixed ``UNO_DEPLOY_``
(``UNO_DEPLOY_DATABASE_URL``); ``queue_policies`` is given there as a JSON object and
``strict_environments`` as names separated by commas.

The sources are read here, by a few lines over ``os.environ`` and ``tomllib``, not by
pydantic-settings: importing that costs every CLI command more than a listing takes
in all (it loads its cloud secret-manager providers), for three plain sources.

``database_url`` picks the store: ``memory://`` keeps everything in this process (tests,
notebooks); a ``sqlite:///`` URL or a plain path names a SQLite file; a
``postgresql://user@host/db`` URL names a PostgreSQL database (for teams: several
processes share it). Unset, it is the embedded default: one SQLite file in the user's data
directory, created and migrated on first use. The URL may carry a password, so it never
appears in a ``repr`` or a validation error; prefer libpq's ``PGPASSWORD`` or ``.pgpass``.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

MEMORY_URL = "memory://"
SETTINGS_FILE_VARIABLE = "UNO_DEPLOY_SETTINGS_FILE"
Environment = Literal["dev", "test", "staging", "production"]
_PRODUCTION: Environment = "production"
_SCHEMES = frozenset({"memory", "sqlite", "postgres", "postgresql"})
ENV_PREFIX = "UNO_DEPLOY_"
_JSON_FIELDS = frozenset({"queue_policies"})


class Settings(BaseModel):
    """How the composition root wires the services."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    database_url: str | None = Field(default=None, repr=False)
    auto_migrate: bool = True
    max_parallel_tasks: int = Field(default=8, ge=1, le=256)
    lease_ttl_seconds: float = Field(default=60.0, gt=0, le=3600)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "DEBUG"
    """The lowest level any run logs at; each configuration's monitoring.log_level applies above it."""
    backup_dir: Path | None = None
    """Where database backups go (default: ``backups`` in the user's data directory)."""

    local_dir: Path | None = None
    """Where the local platform's agent keeps its socket, state and replica logs."""

    execution: Literal["embedded", "queue"] = "embedded"
    """``embedded``: the process that accepts a deployment runs it. ``queue`` (PostgreSQL
    only): API servers queue deployments and ``uno-deploy worker`` processes run them."""

    queue_policies: dict[str, Literal["queue", "reject", "replace"]] = Field(default_factory=dict)
    """Per environment (``{"production": "reject"}``): what a deployment does while another
    of the same application and environment is active. Unnamed environments queue."""

    strict_environments: list[Environment] = Field(default_factory=lambda: [_PRODUCTION])
    """Environments where a deploy is refused when its platform would not honour a setting it
    asks for (``UNO_DEPLOY_STRICT_ENVIRONMENTS=production,staging``; empty: none). A deploy's
    own ``strict`` wins."""

    worker_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    """How often an idle worker looks for jobs, besides PostgreSQL's notifications."""

    worker_grace_seconds: float = Field(default=30.0, ge=0, le=3600)
    """On SIGTERM, how long a worker lets its deployments finish before handing them back."""

    def resolved_backup_dir(self) -> Path:
        return self.backup_dir or Path(platformdirs.user_data_dir("uno-deployment")) / "backups"

    def resolved_local_dir(self) -> Path:
        return self.local_dir or Path(platformdirs.user_data_dir("uno-deployment")) / "local"

    @field_validator("database_url")
    @classmethod
    def _known_store(cls, value: str | None) -> str | None:
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

    @field_validator("strict_environments", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("queue_policies")
    @classmethod
    def _known_environments(cls, value: dict[str, str]) -> dict[str, str]:
        known = {"dev", "test", "staging", "production"}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown environment(s) {', '.join(unknown)}: use {', '.join(sorted(known))}")
        return value

    @field_validator("execution")
    @classmethod
    def _queue_needs_postgres(cls, value: str, info: ValidationInfo) -> str:
        url = str(info.data.get("database_url") or "").lower()
        if value == "queue" and not url.startswith(("postgresql", "postgres:")):
            raise ValueError("'queue' needs a PostgreSQL database_url (the workers share it)")
        return value

    @property
    def uses_memory(self) -> bool:
        return self.database_url == MEMORY_URL

    def __init__(self, **values: Any) -> None:
        """The settings: ``values`` over the environment, over the settings file, over the defaults."""
        super().__init__(**{**_file_values(), **_environment_values(type(self).model_fields), **values})


def _environment_values(fields: dict[str, Any]) -> dict[str, Any]:
    """The fields set by ``UNO_DEPLOY_*`` variables (names in any case, as pydantic-settings read them)."""
    given = {name.upper(): value for name, value in os.environ.items()}
    found: dict[str, Any] = {}
    for field_name in fields:
        variable = f"{ENV_PREFIX}{field_name.upper()}"
        if variable not in given:
            continue
        value = given[variable]
        if field_name in _JSON_FIELDS:
            try:
                value = json.loads(value)
            except json.JSONDecodeError as invalid:
                raise ValueError(f"{variable} is not a JSON object ({invalid.msg})") from None
        found[field_name] = value
    return found


def _file_values() -> dict[str, Any]:
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
