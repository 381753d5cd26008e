"""Deploying, rolling back and following deployments: the spec's ``DeploymentService``.

A thin facade that keeps the spec's API; what it does lives in one module per concern:

- ``preparing``: the record and pipeline of a deployment or a rollback, before anything runs;
- ``dispatching``: returning at once (run in this process's background, or queued for a
  worker), idempotency keys, queue policies;
- ``holding``: holding the (application, environment) lease, every write fenced by it,
  hand-back when it is lost; ending a lease by hand;
- ``executing``: running a deployment here and concluding it, automatic rollback;
- ``recording``: every write of a deployment record;
- ``working``: what a queue worker does with a job (run, carry on, hand back);
- ``recovering`` and ``orphans``: deployments whose runner died, carried on or ended;
- ``canceling``, ``steering`` (canary promote/abort), ``following`` (status, lists),
  ``planning`` (what a deploy would do).

A deployment is never left ``running``: an error here ends it with an outcome, and one
whose runner died is ended (or carried on) by the next call that touches it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain import differences
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.deployments import DeploymentProgress, DeploymentResult
from uno.deployment.domain.enums import DeploymentEnvironment, DeploymentKind, DeploymentStatus
from uno.deployment.domain.ids import DeploymentId, new_deployment_id
from uno.deployment.engine import templates
from uno.deployment.engine.running import PipelineRunner
from uno.deployment.engine.telemetry import Observers
from uno.deployment.ports.access import IdempotencyRepository
from uno.deployment.ports.clock import Clock
from uno.deployment.ports.leases import Lease
from uno.deployment.ports.queue import DeploymentQueue
from uno.deployment.ports.repositories import (
    DeploymentConfigRepository,
    DeploymentQuery,
    DeploymentResultRepository,
    PipelineRepository,
)
from uno.deployment.ports.runners import RunnerIdentity
from uno.deployment.services import diffing, honouring, inputs, planning, steering
from uno.deployment.services.canceling import Canceler
from uno.deployment.services.dispatching import IDEMPOTENCY_KEY_LIFETIME, Claim, Claims, Dispatcher
from uno.deployment.services.executing import Executor
from uno.deployment.services.following import Follower
from uno.deployment.services.holding import LeaseHolder
from uno.deployment.services.leasing import LeaseKeeper, lease_key
from uno.deployment.services.preparing import Preparer
from uno.deployment.services.recording import LeaseLost, Recorder
from uno.deployment.services.recovering import Recovery
from uno.deployment.services.working import Worker
from uno.deployment.strategies import canary_control

__all__ = ["IDEMPOTENCY_KEY_LIFETIME", "DeploymentService", "LeaseLost"]

_LOOKING = "a status check"


class _NoIdentity:
    """Without a way to tell a dead runner apart, leases expire by their TTL."""

    def current(self) -> dict[str, Any]:
        return {}

    def gone(self, identity: Mapping[str, Any]) -> bool:
        return False


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
        runners: RunnerIdentity | None = None,
        strict_environments: Collection[str] = honouring.DEFAULT_STRICT_ENVIRONMENTS,
    ) -> None:
        identity = runners or _NoIdentity()
        inline = queue is None
        self._configs = configs
        self._deployments = deployments
        self._leases = leases
        self._clock = clock
        self._runner = runner
        self._recorder = Recorder(deployments, clock, observers or Observers())
        self._holder = LeaseHolder(leases, runner, self._recorder)
        self._strict_environments = frozenset(strict_environments)
        self._preparer = Preparer(configs, pipelines, self._recorder, runner.tools.platforms, strict_environments)
        self._executor = Executor(
            pipelines, runner, self._recorder, self._holder, self._preparer, identity, inline=inline
        )
        claims = Claims(idempotency, self._recorder)
        self._dispatcher = Dispatcher(pipelines, self._recorder, self._executor, claims, queue, policies)
        self._recovery = Recovery(pipelines, self._recorder, self._holder, self._executor, identity, inline=inline)
        self._worker = Worker(pipelines, self._recorder, self._holder, self._executor, worker_name)
        self._canceler = Canceler(runner, self._recorder, self._holder, self._dispatcher, self._recovery)
        self._follower = Follower(pipelines, self._recorder, self._recovery)
        self._pipelines = pipelines

    async def deploy(
        self,
        config_id: DeploymentId | str,
        description: str = "",
        *,
        strict: bool | None = None,
        config_version: int | None = None,
    ) -> Result[DeploymentResult]:
        """Deploy the configuration's release and return the deployment's record when it ends.

        ``Failure`` means the deployment could not start (unknown configuration, another
        deployment of the application running in the environment, an unknown
        ``custom_settings`` key); once started, the outcome is in the record: ``success``,
        ``status`` and ``message``. Settings the platform does not honour are listed in the
        record's ``details["not_honoured"]``; with ``strict`` (by default in the strict
        environments, production unless configured) they refuse the deploy instead, a
        ``VALIDATION_ERROR`` listing them, before anything is stored or changed. With
        ``config_version``, a configuration changed since that version is a ``CONFLICT``.
        """
        prepared = await self._preparer.deployment(config_id, description, strict=strict, config_version=config_version)
        if isinstance(prepared, Failure):
            return prepared
        record, pipeline = prepared.value
        return await self._executor.run(record, pipeline)

    async def start_deploy(
        self,
        config_id: DeploymentId | str,
        description: str = "",
        *,
        idempotency_key: str | None = None,
        requester: str = "",
        strict: bool | None = None,
        config_version: int | None = None,
    ) -> Result[DeploymentResult]:
        """``deploy``, returning once the deployment is stored and running (``strict``, ``config_version`` as there).

        The pipeline goes on in this process's background; follow it with ``get_status``.
        With ``idempotency_key``, the same key (for the same ``requester``) returns the
        deployment the first call started instead of starting another; the same key with
        other arguments is a ``VALIDATION_ERROR``.
        """
        arguments: dict[str, Any] = {"config_id": config_id, "description": description}
        if strict is not None:
            arguments["strict"] = strict
        if config_version is not None:
            arguments["config_version"] = config_version
        claim = Claim.of(f"deploy:{requester}", idempotency_key, arguments)
        if isinstance(claim, Failure):
            return claim
        reserved = new_deployment_id()
        claims = self._dispatcher.claims
        if claim is not None and (earlier := await claims.claim(claim, reserved)) is not None:
            return earlier
        prepared = await self._preparer.deployment(
            config_id, description, reserved, strict=strict, config_version=config_version
        )
        if isinstance(prepared, Failure):
            await claims.unclaim(claim, reserved)
            return prepared
        record, pipeline = prepared.value
        return await self._dispatcher.start(record, pipeline, None, claim)

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
        changed anything (``INVALID_STATE`` if it took none). A deployment whose runner
        died is ended first (no automatic rollback: this is the rollback).
        """
        await self._recover_target(deployment_id)
        prepared = await self._preparer.rollback_of(deployment_id, restore_database, to)
        if isinstance(prepared, Failure):
            return prepared
        record, pipeline, target = prepared.value
        return await self._executor.run(record, pipeline, target)

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
        claim = Claim.of(f"rollback:{requester}", idempotency_key, arguments)
        if isinstance(claim, Failure):
            return claim
        reserved = new_deployment_id()
        claims = self._dispatcher.claims
        if claim is not None and (earlier := await claims.claim(claim, reserved)) is not None:
            return earlier
        await self._recover_target(deployment_id)
        prepared = await self._preparer.rollback_of(deployment_id, restore_database, to, reserved)
        if isinstance(prepared, Failure):
            await claims.unclaim(claim, reserved)
            return prepared
        record, pipeline, target = prepared.value
        return await self._dispatcher.start(record, pipeline, target, claim)

    async def _recover_target(self, deployment_id: DeploymentId | str) -> None:
        found = await self._recorder.find(deployment_id)
        if isinstance(found, Success):
            await self._recovery.check(found.value, by="a rollback of it", roll_back=False)

    async def stop_background(self) -> None:
        """Stop what ``start_deploy``/``start_rollback`` left running here: each ends ``canceled``."""
        await self._dispatcher.stop_background()

    async def wait_ended(self, deployment_id: DeploymentId | str, seconds: float) -> None:
        """Until the run of ``deployment_id`` started here ends, or ``seconds`` pass (it does not run here)."""
        await self._dispatcher.wait_ended(inputs.deployment_id(deployment_id), seconds)

    async def wait_background(self) -> None:
        """Wait for every deployment started in the background here to end (tests, orderly shutdown)."""
        await self._dispatcher.wait_background()

    # -- queue execution: API servers queue, workers run ------------------------------------------

    async def execute(self, deployment_id: DeploymentId | str) -> Result[DeploymentResult]:
        """Run a queued deployment here, or carry on one whose worker died (what workers call).

        It waits for the (application, environment) lease: a dead worker's lease expires
        within its TTL, and a live holder finishes. A deployment already ended (a job
        run twice) is left as it is; one that a newer deployment superseded meanwhile is
        ended as superseded, never carried on.
        """
        return await self._worker.execute(deployment_id)

    def handed_back(self, deployment_id: str) -> bool:
        """Whether this deployment's run here was handed back (its worker is stopping): queue it again."""
        return self._worker.handed_back(deployment_id)

    async def hand_back_all(self) -> list[DeploymentId]:
        """Stop every run here without ending it: each pipeline is left to be resumed elsewhere."""
        return await self._worker.hand_back_all()

    async def release_lease(
        self, app_name: str, environment: DeploymentEnvironment | str, *, by: str, reason: str
    ) -> Result[Lease]:
        """End the lease of an application in an environment by hand (an operator's last resort).

        For a holder that is gone and will not come back sooner than its TTL. The holder's
        later writes are refused (fenced); the deployment it held keeps a note of who ended
        its lease, when and why, and in queue execution it is queued again to be resumed.
        """
        return await self._holder.release_by_hand(
            app_name, environment, by=by, reason=reason, queue=self._dispatcher.queue
        )

    async def resume(self, deployment_id: DeploymentId | str) -> Result[DeploymentResult]:
        """Finish a deployment whose runner died: its pipeline carries on from its journal.

        Finished tasks are kept; a task that was running is run again when it is
        idempotent and failed otherwise. ``CONFLICT`` while a live runner holds the lease,
        and when a newer deployment of the same application and environment started since:
        a superseded deployment is ended as such, never put back live.
        """
        return await self._recovery.resume(deployment_id)

    async def cancel(self, deployment_id: DeploymentId | str, canceled_by: str = "user") -> Result[DeploymentResult]:
        """Stop a running deployment: its pipeline stops promptly and the record says who stopped it.

        A deployment whose runner died is ended as canceled here.
        """
        return await self._canceler.cancel(deployment_id, canceled_by)

    async def get_deployment(self, deployment_id: DeploymentId | str) -> Result[DeploymentResult]:
        """The deployment's record; one whose runner died is ended first (see ``get_status``)."""
        found = await self._recorder.find(deployment_id)
        if isinstance(found, Failure):
            return found
        return Success(await self._follower.current(found.value, by=_LOOKING))

    async def get_status(self, deployment_id: DeploymentId | str) -> Result[DeploymentProgress]:
        """Where a deployment is now: status, progress, current stage and task, timestamps.

        A deployment whose runner died is ended here (failed, with the reason, and rolled
        back automatically when its configuration says so) rather than reported running.
        """
        return await self._follower.status(deployment_id, by=_LOOKING)

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
        return await self._follower.list(app_name, environment, status, config_id, limit, offset, by=_LOOKING)

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
        found = await self._recorder.find(deployment_id)
        checked_by = inputs.text(by, "by")
        checked_reason = inputs.text(reason, "reason", required=False, max_length=2000)
        if problem := inputs.first_failure(found, checked_by, checked_reason):
            return problem
        record = found.value
        pipeline = await self._pipelines.get(record.pipeline_id) if record.pipeline_id else None
        decision = canary_control.CanaryDecision(move, checked_by.value, self._clock.now(), checked_reason.value)
        steered = await steering.steer(record, pipeline, self._runner.tools.decisions, decision)
        return steered if isinstance(steered, Failure) else Success(record)

    async def plan(self, config_id: DeploymentId | str, *, live: bool = True) -> Result[planning.DeploymentPlan]:
        """What deploying the configuration would do, changing nothing (``uno-deploy plan``).

        The pipeline's stages and tasks, the strategy's schedule, the platform objects the
        driver would create, the lease the deploy takes and the release a rollback would
        restore. Settings a deploy would refuse are listed in the plan's ``problems``. With
        ``live`` (the default) it also says what a deploy would change against what is live
        (``diff``), reading the platform; ``live=False`` touches no platform (``render``).
        """
        key = inputs.deployment_id(config_id, "config_id")
        if isinstance(key, Failure):
            return key
        config = await self._configs.get(key.value)
        if config is None:
            return Failure(ErrorDetails.not_found("configuration", key.value.value))
        return Success(await self._plan_of(config, stored=True, live=live))

    async def plan_values(self, values: dict[str, Any], *, live: bool = True) -> Result[planning.DeploymentPlan]:
        """``plan`` for a configuration given as ``create_config_from`` takes it, storing nothing.

        An invalid configuration is the ``VALIDATION_ERROR`` creating it would be.
        """
        built = planning.unsaved_config(values, self._clock.now())
        if isinstance(built, Failure):
            return built
        return Success(await self._plan_of(built.value, stored=False, live=live))

    async def diff(self, config_id: DeploymentId | str) -> Result[differences.Diff]:
        """What deploying the configuration would change on its platform, against what is live there.

        Per object and field, secrets masked; nothing changes (``uno-deploy diff``). A platform
        that cannot be reached, or whose driver cannot read what is live, is a failure that says so.
        """
        key = inputs.deployment_id(config_id, "config_id")
        if isinstance(key, Failure):
            return key
        config = await self._configs.get(key.value)
        if config is None:
            return Failure(ErrorDetails.not_found("configuration", key.value.value))
        return await diffing.diff(config, self._runner.tools.platforms)

    async def diff_values(self, values: dict[str, Any]) -> Result[differences.Diff]:
        """``diff`` for a configuration given as ``create_config_from`` takes it, storing nothing."""
        built = planning.unsaved_config(values, self._clock.now())
        if isinstance(built, Failure):
            return built
        return await diffing.diff(built.value, self._runner.tools.platforms)

    async def _plan_of(self, config: DeploymentConfig, *, stored: bool, live: bool) -> planning.DeploymentPlan:
        drivers = self._runner.tools.platforms
        built = templates.default_pipeline(config, planning.PLANNED_DEPLOYMENT, self._clock.now(), drivers)
        query = DeploymentQuery(
            app_name=config.app_name,
            environment=config.environment,
            kind=DeploymentKind.DEPLOY,
            status=DeploymentStatus.SUCCEEDED,
            limit=1,
        )
        current = await self._deployments.find(query)
        lease = (lease_key(config), await self._leases.holder(config))
        strict = honouring.is_strict(config, None, self._strict_environments)
        serving = current[0] if current else None
        return await planning.plan(config, built, drivers, lease, serving, stored=stored, strict=strict, live=live)
