"""The settings' model: their fields, defaults and checks (the package says where they come from)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from uno.deployment import settings as sources

Environment = Literal["dev", "test", "staging", "production"]
_PRODUCTION: Environment = "production"


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
        return sources.checked_store_url(value)

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
        return self.database_url == sources.MEMORY_URL

    def __init__(self, **values: Any) -> None:
        """The settings: ``values`` over the environment, over the settings file, over the defaults."""
        super().__init__(**{**sources.file_values(), **sources.environment_values(type(self).model_fields), **values})
