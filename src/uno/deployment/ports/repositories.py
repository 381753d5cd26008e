"""Repository ports: how services store and find configurations, pipelines and deployments.

Contract (checked by ``tests/contract`` against every implementation):
- ``get`` returns a copy: changing it changes nothing stored until ``save``;
- ``add`` refuses an id that exists (``CONFLICT``);
- ``save`` is optimistic: it succeeds only if the stored version equals the object's
  version, stores it with the version plus one and returns what was stored; otherwise
  ``CONFLICT`` (stale) or ``NOT_FOUND``, and nothing changes;
- a pipeline's run is stored by ``record``: each transition updates one subject's state
  and appends one journal event, all of a call in one transaction; a transition of the
  pipeline itself also bumps its version (so a stale structural ``save`` is refused);
  nothing is recorded for a pipeline that already ended (``INVALID_STATE``);
- ``list`` returns newest first (by creation time, then id), filtered, paginated;
- a *fenced* write (``record`` and a deployment's ``save`` given ``fence``, the lease the
  writer holds) happens only while the lease store still grants that lease: same holder,
  same token. Otherwise it is a ``CONFLICT`` whose context has ``fenced: True``, checked in
  the write's own transaction, and nothing is written: a writer that lost its lease (a
  worker paused past its TTL while another took over) cannot overwrite the new holder's work.

A store that fails (unreachable, locked too long, disk full) is not an expected outcome
of one call: methods that return a ``Result`` return ``Failure`` with ``STORAGE_ERROR``;
the others raise ``StorageError``, which carries the same ``ErrorDetails``. No driver
exception ever crosses this port.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Result
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.deployments import DeploymentResult
from uno.deployment.domain.enums import (
    DeploymentEnvironment,
    DeploymentKind,
    DeploymentPlatform,
    DeploymentStatus,
    PipelineStatus,
)
from uno.deployment.domain.ids import DeploymentId, PipelineId
from uno.deployment.domain.pipelines import Pipeline, PipelineEvent, Transition
from uno.deployment.ports.leases import Lease

MAX_PAGE = 1000


def fenced(fence: Lease) -> ErrorDetails:
    """The refusal of a write whose writer no longer holds its lease."""
    return ErrorDetails(
        ErrorCode.CONFLICT,
        f"the lease on {fence.key} held by {fence.holder} (token {fence.token}) was lost: nothing was written",
        {"fenced": True, "lease": fence.key, "token": fence.token},
    )


class StorageError(Exception):
    """The store failed; ``error`` says how (code ``STORAGE_ERROR``), never with a secret."""

    def __init__(self, error: ErrorDetails) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True, slots=True)
class ConfigQuery:
    app_name: str | None = None
    environment: DeploymentEnvironment | None = None
    platform: DeploymentPlatform | None = None
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True, slots=True)
class DeploymentQuery:
    app_name: str | None = None
    environment: DeploymentEnvironment | None = None
    status: DeploymentStatus | None = None
    kind: DeploymentKind | None = None
    config_id: DeploymentId | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True, slots=True)
class PipelineQuery:
    deployment_id: DeploymentId | None = None
    status: PipelineStatus | None = None
    limit: int = 100
    offset: int = 0


class DeploymentConfigRepository(Protocol):
    async def add(self, config: DeploymentConfig) -> Result[DeploymentConfig]: ...

    async def get(self, config_id: DeploymentId) -> DeploymentConfig | None: ...

    async def save(self, config: DeploymentConfig) -> Result[DeploymentConfig]: ...

    async def delete(self, config_id: DeploymentId) -> bool: ...

    async def find(self, query: ConfigQuery) -> list[DeploymentConfig]: ...


class PipelineRepository(Protocol):
    async def add(self, pipeline: Pipeline) -> Result[Pipeline]: ...

    async def get(self, pipeline_id: PipelineId) -> Pipeline | None: ...

    async def save(self, pipeline: Pipeline) -> Result[Pipeline]:
        """Store the pipeline whole: for changes to its structure (stages, tasks)."""
        ...

    async def find(self, query: PipelineQuery) -> list[Pipeline]: ...

    async def record(
        self, pipeline_id: PipelineId, transitions: Sequence[Transition], fence: Lease | None = None
    ) -> Result[int]:
        """Store transitions of a pipeline's run atomically; returns the pipeline's version after."""
        ...

    async def events(self, pipeline_id: PipelineId, *, after: int = 0) -> list[PipelineEvent]:
        """The journal of one pipeline in order, skipping the first ``after`` events."""
        ...


class DeploymentResultRepository(Protocol):
    async def add(self, record: DeploymentResult) -> Result[DeploymentResult]: ...

    async def get(self, deployment_id: DeploymentId) -> DeploymentResult | None: ...

    async def save(self, record: DeploymentResult, fence: Lease | None = None) -> Result[DeploymentResult]: ...

    async def find(self, query: DeploymentQuery) -> list[DeploymentResult]: ...

    async def stamp(self, deployment_id: DeploymentId) -> tuple[int, int] | None:
        """A cheap mark that changes whenever the deployment's status can change.

        (the record's version, the events journaled by its pipelines), read in one small
        query so that a status poll can reuse its last answer; None when the record is
        absent or the store has no cheaper read than the record itself (memory).
        """
        ...
