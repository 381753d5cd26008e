"""Deploying, rolling back and following deployments.

``deploy`` records a new deployment (its own id, a snapshot of the configuration),
takes the (application, environment) lease so that no other deployment of the same
application runs in the same environment meanwhile, runs the default pipeline and
records its outcome. The lease has a TTL and is renewed while the pipeline runs, so a
crashed deployer never leaves it behind. A deployment is never left ``running`` by an
error here: whatever happens, it ends with an outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.deployments import DeploymentProgress, DeploymentResult
from uno.deployment.domain.enums import (
    DeploymentEnvironment,
    DeploymentKind,
    DeploymentStatus,
    PipelineStatus,
)
from uno.deployment.domain.ids import DeploymentId, TaskId, new_deployment_id
from uno.deployment.domain.pipelines import Pipeline
from uno.deployment.engine import templates
from uno.deployment.engine.running import PipelineRunner
from uno.deployment.engine.telemetry import Observers
from uno.deployment.ports.access import IdempotencyClaim, IdempotencyRepository
from uno.deployment.ports.approvals import Decision
from uno.deployment.ports.clock import Clock
from uno.deployment.ports.leases import Lease
from uno.deployment.ports.queue import DeploymentQueue, QueuePolicy
from uno.deployment.ports.repositories import (
    MAX_PAGE,
    DeploymentConfigRepository,
    DeploymentQuery,
    DeploymentResultRepository,
    PipelineRepository,
)
from uno.deployment.services import inputs, planning, steering
from uno.deployment.services import rolling_back as rolling_back_rules
from uno.deployment.services.leasing import LeaseKeeper, lease_key
from uno.deployment.strategies import canary_control

_log = structlog.get_logger("uno.deployment.deployments")

IDEMPOTENCY_KEY_LIFETIME = timedelta(hours=24)
"""How long a key answers with its deployment; after that it may start a new one."""
_PURGE_EVERY = timedelta(hours=1)
_ABANDONED_CLAIM = timedelta(minutes=1)
_MAX_KEY_LENGTH = 255
_STATUSES_KEPT = 10_000
_PENDING_GRACE = timedelta(seconds=10)
_CANCEL_POLL_SECONDS = 1.0
CANCEL_REQUEST = TaskId("cancel-request")
"""Where a cancel asked for in another process is kept: the decisions store, beside the pipeline's gates."""


@dataclass(frozen=True, slots=True)
class _Claim:
    scope: str
    key: str
    fingerprint: str

    @classmethod
    def of(cls, scope: str, key: str | None, arguments: dict[str, Any]) -> _Claim | Failure | None:
        if key is None:
            return None
        if not isinstance(key, str) or not 1 <= len(key) <= _MAX_KEY_LENGTH or not key.isprintable():
            message = f"must be 1 to {_MAX_KEY_LENGTH} printable characters"
            return Failure(ErrorDetails.validation("Idempotency-Key", message))
        canonical = json.dumps(
            {name: getattr(value, "value", value) for name, value in arguments.items()}, sort_keys=True, default=str
        )
        return cls(scope, key, hashlib.sha256(canonical.encode()).hexdigest())


class LeaseLost(Exception):
    """A fenced write was refused: the lease it carried is no longer held."""

    def __init__(self, error: ErrorDetails) -> None:
        super().__init__(error.message)
        self.error = error


class DeploymentService:
    def __init__(
        self,
        configs: DeploymentConfigRepository,
        deployments: DeploymentResultRepository,
        pipelines: PipelineRepository,
        runner: PipelineRunner,
        leases: LeaseKeeper,
        clock: Clock,
        idempotency: IdempotencyRepository | None = None,
        observers: Observers | None = None,
        *,
        queue: DeploymentQueue | None = None,
        policies: Mapping[str, str] | None = None,
        worker_name: str = "worker",
    ) -> None:
        self._configs = configs
        self._deployments = deployments
        self._pipelines = pipelines
        self._runner = runner
        self._leases = leases
        self._clock = clock
        self._idempotency = idempotency
        self._observers = observers or Observers()
        self._purged_at: datetime | None = None
        self._background: set[asyncio.Task[DeploymentResult]] = set()
        self._started_here: dict[DeploymentId, asyncio.Task[DeploymentResult]] = {}
        self._queue = queue
        self._worker_name = worker_name
        self._policies = {environment: QueuePolicy(policy) for environment, policy in (policies or {}).items()}
        self._executing: dict[DeploymentId, asyncio.Task[Any]] = {}  # workers: what runs here
        self._handing_back: set[DeploymentId] = set()
        self._fences: dict[str, Lease] = {}  # by lease key: the lease each run here holds
        self._concluding: dict[DeploymentId, asyncio.Event] = {}  # runs here, until their outcome is stored
        self._statuses: dict[DeploymentId, tuple[tuple[int, int], DeploymentProgress]] = {}

    async def deploy(self, config_id: DeploymentId | str, description: str = "") -> Result[DeploymentResult]:
        """Deploy the configuration's release and return the deployment's record when it ends.

        ``Failure`` means the deployment could not start (unknown configuration, another
        deployment of the application running in the environment); once started, the
        outcome is in the record: ``success``, ``status`` and ``message``.
        """
        prepared = await self._new_deployment(config_id, description)
        if isinstance(prepared, Failure):
            return prepared
        record, pipeline = prepared.value
        return await self._run(record, pipeline)

    async def start_deploy(
        self,
        config_id: DeploymentId | str,
        description: str = "",
        *,
        idempotency_key: str | None = None,
        requester: str = "",
    ) -> Result[DeploymentResult]:
        """``deploy``, returning as soon as the deployment is stored and running.

        The pipeline goes on in this process's background; follow it with ``get_status``.
        With ``idempotency_key``, the same key (for the same ``requester``) returns the
        deployment the first call started instead of starting another; the same key with
        other arguments is a ``VALIDATION_ERROR``.
        """
        claim = _Claim.of(f"deploy:{requester}", idempotency_key, {"config_id": config_id, "description": description})
        if isinstance(claim, Failure):
            return claim
        reserved = new_deployment_id()
        if claim is not None and (earlier := await self._claim(claim, reserved)) is not None:
            return earlier
        prepared = await self._new_deployment(config_id, description, reserved)
        if isinstance(prepared, Failure):
            await self._unclaim(claim, reserved)
            return prepared
        record, pipeline = prepared.value
        return await self._start_in_background(record, pipeline, None, claim)

    async def rollback(
        self,
        deployment_id: DeploymentId | str,
        restore_database: bool = False,
        to: DeploymentId | str | None = None,
    ) -> Result[DeploymentResult]:
        """Restore the release that ran before this deployment; returns the rollback's own record.

        ``to`` names any earlier successful deployment of the same application and
        environment to restore instead of the one just before. With ``restore_database``,
        the database is first restored from the backup the deployment took before it
        changed anything (``INVALID_STATE`` if it took none).
        """
        prepared = await self._new_rollback(deployment_id, restore_database, to)
        if isinstance(prepared, Failure):
            return prepared
        record, pipeline, target = prepared.value
        return await self._run(record, pipeline, rolling_back=target)

    async def start_rollback(
        self,
        deployment_id: DeploymentId | str,
        restore_database: bool = False,
        to: DeploymentId | str | None = None,
        *,
        idempotency_key: str | None = None,
        requester: str = "",
    ) -> Result[DeploymentResult]:
        """``rollback``, returning the rollback's record as soon as it is running (see ``start_deploy``)."""
        arguments = {"deployment_id": deployment_id, "restore_database": bool(restore_database), "to": to}
        claim = _Claim.of(f"rollback:{requester}", idempotency_key, arguments)
        if isinstance(claim, Failure):
            return claim
        reserved = new_deployment_id()
        if claim is not None and (earlier := await self._claim(claim, reserved)) is not None:
            return earlier
        prepared = await self._new_rollback(deployment_id, restore_database, to, reserved)
        if isinstance(prepared, Failure):
            await self._unclaim(claim, reserved)
            return prepared
        record, pipeline, target = prepared.value
        return await self._start_in_background(record, pipeline, target, claim)

    async def stop_background(self) -> None:
        """Stop what ``start_deploy``/``start_rollback`` left running here: each ends ``canceled``."""
        running = list(self._background)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    async def wait_background(self) -> None:
        """Wait for every deployment started in the background here to end (tests, orderly shutdown)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def _new_deployment(
        self, config_id: DeploymentId | str, description: str, identifier: DeploymentId | None = None
    ) -> Result[tuple[DeploymentResult, Pipeline]]:
        key = inputs.deployment_id(config_id, "config_id")
        checked_description = inputs.text(description, "description", required=False, max_length=2000)
        if problem := inputs.first_failure(key, checked_description):
            return problem
        config = await self._configs.get(key.value)
        if config is None:
            return Failure(ErrorDetails.not_found("configuration", key.value.value))
        record = DeploymentResult(
            id=identifier or new_deployment_id(),
            config_id=config.id,
            config=config,
            created_at=self._clock.now(),
            description=checked_description.value,
        )
        built = templates.default_pipeline(config, record.id, self._clock.now())
        record.pipeline_id = built.pipeline.id
        record.details["pipeline_id"] = built.pipeline.id.value
        if built.left_out:
            record.details["left_out"] = built.left_out
        return Success((record, built.pipeline))

    async def _new_rollback(
        self,
        deployment_id: DeploymentId | str,
        restore_database: bool,
        to: DeploymentId | str | None,
        identifier: DeploymentId | None = None,
    ) -> Result[tuple[DeploymentResult, Pipeline, DeploymentResult]]:
        found = await self.get_deployment(deployment_id)
        if isinstance(found, Failure):
            return found
        chosen = await self._release_to_restore(found.value, to)
        if isinstance(chosen, Failure):
            return chosen
        prepared = await self._prepare_rollback(
            found.value, restore_database=bool(restore_database), previous=chosen.value, identifier=identifier
        )
        if isinstance(prepared, Failure):
            return prepared
        record, pipeline = prepared.value
        return Success((record, pipeline, found.value))

    async def _start_in_background(
        self,
        record: DeploymentResult,
        pipeline: Pipeline,
        rolling_back: DeploymentResult | None,
        claim: _Claim | None,
    ) -> Result[DeploymentResult]:
        if self._queue is not None:
            return await self._enqueue(self._queue, record, pipeline, rolling_back, claim)
        started = await self._start(record, pipeline, rolling_back)
        if isinstance(started, Failure):
            await self._unclaim(claim, record.id)
            return started
        snapshot = DeploymentResult.from_document(record.to_document())
        task = asyncio.create_task(
            self._finish(record, pipeline, rolling_back, started.value), name=f"deployment {record.id.value}"
        )
        self._background.add(task)
        self._started_here[record.id] = task
        task.add_done_callback(self._background.discard)
        task.add_done_callback(lambda _: self._started_here.pop(record.id, None))
        return Success(snapshot)

    # -- queue execution: API servers queue, workers run ------------------------------------------

    async def execute(self, deployment_id: DeploymentId | str) -> Result[DeploymentResult]:
        """Run a queued deployment here, or carry on one whose worker died (what workers call).

        It waits for the (application, environment) lease: a dead worker's lease expires
        within its TTL, and a live holder finishes. A deployment already ended (a job
        run twice) is left as it is.
        """
        found = await self.get_deployment(deployment_id)
        if isinstance(found, Failure):
            return found
        record = found.value
        record = await self._past_pending(record)
        if record.status not in (DeploymentStatus.QUEUED, DeploymentStatus.RUNNING) or record.pipeline_id is None:
            return Success(record)
        pipeline = await self._pipelines.get(record.pipeline_id)
        if pipeline is None:
            return Failure(ErrorDetails.invalid_state(f"deployment {record.id.value} has no stored pipeline to run"))
        holder = f"{record.id.value}#{self._worker_name}"
        lease = await self._leases.acquire(record.config, holder)
        while isinstance(lease, Failure):
            await self._clock.sleep(min(5.0, self._leases.ttl / 4))
            lease = await self._leases.acquire(record.config, holder)
        me = asyncio.current_task()
        if me is not None:
            self._executing[record.id] = me
        try:
            current = await self._deployments.get(record.id)  # it may have been canceled meanwhile
            if current is not None and current.status is DeploymentStatus.PENDING:
                current.status = DeploymentStatus.QUEUED  # as above: queued, never stored as such
            if current is None or current.status not in (DeploymentStatus.QUEUED, DeploymentStatus.RUNNING):
                await self._leases.release(lease.value)
                return Success(current or record)
            return Success(await self._holding(lease.value, current, pipeline, self._carried_on(current, pipeline)))
        finally:
            self._executing.pop(record.id, None)

    async def _past_pending(self, record: DeploymentResult) -> DeploymentResult:
        """A job can start before its API server has stored the deployment as queued: wait a little.

        If it stays ``pending`` (that server died between queueing and storing), it is run
        as queued: the job exists, so the deployment was meant to run.
        """
        deadline = self._clock.now() + _PENDING_GRACE
        while record.status is DeploymentStatus.PENDING and self._clock.now() < deadline:
            await self._clock.sleep(0.1)
            record = await self._deployments.get(record.id) or record
        if record.status is DeploymentStatus.PENDING:
            record.status = DeploymentStatus.QUEUED  # in memory only: the run stores it as running
        return record

    def handed_back(self, deployment_id: str) -> bool:
        """Whether this deployment's run here was handed back (its worker is stopping): queue it again."""
        identifier = DeploymentId.stored(deployment_id)
        if identifier in self._handing_back:
            self._handing_back.discard(identifier)
            return True
        return False

    async def hand_back_all(self) -> list[DeploymentId]:
        """Stop every run here without ending it: each pipeline is left to be resumed elsewhere."""
        handed = list(self._executing)
        for deployment_id, task in list(self._executing.items()):
            self._handing_back.add(deployment_id)
            record = await self._deployments.get(deployment_id)
            if record is not None and record.pipeline_id is not None:
                self._runner.hand_back(record.pipeline_id)
            task.cancel()
        return handed

    async def release_lease(
        self, app_name: str, environment: DeploymentEnvironment | str, *, by: str, reason: str
    ) -> Result[Lease]:
        """End the lease of an application in an environment by hand (an operator's last resort).

        For a holder that is gone and will not come back sooner than its TTL. The holder's
        later writes are refused (fenced); the deployment it held keeps a note of who ended
        its lease, when and why, and in queue execution it is queued again to be resumed.
        """
        chosen = inputs.enum_value(DeploymentEnvironment, environment, "environment")
        checked = (inputs.text(app_name, "app_name"), inputs.text(by, "by"), inputs.text(reason, "reason"))
        if problem := inputs.first_failure(chosen, *checked):
            return problem
        key = f"{app_name}/{chosen.value.value}"
        released = await self._leases.force_release(key)
        if released is None:
            return Failure(ErrorDetails.not_found("lease", key))
        note = {"by": by, "at": self._clock.now().isoformat(), "reason": reason, "holder": released.holder}
        _log.warning("lease released by hand", lease=key, **note)
        held = await self._deployments.get(DeploymentId.stored(released.holder.split("#", 1)[0]))
        if held is not None:
            held.details.setdefault("lease_releases", []).append(note)
            await self._deployments.save(held)
            if self._queue is not None and held.status in (DeploymentStatus.QUEUED, DeploymentStatus.RUNNING):
                await self._queue.enqueue(held.id.value, key)
        return Success(released)

    async def _carried_on(self, record: DeploymentResult, pipeline: Pipeline) -> None:
        watching = asyncio.create_task(self._watch_for_cancel(pipeline))
        try:
            await self._carry_on(record, pipeline)
        finally:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching

    async def _watch_for_cancel(self, pipeline: Pipeline) -> None:
        """A cancel asked for in another process (an API server) reaches the run here."""
        while True:
            await self._clock.sleep(_CANCEL_POLL_SECONDS)
            asked = await self._runner.tools.decisions.get(pipeline.id, CANCEL_REQUEST)
            if asked is not None:
                self._runner.request_cancel(pipeline.id, asked.by, before_start=True)
                return

    async def _carry_on(self, record: DeploymentResult, pipeline: Pipeline) -> None:
        if record.status is DeploymentStatus.QUEUED:
            target = await self._deployments.get(record.rollback_of) if record.rollback_of else None
            if target is not None and not target.status.is_active:
                await self._move(target, DeploymentStatus.ROLLING_BACK, f"being rolled back by {record.id.value}")
            await self._move(record, DeploymentStatus.RUNNING, f"running on worker {self._worker_name}")
        else:  # another worker's run, handed back or abandoned by its death
            await self._annotate(record, f"carried on by worker {self._worker_name}")
        await self._resumed(record, pipeline)

    async def _enqueue(
        self,
        queue: DeploymentQueue,
        record: DeploymentResult,
        pipeline: Pipeline,
        rolling_back: DeploymentResult | None,
        claim: _Claim | None,
    ) -> Result[DeploymentResult]:
        policy = self._policies.get(record.environment.value, QueuePolicy.QUEUE)
        active = await self._active_in_place(record, rolling_back)
        if policy is QueuePolicy.REJECT and active:
            await self._unclaim(claim, record.id)
            message = (
                f"{active[0].id.value} of {record.app_name} in {record.environment.value} is {active[0].status.value} "
                f"and this environment's policy is to reject: wait for it or cancel it"
            )
            return Failure(ErrorDetails.conflict(message, deployment_id=active[0].id.value, policy=policy.value))
        added = await self._deployments.add(record)
        if isinstance(added, Failure):
            await self._unclaim(claim, record.id)
            return added
        stored = await self._pipelines.add(pipeline)
        if isinstance(stored, Failure):
            await self._move(
                record, DeploymentStatus.FAILED, f"its pipeline could not be stored: {stored.error.message}"
            )
            await self._unclaim(claim, record.id)
            return stored
        queued = await queue.enqueue(record.id.value, lease_key(record.config))
        if isinstance(queued, Failure):
            await self._move(record, DeploymentStatus.FAILED, queued.error.message)
            await self._unclaim(claim, record.id)
            return queued
        record.details["job_id"] = queued.value
        await self._move(record, DeploymentStatus.QUEUED, f"queued ({policy.value} policy)")
        if policy is QueuePolicy.REPLACE:
            for waiting in active:
                if waiting.status is DeploymentStatus.QUEUED and await queue.withdraw(str(waiting.details["job_id"])):
                    await self._move(waiting, DeploymentStatus.CANCELED, f"superseded by {record.id.value}")
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
            active += await self._deployments.find(query)
        skip = {record.id, rolling_back.id if rolling_back else None}
        return sorted((found for found in active if found.id not in skip), key=lambda found: found.created_at)

    async def _cancel_queued(
        self, queue: DeploymentQueue, record: DeploymentResult, canceled_by: str
    ) -> Result[DeploymentResult]:
        """Cancel a deployment another worker holds or no worker took yet."""
        job_id = str(record.details.get("job_id", ""))
        if record.status is DeploymentStatus.QUEUED and job_id and await queue.withdraw(job_id):
            await self._move(record, DeploymentStatus.CANCELED, f"canceled before it started by {canceled_by}")
            return Success(record)
        if record.pipeline_id is None:
            return Failure(ErrorDetails.invalid_state(f"deployment {record.id.value} can no longer be canceled"))
        # The worker running it watches for this request and stops the run as a cancel here would.
        request = Decision(record.pipeline_id, CANCEL_REQUEST, False, canceled_by, self._clock.now(), "cancel")
        asked = await self._runner.tools.decisions.decide(request)
        if isinstance(asked, Failure):
            return Failure(ErrorDetails.conflict(f"a cancel of {record.id.value} was already asked for"))
        return Success(record)  # still running: its worker stops it within a second or two

    async def _claim(self, claim: _Claim, reserved: DeploymentId) -> Result[DeploymentResult] | None:
        """The earlier answer for a repeated idempotency key, or None when this call owns the key."""
        if self._idempotency is None:
            return None
        now = self._clock.now()
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
            earlier = await self._deployments.get(DeploymentId.stored(stored.deployment_id))
            if earlier is not None:
                return Success(earlier)
            if now - stored.created_at < _ABANDONED_CLAIM:
                message = "a request with this Idempotency-Key is still starting: retry in a moment"
                return Failure(ErrorDetails.conflict(message, deployment_id=stored.deployment_id))
            # The request that claimed the key died before storing anything: take the key over.
            await self._idempotency.release(stored.scope, stored.key, stored.deployment_id)
        return Failure(ErrorDetails.conflict("the Idempotency-Key is being claimed by another request: retry"))

    async def _unclaim(self, claim: _Claim | None, reserved: DeploymentId) -> None:
        """A request that started nothing gives its key back, so that a retry may start it."""
        if claim is not None and self._idempotency is not None:
            await self._idempotency.release(claim.scope, claim.key, reserved.value)

    async def resume(self, deployment_id: DeploymentId | str) -> Result[DeploymentResult]:
        """Finish a deployment whose runner died: its pipeline carries on from its journal.

        Finished tasks are kept; a task that was running is run again when it is
        idempotent and failed otherwise. ``CONFLICT`` while a live runner holds the lease.
        """
        found = await self.get_deployment(deployment_id)
        if isinstance(found, Failure):
            return found
        record = found.value
        pipeline = await self._pipelines.get(record.pipeline_id) if record.pipeline_id else None
        if record.status is not DeploymentStatus.RUNNING:
            return Failure(
                ErrorDetails.invalid_state(f"deployment {record.id.value} is {record.status.value}, not running")
            )
        if pipeline is None:
            return Failure(ErrorDetails.invalid_state(f"deployment {record.id.value} has no stored pipeline to resume"))
        if self._runner.is_running(pipeline.id):
            return Failure(ErrorDetails.invalid_state(f"deployment {record.id.value} is running in this process"))
        lease = await self._leases.acquire(record.config, f"{record.id.value}#resumed")
        if isinstance(lease, Failure):
            return lease
        return Success(await self._holding(lease.value, record, pipeline, self._resumed(record, pipeline)))

    async def _resumed(self, record: DeploymentResult, pipeline: Pipeline) -> None:
        target = await self._deployments.get(record.rollback_of) if record.rollback_of else None
        rolling_back = target if target and target.status is DeploymentStatus.ROLLING_BACK else None
        fence = self._fence_for(record)
        if pipeline.status is PipelineStatus.PENDING:
            outcome = await self._runner.run(pipeline, record.config, fence)
        elif pipeline.status is PipelineStatus.RUNNING:
            outcome = await self._runner.resume(pipeline, record.config, fence)
        else:
            outcome = Success(pipeline)
        await self._conclude(record, outcome, rolling_back)
        if isinstance(outcome, Success) and rolling_back_rules.wants_automatic_rollback(record, outcome.value):
            await self._roll_back_automatically(record)

    async def cancel(self, deployment_id: DeploymentId | str, canceled_by: str = "user") -> Result[DeploymentResult]:
        """Stop a running deployment: its pipeline stops promptly and the record says who stopped it."""
        found = await self.get_deployment(deployment_id)
        if isinstance(found, Failure):
            return found
        record = found.value
        if record.status.is_complete or record.pipeline_id is None:
            return Failure(ErrorDetails.invalid_state(f"deployment {record.id.value} already {record.status.value}"))
        started_here = self._started_here.get(record.id)
        if started_here is not None and not self._runner.is_running(record.pipeline_id):
            # started in the background a moment ago: it stops as soon as the runner has it
            self._runner.request_cancel(record.pipeline_id, canceled_by, before_start=True)
            await asyncio.wait({started_here})
            return await self.get_deployment(record.id)
        if self._runner.request_cancel(record.pipeline_id, canceled_by):
            await self._runner.wait(record.pipeline_id)
            concluded = self._concluding.get(record.id)
            if concluded is not None:
                await concluded.wait()  # the run here stores its outcome after the pipeline ends
            return await self.get_deployment(record.id)
        if self._queue is not None:
            return await self._cancel_queued(self._queue, record, canceled_by)
        return Failure(
            ErrorDetails.invalid_state(
                f"deployment {record.id.value} is {record.status.value} but no runner in this process holds it",
                status=record.status.value,
            )
        )

    async def get_deployment(self, deployment_id: DeploymentId | str) -> Result[DeploymentResult]:
        key = inputs.deployment_id(deployment_id)
        if isinstance(key, Failure):
            return key
        record = await self._deployments.get(key.value)
        return Success(record) if record else Failure(ErrorDetails.not_found("deployment", key.value.value))

    async def get_status(self, deployment_id: DeploymentId | str) -> Result[DeploymentProgress]:
        """Where a deployment is now: status, progress, current stage and task, timestamps.

        Polled often, so the last answer per deployment is kept with the store's stamp of
        it; while the stamp is unchanged (one small query) the answer is reused.
        """
        key = inputs.deployment_id(deployment_id)
        if isinstance(key, Failure):
            return key
        stamp = await self._deployments.stamp(key.value)
        known = self._statuses.get(key.value)
        if stamp is not None and known is not None and known[0] == stamp:
            return Success(known[1])
        found = await self.get_deployment(key.value)
        if isinstance(found, Failure):
            return found
        record = found.value
        pipeline = await self._pipelines.get(record.pipeline_id) if record.pipeline_id else None
        stage, task = pipeline.current() if pipeline else (None, None)
        progress = pipeline.progress if pipeline else (1.0 if record.status.is_complete else 0.0)
        answer = DeploymentProgress(
            deployment_id=record.id,
            status=record.status,
            success=record.success,
            message=record.message,
            progress=round(progress, 4),
            current_stage=stage.name if stage else None,
            current_task=task.name if task else None,
            current_task_message=task.message if task else None,
            created_at=record.created_at,
            started_at=record.started_at,
            finished_at=record.finished_at,
            pipeline_id=record.pipeline_id,
        )
        if stamp is not None:
            if len(self._statuses) >= _STATUSES_KEPT:
                self._statuses.clear()
            # The stamp was read before the record: a change in between makes it stale, never wrong.
            self._statuses[key.value] = (stamp, answer)
        return Success(answer)

    async def list_deployments(
        self,
        app_name: str | None = None,
        environment: DeploymentEnvironment | str | None = None,
        status: DeploymentStatus | str | None = None,
        config_id: DeploymentId | str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Result[list[DeploymentResult]]:
        """Deployments matching every filter given, newest first."""
        chosen_environment = inputs.optional_enum(DeploymentEnvironment, environment, "environment")
        chosen_status = inputs.optional_enum(DeploymentStatus, status, "status")
        chosen_config = inputs.deployment_id(config_id, "config_id") if config_id is not None else Success(None)
        if problem := inputs.first_failure(
            inputs.page(limit, offset), chosen_environment, chosen_status, chosen_config
        ):
            return problem
        query = DeploymentQuery(
            app_name=app_name,
            environment=chosen_environment.value,
            status=chosen_status.value,
            config_id=chosen_config.value,
            limit=limit,
            offset=offset,
        )
        return Success(await self._deployments.find(query))

    async def _run(
        self, record: DeploymentResult, pipeline: Pipeline, *, rolling_back: DeploymentResult | None = None
    ) -> Result[DeploymentResult]:
        started = await self._start(record, pipeline, rolling_back)
        if isinstance(started, Failure):
            return started
        return Success(await self._finish(record, pipeline, rolling_back, started.value))

    async def _start(
        self, record: DeploymentResult, pipeline: Pipeline, rolling_back: DeploymentResult | None
    ) -> Result[Lease]:
        """Take the lease and store the deployment as running; the caller then runs it (``_finish``)."""
        lease = await self._leases.acquire(record.config, record.id.value)
        if isinstance(lease, Failure):
            return lease
        try:
            stored = await self._store(record, pipeline, rolling_back)
        except BaseException as error:
            await self._abandon(record, rolling_back, stopped=isinstance(error, asyncio.CancelledError))
            await self._leases.release(lease.value)
            raise
        if isinstance(stored, Failure):
            await self._leases.release(lease.value)
            return stored
        return lease

    async def _finish(
        self, record: DeploymentResult, pipeline: Pipeline, rolling_back: DeploymentResult | None, lease: Lease
    ) -> DeploymentResult:
        return await self._holding(lease, record, pipeline, self._execute(record, pipeline, rolling_back), rolling_back)

    async def _holding(
        self,
        lease: Lease,
        record: DeploymentResult,
        pipeline: Pipeline,
        work: Coroutine[Any, Any, None],
        rolling_back: DeploymentResult | None = None,
    ) -> DeploymentResult:
        """Do ``work`` (running ``pipeline`` for ``record``) while holding ``lease``, every write fenced by it.

        If the lease is lost meanwhile (this process stalled past its TTL and another took
        over), the run is handed back, not ended: nothing more is written or done here, and
        the new holder carries the deployment on from its journal.
        """
        me = asyncio.current_task()

        def lost() -> None:
            self._runner.hand_back(pipeline.id)
            if me is not None:
                me.cancel()

        concluded = self._concluding[record.id] = asyncio.Event()
        async with self._leases.held(lease, on_lost=lost) as holding:
            self._fences[lease.key] = lease
            try:
                await work
            except LeaseLost as refused:
                _log.warning("stopped: the lease was lost", deployment_id=record.id.value, reason=refused.error.message)
            except asyncio.CancelledError:
                if record.id in self._handing_back:
                    _log.info("handed back", deployment_id=record.id.value)
                    raise
                if not holding.lost:
                    await self._abandon(record, rolling_back, stopped=True)
                    raise
                _log.warning("handed back: the lease was lost", deployment_id=record.id.value)
            except BaseException:
                if not holding.lost:
                    await self._abandon(record, rolling_back, stopped=False)
                raise
            finally:
                self._fences.pop(lease.key, None)
                concluded.set()
                self._concluding.pop(record.id, None)
        return record

    def _fence_for(self, record: DeploymentResult) -> Lease | None:
        return self._fences.get(lease_key(record.config))

    async def _run_holding_lease(
        self, record: DeploymentResult, pipeline: Pipeline, rolling_back: DeploymentResult | None
    ) -> Result[DeploymentResult]:
        try:
            stored = await self._store(record, pipeline, rolling_back)
            if isinstance(stored, Failure):
                return stored
            await self._execute(record, pipeline, rolling_back)
            return Success(record)
        except BaseException as error:
            await self._abandon(record, rolling_back, stopped=isinstance(error, asyncio.CancelledError))
            raise

    async def _store(
        self, record: DeploymentResult, pipeline: Pipeline, rolling_back: DeploymentResult | None
    ) -> Result[None]:
        added = await self._deployments.add(record)
        if isinstance(added, Failure):
            return added
        stored = await self._pipelines.add(pipeline)
        if isinstance(stored, Failure):
            await self._move(
                record, DeploymentStatus.FAILED, f"its pipeline could not be stored: {stored.error.message}"
            )
            return stored
        if rolling_back is not None:
            await self._move(rolling_back, DeploymentStatus.ROLLING_BACK, f"being rolled back by {record.id.value}")
        await self._move(record, DeploymentStatus.RUNNING)
        return Success(None)

    async def _execute(
        self, record: DeploymentResult, pipeline: Pipeline, rolling_back: DeploymentResult | None
    ) -> None:
        outcome = await self._runner.run(pipeline, record.config, self._fence_for(record))
        await self._conclude(record, outcome, rolling_back)
        if isinstance(outcome, Success) and rolling_back_rules.wants_automatic_rollback(record, outcome.value):
            await self._roll_back_automatically(record)

    async def _conclude(
        self, record: DeploymentResult, outcome: Result[Pipeline], rolling_back: DeploymentResult | None
    ) -> None:
        if isinstance(outcome, Failure):
            await self._move(
                record, DeploymentStatus.FAILED, f"the pipeline's record was lost: {outcome.error.message}"
            )
        else:
            pipeline = outcome.value
            record.reached_platform = rolling_back_rules.reached_platform(pipeline)
            status = {
                PipelineStatus.SUCCEEDED: DeploymentStatus.SUCCEEDED,
                PipelineStatus.CANCELED: DeploymentStatus.CANCELED,
            }.get(pipeline.status, DeploymentStatus.FAILED)
            await self._move(record, status, rolling_back_rules.summary(record, pipeline))
        if rolling_back is not None:
            if record.success:
                await self._move(rolling_back, DeploymentStatus.ROLLED_BACK, f"rolled back by {record.id.value}")
                await self._supersede_between(record, rolling_back)
            else:
                before = DeploymentStatus(rolling_back.details.pop("status_before_rollback", "failed"))
                await self._move(rolling_back, before, f"{record.message} ({record.id.value})")

    async def _supersede_between(self, rollback: DeploymentResult, target: DeploymentResult) -> None:
        """A rollback past several releases rolls them all back: none of them serves any more."""
        restored = await self._deployments.get(DeploymentId(str(rollback.details.get("restores"))))
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
        for skipped in await self._deployments.find(query):
            if skipped.id != restored.id:
                await self._move(skipped, DeploymentStatus.ROLLING_BACK, f"being rolled back by {rollback.id.value}")
                await self._move(skipped, DeploymentStatus.ROLLED_BACK, f"rolled back by {rollback.id.value}")

    async def _move(self, record: DeploymentResult, status: DeploymentStatus, message: str = "") -> None:
        if status is DeploymentStatus.ROLLING_BACK:
            record.details["status_before_rollback"] = record.status.value
        elif record.status is DeploymentStatus.ROLLING_BACK:
            record.details.pop("status_before_rollback", None)
        old = record.status
        record.move(status, self._clock.now(), message)
        await self._save(record)
        self._observers.deployment_moved(record, old)

    async def _abandon(self, record: DeploymentResult, rolling_back: DeploymentResult | None, *, stopped: bool) -> None:
        """Record an interrupted deployment as ended, so nothing is left ``running``.

        Stopped (cancelled) means canceled; an unexpected error means failed.
        """
        with contextlib.suppress(Exception):
            stored = await self._deployments.get(record.id)
            if stored is not None and stored.status in (DeploymentStatus.PENDING, DeploymentStatus.RUNNING):
                status = DeploymentStatus.CANCELED if stopped else DeploymentStatus.FAILED
                reason = "stopped before it finished" if stopped else "interrupted by an internal error"
                old = stored.status
                stored.move(status, self._clock.now(), reason)
                await self._deployments.save(stored, self._fence_for(stored))
                self._observers.deployment_moved(stored, old)
            if rolling_back is not None:
                stored = await self._deployments.get(rolling_back.id)
                if stored is not None and stored.status is DeploymentStatus.ROLLING_BACK:
                    before = DeploymentStatus(stored.details.pop("status_before_rollback", "failed"))
                    stored.move(before, self._clock.now(), "rollback interrupted")
                    await self._deployments.save(stored, self._fence_for(stored))

    async def _release_to_restore(
        self, target: DeploymentResult, to: DeploymentId | str | None
    ) -> Result[DeploymentResult | None]:
        """The deployment ``to`` names, checked to be an earlier good release of the same app."""
        if to is None:
            return Success(None)
        chosen = await self.get_deployment(to)
        if isinstance(chosen, Failure):
            return chosen
        release = chosen.value
        same_place = (release.app_name, release.environment) == (target.app_name, target.environment)
        if not same_place or release.kind is not DeploymentKind.DEPLOY or release.created_at >= target.created_at:
            message = (
                f"{release.id.value} is not an earlier deployment of {target.app_name} in {target.environment.value}"
            )
            return Failure(ErrorDetails.validation("to", message))
        if (
            release.status not in (DeploymentStatus.SUCCEEDED, DeploymentStatus.ROLLED_BACK)
            or not release.reached_platform
        ):
            return Failure(ErrorDetails.validation("to", f"{release.id.value} never served ({release.status.value})"))
        return Success(release)

    async def _prepare_rollback(
        self,
        target: DeploymentResult,
        *,
        restore_database: bool,
        previous: DeploymentResult | None = None,
        identifier: DeploymentId | None = None,
    ) -> Result[tuple[DeploymentResult, Pipeline]]:
        refused = rolling_back_rules.refusal(target)
        if refused:
            return Failure(ErrorDetails.invalid_state(refused, deployment_id=target.id.value))
        previous = previous or await self._previous_release(target)
        if previous is None:
            message = (
                f"no earlier successful release of {target.app_name} in {target.environment.value} "
                f"to roll back to from {target.id.value}"
            )
            return Failure(ErrorDetails.invalid_state(message, deployment_id=target.id.value))
        backup = None
        if restore_database:
            taken = await self._pipelines.get(target.pipeline_id) if target.pipeline_id else None
            backup = rolling_back_rules.backup_taken(taken)
            if backup is None:
                message = f"deployment {target.id.value} took no database backup to restore"
                return Failure(ErrorDetails.invalid_state(message, deployment_id=target.id.value))
        record = rolling_back_rules.record_for(target, previous, self._clock.now(), identifier)
        pipeline = rolling_back_rules.pipeline_for(record, previous, backup, self._clock.now())
        record.pipeline_id = pipeline.id
        record.details["pipeline_id"] = pipeline.id.value
        return Success((record, pipeline))

    async def _roll_back_automatically(self, record: DeploymentResult) -> None:
        """Put the previous release back after a deploy that failed once on the platform (lease held)."""
        failure = record.message
        prepared = await self._prepare_rollback(record, restore_database=False)
        if isinstance(prepared, Failure):
            await self._annotate(record, f"{failure}; not rolled back automatically: {prepared.error.message}")
            return
        rollback, pipeline = prepared.value
        await self._run_holding_lease(rollback, pipeline, rolling_back=record)
        record.details["automatic_rollback"] = rollback.id.value
        if rollback.success:
            note = f"rolled back automatically to {rollback.app_version} ({rollback.id.value})"
        else:
            note = f"the automatic rollback {rollback.id.value} failed: {rollback.message}"
        await self._annotate(record, f"{failure}; {note}")

    async def _annotate(self, record: DeploymentResult, message: str) -> None:
        record.message = message
        await self._save(record)

    async def _save(self, record: DeploymentResult) -> None:
        saved = await self._deployments.save(record, self._fence_for(record))
        if isinstance(saved, Failure):
            if saved.error.context.get("fenced"):
                raise LeaseLost(saved.error)
            raise RuntimeError(f"deployment {record.id.value} could not be saved: {saved.error.message}")

    async def _previous_release(self, target: DeploymentResult) -> DeploymentResult | None:
        query = DeploymentQuery(
            app_name=target.app_name,
            environment=target.environment,
            kind=DeploymentKind.DEPLOY,
            status=DeploymentStatus.SUCCEEDED,
            created_before=target.created_at,
            limit=1,
        )
        earlier = [record for record in await self._deployments.find(query) if record.id != target.id]
        return earlier[0] if earlier else None

    async def promote(
        self, deployment_id: DeploymentId | str, *, full: bool = False, by: str = "user"
    ) -> Result[DeploymentResult]:
        """Let a running canary go on from the step it is at, paused there or still being analysed.

        ``full`` skips the remaining steps: 100% at once, once the canary is healthy at
        full size. The decision is stored for the rollout, which acts on it within a
        second in whichever process runs it; the record returned is the deployment as it
        is now (``get_status`` follows it). ``CONFLICT`` if someone decided that step first.
        """
        move = canary_control.Move.PROMOTE_FULL if bool(full) else canary_control.Move.PROMOTE
        return await self._steer(deployment_id, move, by, "")

    async def abort(
        self, deployment_id: DeploymentId | str, *, by: str = "user", reason: str = ""
    ) -> Result[DeploymentResult]:
        """Stop a running canary: traffic back to the stable version, the canary removed, the deploy failed.

        The deployment's message then says who aborted it and why; what follows (no
        automatic rollback: the stable version never stopped serving) is as for a failed
        canary analysis. Returns at once, as ``promote`` does.
        """
        return await self._steer(deployment_id, canary_control.Move.ABORT, by, reason)

    async def _steer(
        self, deployment_id: DeploymentId | str, move: canary_control.Move, by: str, reason: str
    ) -> Result[DeploymentResult]:
        found = await self.get_deployment(deployment_id)
        checked_by = inputs.text(by, "by")
        checked_reason = inputs.text(reason, "reason", required=False, max_length=2000)
        if problem := inputs.first_failure(found, checked_by, checked_reason):
            return problem
        record = found.value
        pipeline = await self._pipelines.get(record.pipeline_id) if record.pipeline_id else None
        decision = canary_control.CanaryDecision(move, checked_by.value, self._clock.now(), checked_reason.value)
        steered = await steering.steer(record, pipeline, self._runner.tools.decisions, decision)
        return steered if isinstance(steered, Failure) else Success(record)

    async def plan(self, config_id: DeploymentId | str) -> Result[planning.DeploymentPlan]:
        """What deploying the configuration would do, changing nothing (``uno-deploy plan``).

        The pipeline's stages and tasks, the strategy's schedule, the platform objects the
        driver would create, the lease the deploy takes and the release a rollback would
        restore. Settings a deploy would refuse are listed in the plan's ``problems``.
        """
        key = inputs.deployment_id(config_id, "config_id")
        if isinstance(key, Failure):
            return key
        config = await self._configs.get(key.value)
        if config is None:
            return Failure(ErrorDetails.not_found("configuration", key.value.value))
        return Success(await self._plan_of(config, stored=True))

    async def plan_values(self, values: dict[str, Any]) -> Result[planning.DeploymentPlan]:
        """``plan`` for a configuration given as ``create_config_from`` takes it, storing nothing.

        An invalid configuration is the ``VALIDATION_ERROR`` creating it would be.
        """
        built = planning.unsaved_config(values, self._clock.now())
        if isinstance(built, Failure):
            return built
        return Success(await self._plan_of(built.value, stored=False))

    async def _plan_of(self, config: DeploymentConfig, *, stored: bool) -> planning.DeploymentPlan:
        built = templates.default_pipeline(config, planning.PLANNED_DEPLOYMENT, self._clock.now())
        serving = DeploymentQuery(
            app_name=config.app_name,
            environment=config.environment,
            kind=DeploymentKind.DEPLOY,
            status=DeploymentStatus.SUCCEEDED,
            limit=1,
        )
        current = await self._deployments.find(serving)
        lease = (lease_key(config), await self._leases.holder(config))
        drivers = self._runner.tools.platforms
        return await planning.plan(config, built, drivers, lease, current[0] if current else None, stored=stored)
