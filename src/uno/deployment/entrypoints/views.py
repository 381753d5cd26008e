"""How the entry points show a deployment record: one flat view, for the HTTP API and the CLI.

The HTTP API answers with it (``DeploymentOut``) and the CLI builds its ``Deployment``
from it, so the two show the same fields with the same values.
"""

from __future__ import annotations

from typing import Any

from uno.deployment.domain.deployments import DeploymentResult


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
