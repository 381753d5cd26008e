"""Writing deployment records: every status change, outcome and note, fenced by the lease.

One owner for the deployment record's writes. A run here holds the (application,
environment) lease and registers it as the fence of that place (``fences``): every save
of a record of that place carries it, so once the lease is lost, the store refuses the
write (``LeaseLost``) and nothing more is written here. Invariants:

- a status change goes through ``move`` (the record's state machine, then one save, then
  the observers), never a bare assignment;
- a record being rolled back keeps the status it had before (``status_before_rollback``)
  and gets it back if the rollback fails or is interrupted;
- ``abandon`` ends a record that an interruption would otherwise leave ``running``.
"""

from __future__ import annotations

import contextlib

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.deployments import DeploymentResult
from uno.deployment.domain.enums import DeploymentKind, DeploymentStatus, PipelineStatus
from uno.deployment.domain.ids import DeploymentId
from uno.deployment.domain.pipelines import Pipeline
from uno.deployment.engine.telemetry import Observers
from uno.deployment.ports.clock import Clock
from uno.deployment.ports.leases import Lease
from uno.deployment.ports.repositories import DeploymentQuery, DeploymentResultRepository
from uno.deployment.services import inputs
from uno.deployment.services import rolling_back as rolling_back_rules
from uno.deployment.services.leasing import lease_key


class LeaseLost(Exception):
    """A fenced write was refused: the lease it carried is no longer held."""

    def __init__(self, error: ErrorDetails) -> None:
        super().__init__(error.message)
        self.error = error


class Recorder:
    def __init__(self, deployments: DeploymentResultRepository, clock: Clock, observers: Observers) -> None:
        self.deployments = deployments
        self.clock = clock
        self.observers = observers
        self.fences: dict[str, Lease] = {}  # by lease key: the lease each run here holds

    async def find(self, deployment_id: DeploymentId | str) -> Result[DeploymentResult]:
        key = inputs.deployment_id(deployment_id)
        if isinstance(key, Failure):
            return key
        record = await self.deployments.get(key.value)
        return Success(record) if record else Failure(ErrorDetails.not_found("deployment", key.value.value))

    def fence_for(self, record: DeploymentResult) -> Lease | None:
        return self.fences.get(lease_key(record.config))

    async def move(self, record: DeploymentResult, status: DeploymentStatus, message: str = "") -> None:
        if status is DeploymentStatus.ROLLING_BACK:
            record.details["status_before_rollback"] = record.status.value
        elif record.status is DeploymentStatus.ROLLING_BACK:
            record.details.pop("status_before_rollback", None)
        old = record.status
        record.move(status, self.clock.now(), message)
        await self.save(record)
        self.observers.deployment_moved(record, old)

    async def annotate(self, record: DeploymentResult, message: str) -> None:
        record.message = message
        await self.save(record)

    async def save(self, record: DeploymentResult) -> None:
        saved = await self.deployments.save(record, self.fence_for(record))
        if isinstance(saved, Failure):
            if saved.error.context.get("fenced"):
                raise LeaseLost(saved.error)
            raise RuntimeError(f"deployment {record.id.value} could not be saved: {saved.error.message}")

    async def conclude(
        self, record: DeploymentResult, outcome: Result[Pipeline], rolling_back: DeploymentResult | None
    ) -> None:
        """Store the outcome of the record's pipeline, and what it means for the release it rolled back."""
        if isinstance(outcome, Failure):
            await self.move(record, DeploymentStatus.FAILED, f"the pipeline's record was lost: {outcome.error.message}")
        else:
            pipeline = outcome.value
            record.reached_platform = rolling_back_rules.reached_platform(pipeline)
            status = {
                PipelineStatus.SUCCEEDED: DeploymentStatus.SUCCEEDED,
                PipelineStatus.CANCELED: DeploymentStatus.CANCELED,
            }.get(pipeline.status, DeploymentStatus.FAILED)
            await self.move(record, status, rolling_back_rules.summary(record, pipeline))
        if rolling_back is not None:
            if record.success:
                await self.move(rolling_back, DeploymentStatus.ROLLED_BACK, f"rolled back by {record.id.value}")
                await self._supersede_between(record, rolling_back)
            else:
                before = DeploymentStatus(rolling_back.details.pop("status_before_rollback", "failed"))
                await self.move(rolling_back, before, f"{record.message} ({record.id.value})")

    async def _supersede_between(self, rollback: DeploymentResult, target: DeploymentResult) -> None:
        """A rollback past several releases rolls them all back: none of them serves any more."""
        restored = await self.deployments.get(DeploymentId(str(rollback.details.get("restores"))))
        if restored is None:
            return
        query = DeploymentQuery(
            app_name=target.app_name,
            environment=target.environment,
            kind=DeploymentKind.DEPLOY,
            status=DeploymentStatus.SUCCEEDED,
            created_after=restored.created_at,
            created_before=target.created_at,
            limit=1000,
        )
        for skipped in await self.deployments.find(query):
            if skipped.id != restored.id:
                await self.move(skipped, DeploymentStatus.ROLLING_BACK, f"being rolled back by {rollback.id.value}")
                await self.move(skipped, DeploymentStatus.ROLLED_BACK, f"rolled back by {rollback.id.value}")

    async def abandon(self, record: DeploymentResult, rolling_back: DeploymentResult | None, *, stopped: bool) -> None:
        """Record an interrupted deployment as ended, so nothing is left ``running``.

        Stopped (cancelled) means canceled; an unexpected error means failed.
        """
        with contextlib.suppress(Exception):
            stored = await self.deployments.get(record.id)
            if stored is not None and stored.status in (DeploymentStatus.PENDING, DeploymentStatus.RUNNING):
                status = DeploymentStatus.CANCELED if stopped else DeploymentStatus.FAILED
                reason = "stopped before it finished" if stopped else "interrupted by an internal error"
                old = stored.status
                stored.move(status, self.clock.now(), reason)
                await self.deployments.save(stored, self.fence_for(stored))
                self.observers.deployment_moved(stored, old)
            if rolling_back is not None:
                await self.restore_rolled_back(rolling_back, "rollback interrupted")

    async def restore_rolled_back(self, target: DeploymentResult, message: str) -> None:
        """A rollback that ended without restoring anything: its target gets its status back."""
        stored = await self.deployments.get(target.id)
        if stored is not None and stored.status is DeploymentStatus.ROLLING_BACK:
            before = DeploymentStatus(stored.details.pop("status_before_rollback", "failed"))
            stored.move(before, self.clock.now(), message)
            await self.deployments.save(stored, self.fence_for(stored))
