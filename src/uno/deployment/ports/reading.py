"""What the CLI's look-around commands read from a store when the services are not needed.

``uno-deploy status``, ``history`` and ``config list`` show what is stored. On the
embedded store ``bootstrap.sqlite_reader`` gives them this reader, which answers from the
file without building the services (no SQLAlchemy, no engine); on any other store, or
one that must be migrated first, there is none and they go through the services.

Its answers are the stored documents (``DeploymentResult.to_document``,
``DeploymentConfig.to_document``) as written, and the pipeline as ``PipelineRepository.get``
loads it; lists are newest first (by creation time, then id), like every repository's.
"""

from __future__ import annotations

from typing import Any, Protocol

from uno.deployment.domain.pipelines import Pipeline


class ReadingFailed(Exception):
    """The reader could not answer (the file is locked, damaged, not what it expected): use the services."""


class StoreReader(Protocol):
    def deployment(self, deployment_id: str) -> dict[str, Any] | None: ...

    def deployments(self, app_name: str | None, environment: str | None, limit: int) -> list[dict[str, Any]]: ...

    def configs(self, app_name: str | None, environment: str | None, limit: int) -> list[dict[str, Any]]: ...

    def pipeline(self, pipeline_id: str) -> Pipeline | None: ...

    def close(self) -> None: ...
