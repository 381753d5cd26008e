"""How the entry points show a deployment record: one flat view, for the HTTP API and the CLI.

The HTTP API answers with it (``DeploymentOut``) and the CLI builds its ``Deployment``
from it, so the two show the same fields with the same values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from uno.deployment.domain.enums import DeploymentStatus

if TYPE_CHECKING:
    from uno.deployment.domain.configs import DeploymentConfig
    from uno.deployment.domain.deployments import DeploymentResult


@dataclass(frozen=True, slots=True)
class ConfigRow:
    """A configuration as a listing shows it (``uno-deploy config list``): its names, as strings."""

    id: str
    app_name: str
    app_version: str
    environment: str
    platform: str
    strategy: str
    updated_at: datetime

    @classmethod
    def of(cls, config: DeploymentConfig) -> ConfigRow:
        return cls(
            config.id.value,
            config.app_name,
            config.app_version,
            config.environment.value,
            config.platform.value,
            config.strategy.value,
            config.updated_at,
        )

    @classmethod
    def stored(cls, document: dict[str, Any]) -> ConfigRow:
        """``of`` the configuration whose stored document (``DeploymentConfig.to_document``) this is."""
        return cls(
            str(document["id"]),
            str(document["app_name"]),
            str(document["app_version"]),
            str(document["environment"]),
            str(document["platform"]),
            str(document["strategy"]),
            datetime.fromisoformat(document["updated_at"]),
        )


def deployment(record: DeploymentResult) -> dict[str, Any]:
    """The record's fields as plain values (ids as strings; ``status`` stays the enum, a ``str``)."""
    return {
        "id": record.id.value,
        "config_id": record.config_id.value,
        "app_name": record.app_name,
        "app_version": record.app_version,
        "environment": record.environment.value,
        "platform": record.platform.value,
        "strategy": record.strategy.value,
        "kind": record.kind.value,
        "status": record.status,
        "success": record.success,
        "message": record.message,
        "description": record.description,
        "created_at": record.created_at,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "pipeline_id": record.pipeline_id.value if record.pipeline_id else None,
        "rollback_of": record.rollback_of.value if record.rollback_of else None,
        "reached_platform": record.reached_platform,
        "details": dict(record.details),
        "version": record.version,
    }


def stored_deployment(document: dict[str, Any]) -> dict[str, Any]:
    """``deployment`` of the record whose stored document (``DeploymentResult.to_document``) this is.

    Read straight from the document, without building the record's configuration (a
    pydantic model, whose import alone costs the CLI's listings more than the rest of
    their work); ``tests/integration/test_sqlite_reading.py`` checks it equals ``deployment``.
    """
    config = document["config"]
    return {
        "id": str(document["id"]),
        "config_id": str(document["config_id"]),
        "app_name": str(config["app_name"]),
        "app_version": str(config["app_version"]),
        "environment": str(config["environment"]),
        "platform": str(config["platform"]),
        "strategy": str(config["strategy"]),
        "kind": str(document.get("kind", "deploy")),
        "status": DeploymentStatus(document["status"]),
        "success": bool(document.get("success", False)),
        "message": document.get("message", ""),
        "description": document.get("description", ""),
        "created_at": datetime.fromisoformat(document["created_at"]),
        "started_at": _moment(document.get("started_at")),
        "finished_at": _moment(document.get("finished_at")),
        "pipeline_id": document.get("pipeline_id") or None,
        "rollback_of": document.get("rollback_of") or None,
        "reached_platform": bool(document.get("reached_platform", False)),
        "details": dict(document.get("details", {})),
        "version": int(document.get("version", 1)),
    }


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
