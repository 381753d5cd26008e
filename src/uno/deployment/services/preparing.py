"""Preparing a deployment or a rollback: its record and its pipeline, before anything runs.

Nothing here writes: a prepared record and pipeline are stored by whoever runs or queues
them. A deploy snapshots its configuration and gets the default pipeline; a rollback
restores the latest successful release before its target (or the one ``to`` names),
optionally with the database backup its target took, and is refused with the reason
when there is nothing to restore (the rules are in ``rolling_back``).
"""

from __future__ import annotations

from collections.abc import Collection

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.deployments import DeploymentResult
from uno.deployment.domain.enums import DeploymentKind, DeploymentStatus
from uno.deployment.domain.ids import DeploymentId, new_deployment_id
from uno.deployment.domain.pipelines import Pipeline
from uno.deployment.engine import templates
from uno.deployment.ports.platforms import PlatformDrivers
from uno.deployment.ports.repositories import DeploymentConfigRepository, DeploymentQuery, PipelineRepository
from uno.deployment.services import honouring, inputs
from uno.deployment.services import rolling_back as rolling_back_rules
from uno.deployment.services.recording import Recorder


class Preparer:
    def __init__(
        self,
        configs: DeploymentConfigRepository,
        pipelines: PipelineRepository,
        recorder: Recorder,
        drivers: PlatformDrivers,
        strict_environments: Collection[str] = honouring.DEFAULT_STRICT_ENVIRONMENTS,
    ) -> None:
        self._configs = configs
        self._pipelines = pipelines
        self._recorder = recorder
        self._drivers = drivers
        self._strict_environments = frozenset(strict_environments)

    async def deployment(
        self,
        config_id: DeploymentId | str,
        description: str,
        identifier: DeploymentId | None = None,
        *,
        strict: bool | None = None,
        config_version: int | None = None,
    ) -> Result[tuple[DeploymentResult, Pipeline]]:
        """A deploy's record and pipeline, or the ``VALIDATION_ERROR`` that refuses it before anything changes.

        With ``config_version``, only that version of the configuration is deployed: one that
        changed since (another writer, between storing a file and deploying it) is a
        ``CONFLICT``, so a deploy never runs values other than those its caller stored.

        Unknown ``custom_settings`` keys are always refused; settings the platform does not
        honour are refused under ``strict`` (``None``: the environment decides), else noted
        on the record (``details["not_honoured"]``). Deprecated keys used are noted too
        (``details["deprecated"]``), never refused.
        """
        key = inputs.deployment_id(config_id, "config_id")
        checked_description = inputs.text(description, "description", required=False, max_length=2000)
        if problem := inputs.first_failure(key, checked_description):
            return problem
        config = await self._configs.get(key.value)
        if config is None:
            return Failure(ErrorDetails.not_found("configuration", key.value.value))
        if config_version is not None and config.version != config_version:
            message = (
                f"configuration {config.id.value} is at version {config.version}, not {config_version}:"
                " it changed since; deploy again to deploy what it holds now"
            )
            context = {"config_id": config.id.value, "version": config.version, "expected_version": config_version}
            return Failure(ErrorDetails(ErrorCode.CONFLICT, message, context))
        if unknown := honouring.unknown_custom_settings(config, self._drivers):
            return Failure(honouring.refusal(unknown, strict=False))
        ignored = honouring.not_honoured(config, self._drivers)
        if ignored and honouring.is_strict(config, strict, self._strict_environments):
            return Failure(honouring.refusal(ignored, strict=True))
        now = self._recorder.clock.now()
        record = DeploymentResult(
            id=identifier or new_deployment_id(),
            config_id=config.id,
            config=config,
            created_at=now,
            description=checked_description.value,
        )
        built = templates.default_pipeline(config, record.id, now, self._drivers)
        record.pipeline_id = built.pipeline.id
        record.details["pipeline_id"] = built.pipeline.id.value
        if built.left_out:
            record.details["left_out"] = built.left_out
        if ignored:
            record.details["not_honoured"] = ignored
        if deprecated := honouring.deprecated(config, self._drivers):
            record.details["deprecated"] = deprecated
        return Success((record, built.pipeline))

    async def rollback_of(
        self,
        deployment_id: DeploymentId | str,
        restore_database: bool,
        to: DeploymentId | str | None,
        identifier: DeploymentId | None = None,
    ) -> Result[tuple[DeploymentResult, Pipeline, DeploymentResult]]:
        """The rollback of ``deployment_id`` (its record, pipeline, and the target itself)."""
        found = await self._recorder.find(deployment_id)
        if isinstance(found, Failure):
            return found
        chosen = await self._release_to_restore(found.value, to)
        if isinstance(chosen, Failure):
            return chosen
        prepared = await self.rollback(
            found.value, restore_database=bool(restore_database), previous=chosen.value, identifier=identifier
        )
        if isinstance(prepared, Failure):
            return prepared
        record, pipeline = prepared.value
        return Success((record, pipeline, found.value))

    async def _release_to_restore(
        self, target: DeploymentResult, to: DeploymentId | str | None
    ) -> Result[DeploymentResult | None]:
        """The deployment ``to`` names, checked to be an earlier good release of the same app."""
        if to is None:
            return Success(None)
        chosen = await self._recorder.find(to)
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

    async def rollback(
        self,
        target: DeploymentResult,
        *,
        restore_database: bool,
        previous: DeploymentResult | None = None,
        identifier: DeploymentId | None = None,
    ) -> Result[tuple[DeploymentResult, Pipeline]]:
        """The record and pipeline that restore ``previous`` (by default the release before ``target``)."""
        refused = rolling_back_rules.refusal(target)
        if refused:
            return Failure(ErrorDetails.invalid_state(refused, deployment_id=target.id.value))
        previous = previous or await self.previous_release(target)
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
        now = self._recorder.clock.now()
        record = rolling_back_rules.record_for(target, previous, now, identifier)
        pipeline = rolling_back_rules.pipeline_for(record, previous, backup, now)
        record.pipeline_id = pipeline.id
        record.details["pipeline_id"] = pipeline.id.value
        return Success((record, pipeline))

    async def previous_release(self, target: DeploymentResult) -> DeploymentResult | None:
        """The latest successful deploy of the same place before ``target`` (what a rollback restores)."""
        query = DeploymentQuery(
            app_name=target.app_name,
            environment=target.environment,
            kind=DeploymentKind.DEPLOY,
            status=DeploymentStatus.SUCCEEDED,
            created_before=target.created_at,
            limit=1,
        )
        earlier = [record for record in await self._recorder.deployments.find(query) if record.id != target.id]
        return earlier[0] if earlier else None
