"""The platform steps of a pipeline: deploy, health-check, verify and roll back.

Each finds the driver for the configuration's platform and runs a strategy over it. A
platform without an installed driver fails the step saying so, and marks the outcome
``unavailable`` (the platform was not touched, so there is nothing to roll back).
"""

from __future__ import annotations

from typing import Any

from uno.core.errors import ErrorCode
from uno.core.result import Failure
from uno.deployment.domain.enums import DeploymentStrategy
from uno.deployment.engine.actions import ActionContext, ActionOutcome
from uno.deployment.ports.platforms import Release, VersionSet
from uno.deployment.strategies import blue_green, canary, recreate, reverting, rolling
from uno.deployment.strategies.canary_control import CanaryControl
from uno.deployment.strategies.steps import Rollout, RolloutOutcome, wait_healthy
from uno.deployment.strategies.tuning import tuning_for

STRATEGIES = {
    DeploymentStrategy.RECREATE: recreate.roll_out,
    DeploymentStrategy.ROLLING: rolling.roll_out,
    DeploymentStrategy.BLUE_GREEN: blue_green.roll_out,
    DeploymentStrategy.CANARY: canary.roll_out,
}


def _rollout(context: ActionContext, deployment_id: str) -> Rollout | ActionOutcome:
    """The rollout for this step, or the outcome that says why there is none."""
    config = context.config
    if config is None:
        return ActionOutcome.failed("this pipeline has no deployment configuration", unavailable=True)
    found = context.tools.platforms.driver_for(config)
    if isinstance(found, Failure):
        return ActionOutcome.failed(found.error.message, unavailable=True)
    checked = found.value.check(config)
    if isinstance(checked, Failure):
        return ActionOutcome.failed(checked.error.message, unavailable=True)
    tuning = tuning_for(config)
    if isinstance(tuning, Failure):
        return ActionOutcome.failed(tuning.error.message, unavailable=True)
    release = Release(deployment_id, config)
    return Rollout(found.value, release, config.resources.replicas_min, tuning.value, context.clock)


def _outputs(outcome: RolloutOutcome) -> dict[str, Any]:
    outputs: dict[str, Any] = {
        "version_set": outcome.live.id,
        "kept": [version.id for version in outcome.kept],
        "steps": list(outcome.steps),
    }
    if outcome.downtime_seconds is not None:
        outputs["downtime_seconds"] = round(outcome.downtime_seconds, 3)
    if outcome.analyses:
        outputs["analyses"] = list(outcome.analyses)
    if outcome.decisions:
        outputs["decisions"] = list(outcome.decisions)
    return outputs


class DeployStep:
    """Roll the configuration's release out with its strategy.

    Idempotent: run again for the same deployment (its runner died, or its worker handed
    it back), the strategy carries on from what the platform runs and what the earlier
    attempt recorded (``strategies.steps.survey``): it adopts the version set that attempt
    created and keeps the release that served before it. The earlier attempt's steps stay
    at the head of ``steps``.
    """

    kind = "deploy"
    free_form = False
    idempotent = True

    def check(self, params: dict[str, Any]) -> str | None:
        return f"deploy takes no parameters (got {', '.join(sorted(params))})" if params else None

    async def run(self, context: ActionContext) -> ActionOutcome:
        rollout = _rollout(context, context.pipeline.deployment_id.value)
        if isinstance(rollout, ActionOutcome):
            return rollout
        strategy = context.config.strategy if context.config else DeploymentStrategy.RECREATE
        rollout.control = CanaryControl(
            context.tools.decisions, context.pipeline.id, context.task.id, context.task.attempts
        )
        rollout.progress = context.progress
        earlier = context.task.outputs
        if isinstance(earlier.get("previous"), list):  # an earlier attempt of this task got that far
            rollout.previous = [str(version) for version in earlier["previous"]]
            rollout.steps = [str(step) for step in earlier.get("steps", [])]
            position = earlier.get("canary")
            if isinstance(position, dict) and isinstance(position.get("step"), int):
                rollout.resume_step = position["step"]
            await rollout.note(f"attempt {context.task.attempts} carries on from what the earlier one left")
        outcome = await STRATEGIES[strategy](rollout)
        if isinstance(outcome, Failure):
            untouched = outcome.error.code is ErrorCode.VALIDATION_ERROR  # refused before changing anything
            return ActionOutcome.failed(
                outcome.error.message,
                steps=rollout.steps,
                analyses=rollout.analyses,
                unavailable=untouched,
                **({"decisions": rollout.decisions} if rollout.decisions else {}),
                **{key: value for key, value in outcome.error.context.items() if key != "field"},
            )
        summary = f"{rollout.release.app_name} {rollout.release.version} serves 100% with {strategy.value}"
        return ActionOutcome.ok(summary, **_outputs(outcome.value))


async def _released_version(context: ActionContext) -> tuple[Rollout, VersionSet] | ActionOutcome:
    """The rollout and the running version set of the release this step checks (or why there is none)."""
    rollout = _rollout(context, _released(context))
    if isinstance(rollout, ActionOutcome):
        return rollout
    listed = await rollout.driver.list_versions(rollout.release.app_name, rollout.release.environment)
    if isinstance(listed, Failure):
        return ActionOutcome.failed(listed.error.message)
    mine = [version for version in listed.value if version.deployment_id == rollout.release.deployment_id]
    if not mine:
        return ActionOutcome.failed(f"no version set of deployment {rollout.release.deployment_id} is running")
    return rollout, mine[0]


class HealthCheckStep:
    """Wait until every replica of this deployment's version set is healthy."""

    kind = "health_check"
    free_form = False
    idempotent = True

    def check(self, params: dict[str, Any]) -> str | None:
        return None if not params else "health_check takes no parameters"

    async def run(self, context: ActionContext) -> ActionOutcome:
        found = await _released_version(context)
        if isinstance(found, ActionOutcome):
            return found
        rollout, live = found
        healthy = await wait_healthy(rollout, live)
        if isinstance(healthy, Failure):
            return ActionOutcome.failed(healthy.error.message, **healthy.error.context)
        return ActionOutcome.ok(f"{live.id}: {healthy.value.ready}/{healthy.value.total} replicas healthy")


class VerifyStep:
    """Check that this deployment's version set takes all the traffic and is healthy."""

    kind = "verify"
    free_form = False
    idempotent = True

    def check(self, params: dict[str, Any]) -> str | None:
        return None if not params else "verify takes no parameters"

    async def run(self, context: ActionContext) -> ActionOutcome:
        found = await _released_version(context)
        if isinstance(found, ActionOutcome):
            return found
        rollout, live = found
        if live.weight != 100:
            return ActionOutcome.failed(f"{live.id} takes {live.weight}% of the traffic, not 100%")
        health = await rollout.driver.version_health(live)
        if isinstance(health, Failure) or not health.value.healthy:
            reason = health.error.message if isinstance(health, Failure) else health.value.message or "not ready"
            return ActionOutcome.failed(f"{live.id} is not healthy: {reason}")
        return ActionOutcome.ok(f"{live.id} serves all traffic, {health.value.ready} replica(s) healthy")


class RollbackStep:
    """Put the release of ``to_deployment`` back in front of the traffic."""

    kind = "rollback"
    free_form = False
    idempotent = True

    def check(self, params: dict[str, Any]) -> str | None:
        if set(params) != {"to_deployment"} or not isinstance(params["to_deployment"], str):
            return "rollback needs 'to_deployment': the id of the deployment whose release to restore"
        return None

    async def run(self, context: ActionContext) -> ActionOutcome:
        rollout = _rollout(context, context.params["to_deployment"])
        if isinstance(rollout, ActionOutcome):
            return rollout
        outcome = await reverting.roll_back(rollout)
        if isinstance(outcome, Failure):
            return ActionOutcome.failed(outcome.error.message, steps=rollout.steps)
        return ActionOutcome.ok(f"{outcome.value.live.id} serves 100% again", **_outputs(outcome.value))


def _released(context: ActionContext) -> str:
    """Whose version set a check looks at: the restored release in a rollback, else this deployment's."""
    restoring = context.pipeline.task_named("rollback")
    if restoring is not None and isinstance(restoring.params.get("to_deployment"), str):
        return str(restoring.params["to_deployment"])
    return context.pipeline.deployment_id.value


def platform_steps() -> list[Any]:
    return [DeployStep(), HealthCheckStep(), VerifyStep(), RollbackStep()]
