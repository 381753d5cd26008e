"""The run's journal: every transition written through the repository, concurrent ones together.

Group commit: while one write is in flight, the transitions that arrive queue up and go
in the next single write; each writer returns once its own transitions are stored. A
write the store refuses (the pipeline vanished, was ended elsewhere, or the lease that
fences it was lost) raises ``LostPipeline`` in every writer of that batch, and no writer
is ever left waiting.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result
from uno.deployment.domain.enums import PipelineStatus, StageStatus, TaskStatus
from uno.deployment.domain.pipelines import Pipeline, PipelineEvent, Stage, Task, Transition
from uno.deployment.ports.leases import Lease
from uno.deployment.ports.repositories import PipelineRepository


class LostPipeline(Exception):
    """The store refused a transition (the pipeline vanished or was ended elsewhere)."""

    def __init__(self, error: ErrorDetails) -> None:
        super().__init__(error.message)
        self.error = error


class Journal:
    """Writes transitions through the repository, committing concurrent ones together."""

    def __init__(self, repository: PipelineRepository, pipeline: Pipeline, fence: Lease | None) -> None:
        self._repository = repository
        self._pipeline = pipeline
        self._fence = fence
        self._queue: list[tuple[list[Transition], asyncio.Future[Result[int]]]] = []
        self._flushing = False

    async def write(self, transitions: list[Transition]) -> None:
        if self._flushing:  # someone is writing: queue up and go with the next batch
            done: asyncio.Future[Result[int]] = asyncio.get_running_loop().create_future()
            self._queue.append((transitions, done))
            result = await done
        else:
            self._flushing = True
            batch: list[tuple[list[Transition], asyncio.Future[Result[int]]]] = []
            try:
                result = await self._repository.record(self._pipeline.id, transitions, self._fence)
                while self._queue:
                    batch, self._queue = self._queue, []
                    merged = [transition for queued, _ in batch for transition in queued]
                    batch_result = await self._repository.record(self._pipeline.id, merged, self._fence)
                    for _, waiter in batch:
                        waiter.set_result(batch_result)
            except BaseException:
                for _, waiter in [*batch, *self._queue]:  # never leave a writer waiting forever
                    if not waiter.done():
                        waiter.cancel()
                self._queue = []
                raise
            finally:
                self._flushing = False
        if isinstance(result, Failure):
            raise LostPipeline(result.error)
        self._pipeline.version = max(self._pipeline.version, result.value)


def ending(
    pipeline: Pipeline, status: PipelineStatus, now: datetime, reason: str
) -> list[tuple[PipelineEvent, Pipeline | Stage | Task]]:
    """The transitions that end every unfinished task and stage, then the pipeline, as ``status``.

    What had not started yet is canceled with a canceled pipeline and skipped with a failed
    one (the state machines let only what runs fail).
    """
    canceling = status is PipelineStatus.CANCELED
    changes: list[tuple[PipelineEvent, Pipeline | Stage | Task]] = []
    for stage in pipeline.stages:
        for task in stage.tasks:
            if not task.status.is_complete:
                waiting = TaskStatus.CANCELED if canceling else TaskStatus.SKIPPED
                ended = TaskStatus(status.value) if task.status is TaskStatus.RUNNING else waiting
                changes.append((task.move(pipeline.id, ended, now, reason), task))
        if not stage.status.is_complete:
            waiting_stage = StageStatus.CANCELED if canceling else StageStatus.SKIPPED
            stage_ended = StageStatus(status.value) if stage.status is StageStatus.RUNNING else waiting_stage
            changes.append((stage.move(pipeline.id, stage_ended, now, reason), stage))
    if not pipeline.status.is_complete:
        ended_as = status if pipeline.status is PipelineStatus.RUNNING else PipelineStatus.CANCELED
        changes.append((pipeline.move(ended_as, now, reason), pipeline))
    return changes
