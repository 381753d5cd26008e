"""Running a pipeline: stages in order, ready tasks concurrently, every change recorded.

Rules (each is tested):
- a stage starts every task whose dependencies succeeded, at most ``max_parallel`` at once;
- a task whose dependency failed, was skipped or canceled is skipped, with the reason;
- a task failure fails its stage unless the task has ``skip_on_failure``; with
  ``fail_fast`` the stage then cancels its running tasks and starts no more;
- a failed or canceled stage skips the stages after it and decides the pipeline's status;
- every task has a timeout that cancels it (a command's process group is killed), and
  retries with exponential backoff on the engine's clock;
- every transition is stored, with its event in the journal, before the next one that
  depends on it starts; concurrent transitions are committed together (group commit);
- what a task leaves behind (its message, its outputs, its progress notes) has every
  secret value the server knows of replaced by ``***`` before it is stored or logged
  (``secrecy.Redactor``).

Scheduling is O(tasks + dependencies) per stage: each task counts the dependencies it
still waits for, and a finished task updates only its own dependents.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.enums import PipelineStatus, StageStatus, TaskStatus
from uno.deployment.domain.ids import PipelineId
from uno.deployment.domain.pipelines import Pipeline, PipelineEvent, Stage, Task, Transition
from uno.deployment.engine import journaling, logs, secrecy
from uno.deployment.engine.actions import ActionContext, ActionOutcome, ActionRegistry, Tools
from uno.deployment.engine.telemetry import Observers
from uno.deployment.ports.clock import Clock
from uno.deployment.ports.leases import Lease
from uno.deployment.ports.repositories import PipelineRepository

RETRY_BACKOFF = 1.0
RETRY_BACKOFF_MAX = 60.0


@dataclass
class _Run:
    pipeline: Pipeline
    config: DeploymentConfig | None
    journal: journaling.Journal
    tasks: dict[str, Task]  # by task id value
    stage_of: dict[str, Stage]  # a task's stage, by task id value
    log: Any
    observers: Observers
    clock: Clock
    redactor: secrecy.Redactor
    cancel_requested: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    canceled_by: str | None = None
    handing_back: bool = False
    wake: Callable[[None], None] | None = None  # lets a cancel request interrupt the stage's wait

    async def record(self, *changes: tuple[PipelineEvent, Pipeline | Stage | Task]) -> None:
        await self.journal.write([Transition.of(event, subject) for event, subject in changes])
        for event, subject in changes:
            logs.log_transition(self.log, event, subject, self.stage_of.get(event.subject_id))
            self.observers.pipeline_moved(event, subject)

    def redactor_for(self, task: Task) -> secrecy.Redactor:
        return self.redactor.also(secrecy.task_secrets(task.params))

    async def note(self, task: Task, message: str, outputs: dict[str, Any]) -> None:
        """A running task's progress: stored through the journal like a transition, logged as progress."""
        redactor = self.redactor_for(task)
        task.outputs = {**task.outputs, **redactor.value(outputs)}
        event = task.note(self.pipeline.id, self.clock.now(), redactor.text(message))
        # shielded: a cancellation must not cut the journal's write short for others
        await asyncio.shield(self.journal.write([Transition.of(event, task)]))
        logs.log_progress(self.log, event, task, self.stage_of.get(event.subject_id))


class PipelineRunner:
    def __init__(
        self,
        pipelines: PipelineRepository,
        actions: ActionRegistry,
        tools: Tools,
        *,
        max_parallel: int = 8,
        log_floor: int = logging.DEBUG,
        observers: Observers | None = None,
    ) -> None:
        self._log_floor = log_floor
        self.observers = observers or Observers()
        self._pipelines = pipelines
        self._actions = actions
        self._tools = tools
        self._clock = tools.clock
        self._max_parallel = max(1, max_parallel)
        self._runs: dict[PipelineId, _Run] = {}
        self._early_cancels: dict[PipelineId, str] = {}

    @property
    def tools(self) -> Tools:
        """The ports the actions use: whoever decides for a running action (a person) writes there."""
        return self._tools

    def is_running(self, pipeline_id: PipelineId) -> bool:
        return pipeline_id in self._runs

    def request_cancel(self, pipeline_id: PipelineId, by: str, *, before_start: bool = False) -> bool:
        """Ask a pipeline running in this process to stop; False if none is running here.

        ``before_start``: the caller knows the pipeline is about to run here (it started
        it a moment ago): the request waits for it, and it stops as soon as it starts.
        """
        run = self._runs.get(pipeline_id)
        if run is None:
            if before_start:
                self._early_cancels[pipeline_id] = by
            return before_start
        run.canceled_by = run.canceled_by or by
        run.cancel_requested.set()
        if run.wake is not None:
            run.wake(None)
        return True

    async def wait(self, pipeline_id: PipelineId) -> None:
        """Return when the pipeline running here (if any) has finished."""
        run = self._runs.get(pipeline_id)
        if run is not None:
            await run.finished.wait()

    async def run(
        self, pipeline: Pipeline, config: DeploymentConfig | None, fence: Lease | None = None
    ) -> Result[Pipeline]:
        """Run a pending pipeline to its end; ``Failure`` only if its record was lost.

        With ``fence`` (the lease its caller holds), every write carries it: once the lease
        is lost, the next write is refused and the run stops there, writing nothing more.
        """
        if pipeline.status is not PipelineStatus.PENDING:
            return Failure(ErrorDetails.invalid_state(f"pipeline {pipeline.id.value} is {pipeline.status.value}"))
        return await self._drive(pipeline, config, resuming=False, fence=fence)

    async def resume(
        self, pipeline: Pipeline, config: DeploymentConfig | None, fence: Lease | None = None
    ) -> Result[Pipeline]:
        """Carry on a pipeline whose runner died: keep what finished, redo what was interrupted.

        A task left ``running`` is run again if its action is idempotent, and failed
        otherwise (running a migration or a command twice is not ours to risk).
        """
        if pipeline.status is not PipelineStatus.RUNNING:
            return Failure(ErrorDetails.invalid_state(f"pipeline {pipeline.id.value} is {pipeline.status.value}"))
        return await self._drive(pipeline, config, resuming=True, fence=fence)

    def hand_back(self, pipeline_id: PipelineId) -> bool:
        """Mark a run here to be handed back, not ended: when its task is cancelled next, the
        pipeline is left ``running`` with its journal, for another runner to ``resume``."""
        run = self._runs.get(pipeline_id)
        if run is None:
            return False
        run.handing_back = True
        return True

    async def _drive(
        self, pipeline: Pipeline, config: DeploymentConfig | None, *, resuming: bool, fence: Lease | None
    ) -> Result[Pipeline]:
        if pipeline.id in self._runs:
            return Failure(ErrorDetails.invalid_state(f"pipeline {pipeline.id.value} is already running here"))
        tasks = {task.id.value: task for _, task in pipeline.tasks()}
        stage_of = {task.id.value: stage for stage, task in pipeline.tasks()}
        log = logs.run_logger(pipeline, config, self._log_floor)
        run = _Run(
            pipeline,
            config,
            journaling.Journal(self._pipelines, pipeline, fence),
            tasks,
            stage_of,
            log,
            self.observers,
            self._clock,
            secrecy.Redactor.for_run(config, self._tools.environ, self._tools.known_secrets),
        )
        self._runs[pipeline.id] = run
        if (early := self._early_cancels.pop(pipeline.id, None)) is not None:
            self.request_cancel(pipeline.id, early)
        try:
            if resuming:
                await self._requeue_interrupted(run)
            else:
                await run.record((pipeline.move(PipelineStatus.RUNNING, self._clock.now()), pipeline))
            for stage in pipeline.stages:
                if stage.status.is_complete:
                    continue
                if _halted(pipeline) or run.cancel_requested.is_set():
                    await self._skip_stage(run, stage)
                else:
                    await _StageRun(self, run, stage).execute()
            await self._finish(run)
            return Success(pipeline)
        except journaling.LostPipeline as lost:
            return Failure(lost.error)
        except asyncio.CancelledError:
            if not run.handing_back:
                await self._stopped(run)
            raise
        finally:
            del self._runs[pipeline.id]
            run.finished.set()

    async def _stopped(self, run: _Run) -> None:
        """The runner itself was cancelled (shut down): end the pipeline as canceled, not stuck.

        Only a crash leaves a pipeline ``running`` for ``resume``; an orderly stop says so.
        """
        reason = "the runner was stopped before the pipeline finished"
        changes = journaling.ending(run.pipeline, PipelineStatus.CANCELED, self._clock.now(), reason)
        with contextlib.suppress(journaling.LostPipeline):
            await run.record(*changes)

    async def end(
        self,
        pipeline: Pipeline,
        status: PipelineStatus,
        reason: str,
        fence: Lease | None = None,
        config: DeploymentConfig | None = None,
    ) -> Result[Pipeline]:
        """End a pipeline whose runner died without running anything more (``failed`` or ``canceled``).

        Every task and stage not finished ends with it, for ``reason``; a pipeline running
        here is not for this (cancel it instead).
        """
        if pipeline.id in self._runs:
            return Failure(ErrorDetails.invalid_state(f"pipeline {pipeline.id.value} is running here"))
        changes = journaling.ending(pipeline, status, self._clock.now(), reason)
        if not changes:
            return Success(pipeline)
        try:
            await journaling.Journal(self._pipelines, pipeline, fence).write([Transition.of(e, s) for e, s in changes])
        except journaling.LostPipeline as lost:
            return Failure(lost.error)
        log = logs.run_logger(pipeline, config, self._log_floor)
        for event, subject in changes:
            logs.log_transition(log, event, subject, None)
            self.observers.pipeline_moved(event, subject)
        return Success(pipeline)

    async def _requeue_interrupted(self, run: _Run) -> None:
        now, changes = self._clock.now(), []
        for _, task in run.pipeline.tasks():
            if task.status is not TaskStatus.RUNNING:
                continue
            action = self._actions.get(task.action)
            if action is not None and _idempotent(action, task):
                event = task.move(run.pipeline.id, TaskStatus.PENDING, now, "interrupted; running it again")
            else:
                reason = "interrupted when its runner stopped; not idempotent, so not run again"
                event = task.move(run.pipeline.id, TaskStatus.FAILED, now, reason)
            changes.append((event, task))
        if changes:
            await run.record(*changes)

    async def _finish(self, run: _Run) -> None:
        pipeline, now = run.pipeline, self._clock.now()
        failed = [stage for stage in pipeline.stages if stage.status is StageStatus.FAILED]
        if run.cancel_requested.is_set():
            pipeline.canceled_by = run.canceled_by
            event = pipeline.move(PipelineStatus.CANCELED, now, f"canceled by {run.canceled_by}")
        elif failed:
            event = pipeline.move(PipelineStatus.FAILED, now, f"stage {failed[0].name!r} failed: {failed[0].message}")
        else:
            event = pipeline.move(PipelineStatus.SUCCEEDED, now, "all stages succeeded")
        await run.record((event, pipeline))

    async def _skip_stage(self, run: _Run, stage: Stage) -> None:
        now = self._clock.now()
        if run.cancel_requested.is_set():
            status, task_status, reason = StageStatus.CANCELED, TaskStatus.CANCELED, f"canceled by {run.canceled_by}"
        else:
            status, task_status, reason = StageStatus.SKIPPED, TaskStatus.SKIPPED, "an earlier stage failed"
        changes: list[tuple[PipelineEvent, Pipeline | Stage | Task]] = [
            (stage.move(run.pipeline.id, status, now, reason), stage)
        ]
        changes += [(task.move(run.pipeline.id, task_status, now, reason), task) for task in stage.tasks]
        await run.record(*changes)

    async def attempts(self, run: _Run, stage: Stage, task: Task) -> ActionOutcome:
        """Run a task's action until it succeeds or its retries are spent."""
        action = self._actions.get(task.action)
        if action is None:
            return ActionOutcome.failed(f"action {task.action!r} is not registered in this process")
        context = ActionContext(run.pipeline, stage, task, run.config, self._tools, functools.partial(run.note, task))
        outcome, redactor = ActionOutcome.failed("never attempted"), run.redactor_for(task)
        for attempt in range(1, task.retries + 2):
            if attempt > 1:
                await self._clock.sleep(min(RETRY_BACKOFF * 2 ** (attempt - 2), RETRY_BACKOFF_MAX))
                message = f"attempt {attempt} of {task.retries + 1} after: {outcome.message}"
                # shielded: a cancellation must not cut the journal's write short for others
                await asyncio.shield(run.record((task.retry(run.pipeline.id, self._clock.now(), message), task)))
            outcome = _redacted(await _attempt(action.run(context), self._clock, task.timeout), redactor)
            if outcome.succeeded:
                break
        return outcome


class _StageRun:
    """One stage's scheduling: ready tasks start, finished tasks release their dependents."""

    def __init__(self, runner: PipelineRunner, run: _Run, stage: Stage) -> None:
        self.runner, self.run, self.stage = runner, run, stage
        self.clock = runner._clock
        self.waiting_on: dict[str, int] = {}  # keyed by task id value, as below
        self.dependents: dict[str, list[Task]] = {}
        self.ready: deque[Task] = deque()
        self.blocked: list[tuple[Task, Task]] = []
        self.active: dict[asyncio.Task[ActionOutcome], Task] = {}
        self.finished: asyncio.Queue[asyncio.Task[ActionOutcome] | None] = asyncio.Queue()
        self.halt: str | None = None
        failed = [task for task in stage.tasks if task.status is TaskStatus.FAILED and not task.skip_on_failure]
        if failed and stage.fail_fast:  # a resumed stage that already failed starts nothing new
            self.halt = f"task {failed[0].name!r} failed and the stage is fail-fast"
        self._plan()

    def _plan(self) -> None:
        """Count each pending task's unfinished dependencies; finished ones satisfy or block it."""
        for task in self.stage.tasks:
            if task.status is not TaskStatus.PENDING:
                continue  # finished before a resume
            pending = 0
            blocker = None
            for dependency_id in task.dependencies:
                key = dependency_id.value
                dependency = self.run.tasks[key]
                if dependency.status in (TaskStatus.PENDING, TaskStatus.RUNNING):
                    pending += 1
                    self.dependents.setdefault(key, []).append(task)
                elif dependency.status is not TaskStatus.SUCCEEDED:
                    blocker = blocker or dependency
            self.waiting_on[task.id.value] = pending
            if blocker is not None:
                self.blocked.append((task, blocker))
            elif pending == 0:
                self.ready.append(task)

    async def execute(self) -> None:
        run, stage = self.run, self.stage
        if stage.status is StageStatus.PENDING:
            await run.record((stage.move(run.pipeline.id, StageStatus.RUNNING, self.clock.now()), stage))
        for task, dependency in self.blocked:
            await self._skip(task, dependency)
        run.wake = self.finished.put_nowait
        try:
            while True:
                if run.cancel_requested.is_set() and self.halt is None:
                    self.halt = f"canceled by {run.canceled_by}"
                if self.halt:
                    await self._cancel_active(self.halt)
                await self._start_ready()
                if not self.active:
                    break
                finished = [await self.finished.get()]
                while not self.finished.empty():  # settle everything that is done in one write
                    finished.append(self.finished.get_nowait())
                await self._settle([future for future in finished if future is not None and future in self.active])
        finally:
            run.wake = None
            await self._cancel_active("the pipeline runner stopped")
        await self._close()

    async def _start_ready(self) -> None:
        """Start every ready task the limit allows, their starts stored in one write first."""
        starting: list[Task] = []
        while self.ready and self.halt is None and len(self.active) + len(starting) < self.runner._max_parallel:
            starting.append(self.ready.popleft())
        if not starting:
            return
        now, pipeline_id = self.clock.now(), self.run.pipeline.id
        await self.run.record(*((task.move(pipeline_id, TaskStatus.RUNNING, now), task) for task in starting))
        for task in starting:
            future = asyncio.create_task(self.runner.attempts(self.run, self.stage, task))
            future.add_done_callback(self.finished.put_nowait)
            self.active[future] = task

    async def _settle(self, futures: list[asyncio.Task[ActionOutcome]]) -> None:
        await self._conclude([(self.active.pop(future), future.result()) for future in futures])

    async def _conclude(self, results: list[tuple[Task, ActionOutcome]]) -> None:
        """Store finished tasks in one write, then release or skip what depends on them."""
        now, pipeline_id = self.clock.now(), self.run.pipeline.id
        changes: list[tuple[PipelineEvent, Pipeline | Stage | Task]] = []
        for task, outcome in results:
            task.outputs = {**task.outputs, **outcome.outputs}
            status = TaskStatus.SUCCEEDED if outcome.succeeded else TaskStatus.FAILED
            changes.append((task.move(pipeline_id, status, now, outcome.message), task))
        if changes:
            await self.run.record(*changes)
        for task, outcome in results:
            if outcome.succeeded:
                self._release(task)
                continue
            await self._skip_dependents(task)
            if not task.skip_on_failure and self.stage.fail_fast and self.halt is None:
                self.halt = f"task {task.name!r} failed and the stage is fail-fast"

    def _release(self, task: Task) -> None:
        for dependent in self.dependents.get(task.id.value, ()):
            self.waiting_on[dependent.id.value] -= 1
            if self.waiting_on[dependent.id.value] == 0 and dependent.status is TaskStatus.PENDING:
                self.ready.append(dependent)

    async def _skip_dependents(self, task: Task) -> None:
        for dependent in self.dependents.get(task.id.value, ()):
            if dependent.status is TaskStatus.PENDING:
                await self._skip(dependent, task)

    async def _skip(self, task: Task, dependency: Task) -> None:
        reason = f"dependency {dependency.name!r} {dependency.status.value}"
        await self.run.record((task.move(self.run.pipeline.id, TaskStatus.SKIPPED, self.clock.now(), reason), task))
        await self._skip_dependents(task)

    async def _cancel_active(self, reason: str) -> None:
        if not self.active:
            return
        for future in self.active:
            future.cancel()
        if self.run.handing_back:  # leave them running in the journal: the next runner redoes them
            await asyncio.gather(*self.active, return_exceptions=True)
            self.active.clear()
            return
        for future, task in list(self.active.items()):
            try:
                outcome = await future
            except asyncio.CancelledError:
                event = task.move(self.run.pipeline.id, TaskStatus.CANCELED, self.clock.now(), reason)
                await self.run.record((event, task))
                await self._skip_dependents(task)
            else:
                await self._conclude([(task, outcome)])
        self.active.clear()

    async def _close(self) -> None:
        run, stage, now = self.run, self.stage, self.clock.now()
        canceled = run.cancel_requested.is_set()
        leftover = TaskStatus.CANCELED if canceled else TaskStatus.SKIPPED
        changes: list[tuple[PipelineEvent, Pipeline | Stage | Task]] = [
            (task.move(run.pipeline.id, leftover, now, self.halt or "not started"), task)
            for task in stage.tasks
            if task.status is TaskStatus.PENDING
        ]
        failed = [task for task in stage.tasks if task.status is TaskStatus.FAILED and not task.skip_on_failure]
        if canceled:
            changes.append((stage.move(run.pipeline.id, StageStatus.CANCELED, now, self.halt or "canceled"), stage))
        elif failed:
            message = f"task {failed[0].name!r} failed: {failed[0].message}"
            changes.append((stage.move(run.pipeline.id, StageStatus.FAILED, now, message), stage))
        else:
            changes.append((stage.move(run.pipeline.id, StageStatus.SUCCEEDED, now), stage))
        await run.record(*changes)


async def _attempt(coroutine: Coroutine[Any, Any, ActionOutcome], clock: Clock, timeout: float) -> ActionOutcome:
    try:
        async with clock.timeout(timeout):
            return await coroutine
    except TimeoutError:
        return ActionOutcome.failed(f"timed out after {timeout:g}s", timed_out=True)
    except Exception as error:  # an action's bug fails its task, not the engine
        return ActionOutcome.failed(f"action raised {type(error).__name__}: {error}", error=repr(error))


def _redacted(outcome: ActionOutcome, redactor: secrecy.Redactor) -> ActionOutcome:
    return ActionOutcome(outcome.succeeded, redactor.text(outcome.message), redactor.value(outcome.outputs))


def _idempotent(action: Any, task: Task) -> bool:
    """Whether running the task twice is safe: an action's ``idempotent`` flag or rule."""
    flag = getattr(action, "idempotent", False)
    return bool(flag(task.params) if callable(flag) else flag)


def _halted(pipeline: Pipeline) -> bool:
    return any(stage.status in (StageStatus.FAILED, StageStatus.CANCELED) for stage in pipeline.stages)
