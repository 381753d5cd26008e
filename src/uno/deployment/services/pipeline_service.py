"""Building and running pipelines by hand: create, add stages and tasks, execute, cancel.

Who may define and run a free-form task (one that chooses what the server runs) is
``services.authority``'s rule: methods that define or run tasks take the ``caller``; the
Python library's calls are trusted.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain import texts
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.enums import PipelineStatus, StageStatus, TaskStatus
from uno.deployment.domain.ids import DeploymentId, PipelineId, StageId, TaskId
from uno.deployment.domain.pipelines import (
    DEFAULT_TASK_TIMEOUT,
    MAX_RETRIES,
    MAX_TASK_TIMEOUT,
    Pipeline,
    PipelineEvent,
    Stage,
    Task,
    Transition,
)
from uno.deployment.engine.actions import ActionRegistry
from uno.deployment.engine.running import PipelineRunner
from uno.deployment.ports.approvals import Decision, DecisionRepository
from uno.deployment.ports.clock import Clock
from uno.deployment.ports.leases import Lease
from uno.deployment.ports.repositories import (
    DeploymentConfigRepository,
    DeploymentResultRepository,
    PipelineQuery,
    PipelineRepository,
)
from uno.deployment.services import authority, inputs
from uno.deployment.services.leasing import LeaseKeeper


class PipelineService:
    def __init__(
        self,
        pipelines: PipelineRepository,
        configs: DeploymentConfigRepository,
        deployments: DeploymentResultRepository,
        decisions: DecisionRepository,
        runner: PipelineRunner,
        actions: ActionRegistry,
        leases: LeaseKeeper,
        clock: Clock,
    ) -> None:
        self._leases = leases
        self._pipelines = pipelines
        self._configs = configs
        self._deployments = deployments
        self._decisions = decisions
        self._runner = runner
        self._actions = actions
        self._clock = clock
        self._background: dict[PipelineId, asyncio.Task[None]] = {}

    async def create_pipeline(
        self, name: str, description: str = "", *, deployment_id: DeploymentId | str
    ) -> Result[Pipeline]:
        """A new, empty pipeline for a configuration or a deployment (``deployment_id`` names either)."""
        checked_name, checked_description = (
            inputs.text(name, "name"),
            inputs.text(description, "description", required=False, max_length=2000),
        )
        owner = inputs.deployment_id(deployment_id)
        if problem := inputs.first_failure(checked_name, checked_description, owner):
            return problem
        config_id = await self._config_id_of(owner.value)
        if config_id is None:
            return Failure(ErrorDetails.not_found("configuration or deployment", owner.value.value))
        pipeline = Pipeline(
            id=PipelineId.new(),
            name=checked_name.value,
            description=checked_description.value,
            deployment_id=owner.value,
            config_id=config_id,
            created_at=self._clock.now(),
        )
        return await self._pipelines.add(pipeline)

    async def add_stage(
        self, pipeline_id: PipelineId | str, name: str, description: str = "", fail_fast: bool = True
    ) -> Result[Stage]:
        """Append a stage; stages run in the order they were added."""
        found, checked_name = await self._pending(pipeline_id), inputs.text(name, "name")
        checked_description = inputs.text(description, "description", required=False, max_length=2000)
        if problem := inputs.first_failure(found, checked_name, checked_description):
            return problem
        pipeline = found.value
        if any(stage.name == checked_name.value for stage in pipeline.stages):
            return Failure(ErrorDetails.validation("name", f"pipeline already has a stage named {name!r}"))
        stage = Stage(StageId.new(), checked_name.value, checked_description.value, fail_fast=bool(fail_fast))
        pipeline.stages.append(stage)
        saved = await self._pipelines.save(pipeline)
        return Success(stage) if isinstance(saved, Success) else saved

    async def add_task(
        self,
        pipeline_id: PipelineId | str,
        stage_id: StageId | str,
        name: str,
        description: str = "",
        dependencies: list[TaskId] | list[str] | None = None,
        action: str | None = None,
        params: dict[str, Any] | None = None,
        timeout: float = DEFAULT_TASK_TIMEOUT,
        retries: int = 0,
        skip_on_failure: bool = False,
        *,
        caller: authority.Caller = authority.TRUSTED,
    ) -> Result[Task]:
        """Add a task to a stage; everything about it is checked now, not when it runs.

        ``FORBIDDEN`` when its action is free-form and ``caller`` is no admin.
        """
        found, checked_name = await self._pending(pipeline_id), inputs.text(name, "name")
        stage_key = inputs.identifier(StageId, stage_id, "stage_id")
        checked_description = inputs.text(description, "description", required=False, max_length=2000)
        if problem := inputs.first_failure(
            found, checked_name, checked_description, stage_key, _limits(timeout, retries)
        ):
            return problem
        pipeline = found.value
        stage = pipeline.stage(stage_key.value)
        if stage is None:
            return Failure(ErrorDetails.not_found("stage", stage_key.value.value))
        if pipeline.task_named(checked_name.value) is not None:
            return Failure(ErrorDetails.validation("name", f"pipeline already has a task named {name!r}"))
        needed = _task_ids(dependencies)
        if isinstance(needed, Failure):
            return needed
        if params is not None and (bad := texts.json_problem(params)) is not None:
            where, message = bad
            return Failure(ErrorDetails.validation(f"params{'.' + where if where else ''}", message))
        if problem_text := pipeline.dependency_problem(stage, needed.value):
            return Failure(ErrorDetails.validation("dependencies", problem_text))
        resolved = self._actions.resolve(checked_name.value, action, params)
        if isinstance(resolved, Failure):
            return resolved
        kind, checked_params = resolved.value
        if refused := authority.may_define(self._actions, kind, caller):
            return refused
        task = Task(
            TaskId.new(),
            checked_name.value,
            kind,
            checked_description.value,
            checked_params,
            needed.value,
            timeout=float(timeout),
            retries=retries,
            skip_on_failure=bool(skip_on_failure),
            authorized_by=caller.name if self._actions.free_form(kind) else "",
        )
        stage.tasks.append(task)
        saved = await self._pipelines.save(pipeline)
        return Success(task) if isinstance(saved, Success) else saved

    async def get_pipeline(self, pipeline_id: PipelineId | str) -> Result[Pipeline]:
        key = inputs.identifier(PipelineId, pipeline_id, "pipeline_id")
        if isinstance(key, Failure):
            return key
        pipeline = await self._pipelines.get(key.value)
        return Success(pipeline) if pipeline else Failure(ErrorDetails.not_found("pipeline", key.value.value))

    async def list_pipelines(
        self, deployment_id: DeploymentId | str | None = None, limit: int = 100, offset: int = 0
    ) -> Result[list[Pipeline]]:
        owner = inputs.deployment_id(deployment_id) if deployment_id is not None else Success(None)
        if problem := inputs.first_failure(owner, inputs.page(limit, offset)):
            return problem
        return Success(await self._pipelines.find(PipelineQuery(deployment_id=owner.value, limit=limit, offset=offset)))

    async def get_events(self, pipeline_id: PipelineId | str, after: int = 0) -> Result[list[PipelineEvent]]:
        """The pipeline's journal: every status change in order."""
        found = await self.get_pipeline(pipeline_id)
        if isinstance(found, Failure):
            return found
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            return Failure(ErrorDetails.validation("after", "must be a whole number >= 0"))
        return Success(await self._pipelines.events(found.value.id, after=after))

    async def execute_pipeline(
        self, pipeline_id: PipelineId | str, *, caller: authority.Caller = authority.TRUSTED
    ) -> Result[Pipeline]:
        """Run a pending pipeline to its end and return it (its ``status`` says how it ended)."""
        found = await self._runnable(pipeline_id, caller)
        if isinstance(found, Failure):
            return found
        pipeline = found.value
        config = await self._config_for(pipeline)
        if config is None:
            return await self._runner.run(pipeline, None)
        lease = await self._leases.acquire(config, pipeline.id.value)
        if isinstance(lease, Failure):
            return lease
        async with self._leases.held(lease.value):
            return await self._runner.run(pipeline, config, lease.value)

    async def start_pipeline(
        self, pipeline_id: PipelineId | str, *, caller: authority.Caller = authority.TRUSTED
    ) -> Result[Pipeline]:
        """``execute_pipeline``, returning the pipeline as soon as it is on its way.

        It runs in this process's background; follow it with ``get_pipeline`` or its events.
        """
        found = await self._runnable(pipeline_id, caller)
        if isinstance(found, Failure):
            return found
        pipeline = found.value
        if pipeline.id in self._background or self._runner.is_running(pipeline.id):
            return Failure(ErrorDetails.invalid_state(f"pipeline {pipeline.id.value} is already running"))
        config = await self._config_for(pipeline)
        lease = await self._leases.acquire(config, pipeline.id.value) if config is not None else None
        if isinstance(lease, Failure):
            return lease
        self._background[pipeline.id] = asyncio.create_task(
            self._run_started(pipeline, config, lease.value if lease else None), name=f"pipeline {pipeline.id.value}"
        )
        self._background[pipeline.id].add_done_callback(lambda _: self._background.pop(pipeline.id, None))
        return Success(pipeline)

    async def stop_background(self) -> None:
        """Stop the pipelines ``start_pipeline`` left running here: each ends ``canceled``."""
        running = list(self._background.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    async def _run_started(self, pipeline: Pipeline, config: DeploymentConfig | None, lease: Lease | None) -> None:
        if lease is None:
            await self._runner.run(pipeline, config)
            return
        async with self._leases.held(lease):
            await self._runner.run(pipeline, config, lease)

    async def resume_pipeline(
        self, pipeline_id: PipelineId | str, *, caller: authority.Caller = authority.TRUSTED
    ) -> Result[Pipeline]:
        """Carry on a pipeline whose runner died (it is ``running`` and nothing runs it).

        Finished tasks are kept; interrupted ones run again when idempotent and fail
        otherwise. ``CONFLICT`` while a live runner elsewhere holds the environment's lease.
        """
        found = await self.get_pipeline(pipeline_id)
        if isinstance(found, Failure):
            return found
        pipeline = found.value
        if pipeline.status is not PipelineStatus.RUNNING or self._runner.is_running(pipeline.id):
            state = "running in this process" if self._runner.is_running(pipeline.id) else pipeline.status.value
            return Failure(ErrorDetails.invalid_state(f"pipeline {pipeline.id.value} is {state}: nothing to resume"))
        if refused := authority.may_run(self._actions, pipeline, caller):
            return refused
        config = await self._config_for(pipeline)
        if config is None:
            return await self._runner.resume(pipeline, None)
        lease = await self._leases.acquire(config, f"{pipeline.id.value}#resumed")
        if isinstance(lease, Failure):
            return lease
        async with self._leases.held(lease.value):
            return await self._runner.resume(pipeline, config, lease.value)

    async def approve(
        self, pipeline_id: PipelineId | str, task_id: TaskId | str, by: str = "user", comment: str = ""
    ) -> Result[Decision]:
        """Let an approval gate pass. The first decision on a gate wins; a second is a ``CONFLICT``."""
        return await self._decide(pipeline_id, task_id, True, by, comment)

    async def reject(
        self, pipeline_id: PipelineId | str, task_id: TaskId | str, by: str = "user", comment: str = ""
    ) -> Result[Decision]:
        """Stop an approval gate: its task fails with the rejection as its message."""
        return await self._decide(pipeline_id, task_id, False, by, comment)

    async def _decide(
        self, pipeline_id: PipelineId | str, task_id: TaskId | str, approved: bool, by: str, comment: str
    ) -> Result[Decision]:
        found = await self.get_pipeline(pipeline_id)
        key = inputs.identifier(TaskId, task_id, "task_id")
        checked_by, checked_comment = (
            inputs.text(by, "by"),
            inputs.text(comment, "comment", required=False, max_length=2000),
        )
        if problem := inputs.first_failure(found, key, checked_by, checked_comment):
            return problem
        pipeline, gate = found.value, found.value.task(key.value)
        if gate is None or gate.action != "approval":
            return Failure(ErrorDetails.not_found("approval gate", key.value.value))
        if gate.status.is_complete:
            return Failure(ErrorDetails.invalid_state(f"approval gate {gate.name!r} already {gate.status.value}"))
        decision = Decision(pipeline.id, gate.id, approved, checked_by.value, self._clock.now(), checked_comment.value)
        return await self._decisions.decide(decision)

    async def cancel_pipeline(self, pipeline_id: PipelineId | str, canceled_by: str = "user") -> Result[Pipeline]:
        """Stop a pipeline: a running one stops promptly, a pending one never starts."""
        found = await self.get_pipeline(pipeline_id)
        if isinstance(found, Failure):
            return found
        pipeline = found.value
        if pipeline.status.is_complete:
            return Failure(ErrorDetails.invalid_state(f"pipeline {pipeline.id.value} already {pipeline.status.value}"))
        if self._runner.request_cancel(pipeline.id, canceled_by):
            await self._runner.wait(pipeline.id)
            return await self.get_pipeline(pipeline.id)
        return await self._cancel_stored(pipeline, canceled_by)

    async def _cancel_stored(self, pipeline: Pipeline, canceled_by: str) -> Result[Pipeline]:
        """Cancel a pipeline no runner in this process holds (pending, or left by a crash)."""
        now, reason = self._clock.now(), f"canceled by {canceled_by}"
        orphaned = pipeline.status is PipelineStatus.RUNNING
        changes = []
        for stage in pipeline.stages:
            for task in stage.tasks:
                if not task.status.is_complete:
                    changes.append(Transition.of(task.move(pipeline.id, TaskStatus.CANCELED, now, reason), task))
            if not stage.status.is_complete:
                changes.append(Transition.of(stage.move(pipeline.id, StageStatus.CANCELED, now, reason), stage))
        pipeline.canceled_by = canceled_by
        message = reason + (" (no runner was alive)" if orphaned else "")
        changes.append(Transition.of(pipeline.move(PipelineStatus.CANCELED, now, message), pipeline))
        recorded = await self._pipelines.record(pipeline.id, changes)
        if isinstance(recorded, Failure):
            return recorded
        pipeline.version = recorded.value
        return Success(pipeline)

    async def _runnable(self, pipeline_id: PipelineId | str, caller: authority.Caller) -> Result[Pipeline]:
        """The pending pipeline, if it has tasks and ``caller`` may run every one of them."""
        found = await self._pending(pipeline_id)
        if isinstance(found, Failure):
            return found
        if not any(stage.tasks for stage in found.value.stages):
            return Failure(ErrorDetails.validation("stages", "the pipeline has no tasks: add stages and tasks first"))
        return authority.may_run(self._actions, found.value, caller) or found

    async def _pending(self, pipeline_id: PipelineId | str) -> Result[Pipeline]:
        found = await self.get_pipeline(pipeline_id)
        if isinstance(found, Success) and found.value.status is not PipelineStatus.PENDING:
            return Failure(
                ErrorDetails.invalid_state(
                    f"pipeline {found.value.id.value} is {found.value.status.value}; only a pending pipeline "
                    "can be changed or executed",
                    status=found.value.status.value,
                )
            )
        return found

    async def _config_id_of(self, owner: DeploymentId) -> DeploymentId | None:
        if await self._configs.get(owner) is not None:
            return owner
        record = await self._deployments.get(owner)
        return record.config_id if record else None

    async def _config_for(self, pipeline: Pipeline) -> DeploymentConfig | None:
        record = await self._deployments.get(pipeline.deployment_id)
        if record is not None:
            return record.config
        return await self._configs.get(pipeline.config_id) if pipeline.config_id else None


def _limits(timeout: Any, retries: Any) -> Result[None]:
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not 0 < timeout <= MAX_TASK_TIMEOUT
        or math.isnan(timeout)
    ):
        return Failure(
            ErrorDetails.validation("timeout", f"must be a number of seconds above 0, at most {MAX_TASK_TIMEOUT:g}")
        )
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        return Failure(ErrorDetails.validation("retries", f"must be a whole number from 0 to {MAX_RETRIES}"))
    return Success(None)


def _task_ids(dependencies: Any) -> Result[list[TaskId]]:
    if dependencies is None:
        return Success([])
    if not isinstance(dependencies, list | tuple):
        return Failure(ErrorDetails.validation("dependencies", "must be a list of task ids"))
    ids = []
    for index, dependency in enumerate(dependencies):
        key = inputs.identifier(TaskId, dependency, f"dependencies[{index}]")
        if isinstance(key, Failure):
            return key
        ids.append(key.value)
    return Success(ids)
