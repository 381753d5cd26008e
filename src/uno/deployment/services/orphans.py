"""Ending orphaned deployments: records that say ``running`` whose runner died.

The building blocks of ``recovering`` (which decides when) that the runs here need too:
a new deployment that takes its place's lease ends the orphans it supersedes there
(``supersede``), and takes a lease its holder can no longer renew at once instead of
waiting out the TTL (``take_lease``). Every write here is fenced by the caller's lease.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from uno.core.result import Result, Success
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.deployments import DeploymentResult
from uno.deployment.domain.enums import DeploymentKind, DeploymentStatus, PipelineStatus
from uno.deployment.domain.ids import DeploymentId
from uno.deployment.engine import logs
from uno.deployment.engine.running import PipelineRunner
from uno.deployment.ports.leases import Lease
from uno.deployment.ports.repositories import MAX_PAGE, DeploymentQuery, DeploymentResultRepository, PipelineRepository
from uno.deployment.ports.runners import RunnerIdentity
from uno.deployment.services import rolling_back as rolling_back_rules
from uno.deployment.services.leasing import LeaseKeeper, lease_key
from uno.deployment.services.recording import Recorder

_log = logs.get_logger("uno.deployment.recovery")  # structlog loads with the first line

PENDING_GRACE = timedelta(seconds=10)
"""A deployment stays ``pending`` only between being stored and taking its lease: longer means its runner died."""


def holder_deployment(holder: str) -> str:
    """The deployment id a lease holder names (``dep-...``, ``dep-...#worker``, ``dep-...#resumed``)."""
    return holder.split("#", 1)[0]


def names(record: DeploymentResult) -> set[str]:
    """The deployment ids a lease held for ``record`` may name (a rollback runs under its deploy's lease)."""
    return {record.id.value} | ({record.rollback_of.value} if record.rollback_of else set())


def runner_gone(identity: RunnerIdentity, record: DeploymentResult, lease: Lease | None) -> bool:
    """Whether ``lease`` is held for ``record`` by a runner that certainly died."""
    if lease is None or holder_deployment(lease.holder) not in names(record):
        return False
    runner = record.details.get("runner")
    return isinstance(runner, dict) and identity.gone(runner)


async def take_lease(
    keeper: LeaseKeeper,
    deployments: DeploymentResultRepository,
    identity: RunnerIdentity,
    config: DeploymentConfig,
    holder: str,
) -> Result[Lease]:
    """The place's lease for ``holder``; taken from a holder whose runner certainly died, without waiting."""
    lease = await keeper.acquire(config, holder)
    if isinstance(lease, Success):
        return lease
    current = await keeper.current(lease_key(config))
    held_for = await deployments.get(DeploymentId.stored(holder_deployment(current.holder))) if current else None
    if held_for is None or held_for.status.is_complete or not runner_gone(identity, held_for, current):
        return lease
    _log.warning("lease of a dead runner taken over", lease=lease_key(config), runner=held_for.details.get("runner"))
    await keeper.force_release(lease_key(config))
    return await keeper.acquire(config, holder)


async def newer_than(deployments: DeploymentResultRepository, record: DeploymentResult) -> DeploymentResult | None:
    """The earliest deployment of the same place that started after ``record`` was created, if any."""
    query = DeploymentQuery(
        app_name=record.app_name, environment=record.environment, created_after=record.created_at, limit=MAX_PAGE
    )
    later = [
        found
        for found in await deployments.find(query)
        if found.id != record.id and found.started_at is not None and found.id != record.rollback_of
    ]
    return min(later, key=lambda found: found.created_at) if later else None


async def end(
    recorder: Recorder,
    pipelines: PipelineRepository,
    runner: PipelineRunner,
    record: DeploymentResult,
    status: DeploymentStatus,
    reason: str,
) -> None:
    """End an orphan and its pipeline as ``status`` (failed or canceled), for ``reason``."""
    pipeline = await pipelines.get(record.pipeline_id) if record.pipeline_id else None
    if pipeline is not None:
        ending = PipelineStatus.CANCELED if status is DeploymentStatus.CANCELED else PipelineStatus.FAILED
        await runner.end(pipeline, ending, reason, recorder.fence_for(record), record.config)
        record.reached_platform = rolling_back_rules.reached_platform(pipeline)
    record.details["orphaned"] = {"at": recorder.clock.now().isoformat(), "reason": reason}
    await recorder.move(record, status, reason)
    _log.warning("orphaned deployment ended", deployment_id=record.id.value, status=status.value, reason=reason)
    if record.kind is DeploymentKind.ROLLBACK and record.rollback_of is not None:
        target = await recorder.deployments.get(record.rollback_of)
        if target is not None:
            await recorder.restore_rolled_back(target, f"rollback {record.id.value} interrupted: {reason}")


def superseded_reason(newer: DeploymentResult) -> str:
    return f"superseded by {newer.id.value} ({newer.kind.value} of {newer.app_version}); its runner had stopped"


async def supersede(
    recorder: Recorder, pipelines: PipelineRepository, runner: PipelineRunner, record: DeploymentResult
) -> None:
    """``record`` holds its place's lease now: every other deployment there still ``running`` is an orphan."""
    now = recorder.clock.now()
    for status in (DeploymentStatus.RUNNING, DeploymentStatus.PENDING):
        query = DeploymentQuery(app_name=record.app_name, environment=record.environment, status=status, limit=MAX_PAGE)
        for other in await recorder.deployments.find(query):
            if other.id in (record.id, record.rollback_of) or _may_still_start(other, runner, now):
                continue
            await end(recorder, pipelines, runner, other, DeploymentStatus.CANCELED, superseded_reason(record))


def _may_still_start(record: DeploymentResult, runner: PipelineRunner, now: datetime) -> bool:
    running_here = record.pipeline_id is not None and runner.is_running(record.pipeline_id)
    young = record.status is DeploymentStatus.PENDING and now - record.created_at < PENDING_GRACE
    return running_here or young
