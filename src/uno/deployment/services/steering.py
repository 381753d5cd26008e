"""Steering a running canary deployment: which step a person's decision is for, and storing it.

``DeploymentService.promote`` and ``abort`` come here. The deploy step publishes where
its canary is (``canary_control.Position``, in the task's outputs); the decision goes
into that step's slot. The rollout settles a step's slot itself when it leaves it
undecided, so when a slot turns out to be settled by the rollout a moment ago, the
decision is for the step it went on to; one a person decided is a ``CONFLICT``.

Nothing here writes the deployment record or the pipeline: their runner owns them, and
may be another process. The decision reaches the rollout through the decisions store.
"""

from __future__ import annotations

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.deployments import DeploymentResult
from uno.deployment.domain.enums import DeploymentKind, DeploymentStatus, DeploymentStrategy, TaskStatus
from uno.deployment.domain.pipelines import Pipeline
from uno.deployment.ports.approvals import DecisionRepository
from uno.deployment.strategies import canary_control
from uno.deployment.strategies.canary_control import CanaryControl, CanaryDecision, Move, Position
from uno.deployment.strategies.tuning import tuning_for


async def steer(
    record: DeploymentResult, pipeline: Pipeline | None, decisions: DecisionRepository, decision: CanaryDecision
) -> Result[CanaryDecision]:
    """Store ``decision`` for the step the deployment's canary is at (or has just gone on to)."""
    verb = "abort" if decision.move is Move.ABORT else "promote"
    refused = _refusal(record, verb)
    if refused:
        return Failure(ErrorDetails.invalid_state(refused, deployment_id=record.id.value, status=record.status.value))
    found = _canary_in_progress(pipeline, decisions)
    if found is None:
        doing = _current_task(pipeline)
        message = f"deployment {record.id.value} has no canary step in progress to {verb} ({doing})"
        return Failure(ErrorDetails.invalid_state(message, deployment_id=record.id.value))
    control, position = found
    tuning = tuning_for(record.config)
    steps = tuning.value.canary.steps if not isinstance(tuning, Failure) else (position.step,)
    step: int | None = position.step
    while step is not None:
        if step == 100 and decision.move is not Move.ABORT:
            return _over(record, "is already going to 100%: there is nothing left to promote")
        stored = await control.decide(step, decision)
        if isinstance(stored, Success) or stored.error.code is not ErrorCode.CONFLICT:
            return stored
        existing = await control.decision(step)
        if existing is None or not existing.automatic:
            return stored  # a person decided this step first
        if existing.move is Move.ABORT:
            return _over(record, f"was already aborted at {step}%: {existing.reason}")
        step = next((later for later in steps if later > step), None)  # the rollout went on: follow it
    return _over(record, "already takes all the traffic: there is nothing left to steer")


def _refusal(record: DeploymentResult, verb: str) -> str | None:
    """Why the deployment has no canary to steer, whatever its pipeline says (None when it may)."""
    identifier = record.id.value
    if record.kind is DeploymentKind.ROLLBACK:
        return f"deployment {identifier} is a rollback: only a canary deploy can be promoted or aborted"
    if record.status.is_complete or record.status is DeploymentStatus.ROLLING_BACK:
        return f"deployment {identifier} already {record.status.value}: there is no canary to {verb}"
    if record.status is not DeploymentStatus.RUNNING:
        return f"deployment {identifier} is {record.status.value}: its canary has not started"
    if record.strategy is not DeploymentStrategy.CANARY:
        return f"deployment {identifier} deploys with {record.strategy.value}, not canary: there is nothing to {verb}"
    return None


def _canary_in_progress(
    pipeline: Pipeline | None, decisions: DecisionRepository
) -> tuple[CanaryControl, Position] | None:
    """The slots of the running deploy step's canary and where it is, if it is at a canary step."""
    if pipeline is None:
        return None
    for _, task in pipeline.tasks():
        position = canary_control.position_of(task) if task.action == "deploy" else None
        if position is not None:
            return CanaryControl(decisions, pipeline.id, task.id, position.attempt), position
    return None


def _current_task(pipeline: Pipeline | None) -> str:
    _, task = pipeline.current() if pipeline else (None, None)
    if task is None or task.status is not TaskStatus.RUNNING:
        return "no task of its pipeline is running"
    return f"its current task is {task.name!r}" + (f": {task.message}" if task.message else "")


def _over(record: DeploymentResult, what: str) -> Failure:
    return Failure(ErrorDetails.invalid_state(f"the canary of deployment {record.id.value} {what}"))
