"""Dispatching a deployment that returns at once: run inline in the background, or queued for a worker.

``start_deploy``/``start_rollback`` come here. With inline execution the deployment is
stored as running (lease taken) before the call returns, and its pipeline goes on in this
process's background; with queue execution it is stored as queued, a job is enqueued, and
a worker runs it. Invariants:

- an ``Idempotency-Key`` is claimed before anything is stored, and given back when the
  request started nothing, so a retry may start it;
- the same key with the same arguments answers with the deployment the first request
  started; with other arguments it is a ``VALIDATION_ERROR``;
- under the ``reject`` policy nothing is stored while another deployment of the place
  is active; under ``replace`` the waiting ones are withdrawn and canceled as superseded.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.deployments import DeploymentResult
from uno.deployment.domain.enums import DeploymentStatus
from uno.deployment.domain.ids import DeploymentId
from uno.deployment.domain.pipelines import Pipeline
from uno.deployment.ports.access import IdempotencyClaim, IdempotencyRepository
from uno.deployment.ports.queue import DeploymentQueue, QueuePolicy
from uno.deployment.ports.repositories import MAX_PAGE, DeploymentQuery, PipelineRepository
from uno.deployment.services.executing import Executor
from uno.deployment.services.leasing import lease_key
from uno.deployment.services.recording import Recorder

IDEMPOTENCY_KEY_LIFETIME = timedelta(hours=24)
"""How long a key answers with its deployment; after that it may start a new one."""
_PURGE_EVERY = timedelta(hours=1)
_ABANDONED_CLAIM = timedelta(minutes=1)
_MAX_KEY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class Claim:
    scope: str
    key: str
    fingerprint: str

    @classmethod
    def of(cls, scope: str, key: str | None, arguments: dict[str, Any]) -> Claim | Failure | None:
        if key is None:
            return None
        if not isinstance(key, str) or not 1 <= len(key) <= _MAX_KEY_LENGTH or not key.isprintable():
            message = f"must be 1 to {_MAX_KEY_LENGTH} printable characters"
            return Failure(ErrorDetails.validation("Idempotency-Key", message))
        canonical = json.dumps(
            {name: getattr(value, "value", value) for name, value in arguments.items()}, sort_keys=True, default=str
        )
        return cls(scope, key, hashlib.sha256(canonical.encode()).hexdigest())


class Claims:
    """Idempotency keys: who claimed which key for which deployment."""

    def __init__(self, idempotency: IdempotencyRepository | None, recorder: Recorder) -> None:
        self._idempotency = idempotency
        self._recorder = recorder
        self._purged_at: datetime | None = None

    async def claim(self, claim: Claim, reserved: DeploymentId) -> Result[DeploymentResult] | None:
        """The earlier answer for a repeated idempotency key, or None when this call owns the key."""
        if self._idempotency is None:
            return None
        now = self._recorder.clock.now()
        if self._purged_at is None or now - self._purged_at > _PURGE_EVERY:
            self._purged_at = now
            await self._idempotency.purge(now - IDEMPOTENCY_KEY_LIFETIME)
        wanted = IdempotencyClaim(claim.scope, claim.key, claim.fingerprint, reserved.value, now)
        for _ in range(2):
            claimed = await self._idempotency.claim(wanted)
            if isinstance(claimed, Failure):
                return claimed
            stored = claimed.value
            if stored.deployment_id == reserved.value:
                return None
            if stored.fingerprint != claim.fingerprint:
                message = "was used before with other arguments: use a new key for a new request"
                return Failure(ErrorDetails.validation("Idempotency-Key", message))
            earlier = await self._recorder.deployments.get(DeploymentId.stored(stored.deployment_id))
            if earlier is not None:
                return Success(earlier)
            if now - stored.created_at < _ABANDONED_CLAIM:
                message = "a request with this Idempotency-Key is still starting: retry in a moment"
                return Failure(ErrorDetails.conflict(message, deployment_id=stored.deployment_id))
            # The request that claimed the key died before storing anything: take the key over.
            await self._idempotency.release(stored.scope, stored.key, stored.deployment_id)
        return Failure(ErrorDetails.conflict("the Idempotency-Key is being claimed by another request: retry"))

    async def unclaim(self, claim: Claim | None, reserved: DeploymentId) -> None:
        """A request that started nothing gives its key back, so that a retry may start it."""
        if claim is not None and self._idempotency is not None:
            await self._idempotency.release(claim.scope, claim.key, reserved.value)


class Dispatcher:
    def __init__(
        self,
        pipelines: PipelineRepository,
        recorder: Recorder,
        executor: Executor,
        claims: Claims,
        queue: DeploymentQueue | None,
        policies: Mapping[str, str] | None,
    ) -> None:
        self._pipelines = pipelines
        self._recorder = recorder
        self._executor = executor
        self.claims = claims
        self.queue = queue
        self._policies = {environment: QueuePolicy(policy) for environment, policy in (policies or {}).items()}
        self._background: set[asyncio.Task[DeploymentResult]] = set()
        self.started_here: dict[DeploymentId, asyncio.Task[DeploymentResult]] = {}

    async def start(
        self,
        record: DeploymentResult,
        pipeline: Pipeline,
        rolling_back: DeploymentResult | None,
        claim: Claim | None,
    ) -> Result[DeploymentResult]:
        if self.queue is not None:
            return await self._enqueue(self.queue, record, pipeline, rolling_back, claim)
        started = await self._executor.start(record, pipeline, rolling_back)
        if isinstance(started, Failure):
            await self.claims.unclaim(claim, record.id)
            return started
        snapshot = DeploymentResult.from_document(record.to_document())
        self.in_background(record.id, self._executor.finish(record, pipeline, rolling_back, started.value))
        return Success(snapshot)

    def in_background(self, deployment_id: DeploymentId, work: Coroutine[Any, Any, DeploymentResult]) -> None:
        """Run ``work`` (a deployment's run) in this process's background, known by its deployment."""
        task = asyncio.create_task(work, name=f"deployment {deployment_id.value}")
        self._background.add(task)
        self.started_here[deployment_id] = task
        task.add_done_callback(self._background.discard)
        task.add_done_callback(lambda _: self.started_here.pop(deployment_id, None))

    async def wait_ended(self, deployment_id: Result[DeploymentId], seconds: float) -> None:
        """Until the run of ``deployment_id`` started here ends, or ``seconds`` pass (it does not run here)."""
        task = self.started_here.get(deployment_id.value) if isinstance(deployment_id, Success) else None
        if task is None:
            await asyncio.sleep(seconds)
        else:
            await asyncio.wait({task}, timeout=seconds)

    async def stop_background(self) -> None:
        running = list(self._background)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    async def wait_background(self) -> None:
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def _enqueue(
        self,
        queue: DeploymentQueue,
        record: DeploymentResult,
        pipeline: Pipeline,
        rolling_back: DeploymentResult | None,
        claim: Claim | None,
    ) -> Result[DeploymentResult]:
        policy = self._policies.get(record.environment.value, QueuePolicy.QUEUE)
        active = await self._active_in_place(record, rolling_back)
        if policy is QueuePolicy.REJECT and active:
            await self.claims.unclaim(claim, record.id)
            message = (
                f"{active[0].id.value} of {record.app_name} in {record.environment.value} is {active[0].status.value} "
                f"and this environment's policy is to reject: wait for it or cancel it"
            )
            return Failure(ErrorDetails.conflict(message, deployment_id=active[0].id.value, policy=policy.value))
        added = await self._recorder.deployments.add(record)
        if isinstance(added, Failure):
            await self.claims.unclaim(claim, record.id)
            return added
        stored = await self._pipelines.add(pipeline)
        if isinstance(stored, Failure):
            message = f"its pipeline could not be stored: {stored.error.message}"
            await self._recorder.move(record, DeploymentStatus.FAILED, message)
            await self.claims.unclaim(claim, record.id)
            return stored
        queued = await queue.enqueue(record.id.value, lease_key(record.config))
        if isinstance(queued, Failure):
            await self._recorder.move(record, DeploymentStatus.FAILED, queued.error.message)
            await self.claims.unclaim(claim, record.id)
            return queued
        record.details["job_id"] = queued.value
        await self._recorder.move(record, DeploymentStatus.QUEUED, f"queued ({policy.value} policy)")
        if policy is QueuePolicy.REPLACE:
            for waiting in active:
                if waiting.status is DeploymentStatus.QUEUED and await queue.withdraw(str(waiting.details["job_id"])):
                    await self._recorder.move(waiting, DeploymentStatus.CANCELED, f"superseded by {record.id.value}")
        return Success(DeploymentResult.from_document(record.to_document()))

    async def _active_in_place(
        self, record: DeploymentResult, rolling_back: DeploymentResult | None
    ) -> list[DeploymentResult]:
        """Deployments of the same application and environment still queued or running, oldest first."""
        active: list[DeploymentResult] = []
        for status in (DeploymentStatus.RUNNING, DeploymentStatus.QUEUED, DeploymentStatus.ROLLING_BACK):
            query = DeploymentQuery(
                app_name=record.app_name, environment=record.environment, status=status, limit=MAX_PAGE
            )
            active += await self._recorder.deployments.find(query)
        skip = {record.id, rolling_back.id if rolling_back else None}
        return sorted((found for found in active if found.id not in skip), key=lambda found: found.created_at)
