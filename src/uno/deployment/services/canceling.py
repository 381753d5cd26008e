"""Canceling a deployment, wherever it runs: here, on a worker, in no process at all.

- Run here: its pipeline is asked to stop, and the call returns once the outcome
  (``canceled``, with who stopped it) is stored.
- Started here a moment ago: the request waits for the runner to have it.
- Queued and not taken: the job is withdrawn and the record canceled.
- Run by a worker (queue execution): the request is stored in the decisions store,
  which the worker watches (``CANCEL_REQUEST``); it stops the run within a second or two.
- Run by nobody (its runner died: an orphan): it is ended as canceled here (``Recovery.cancel``).
"""

from __future__ import annotations

import asyncio

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.deployments import DeploymentResult
from uno.deployment.domain.enums import DeploymentStatus
from uno.deployment.domain.ids import DeploymentId, TaskId
from uno.deployment.engine.running import PipelineRunner
from uno.deployment.ports.approvals import Decision
from uno.deployment.ports.queue import DeploymentQueue
from uno.deployment.services import inputs
from uno.deployment.services.dispatching import Dispatcher
from uno.deployment.services.holding import LeaseHolder
from uno.deployment.services.recording import Recorder
from uno.deployment.services.recovering import Recovery

CANCEL_REQUEST = TaskId("cancel-request")
"""Where a cancel asked for in another process is kept: the decisions store, beside the pipeline's gates."""


class Canceler:
    def __init__(
        self,
        runner: PipelineRunner,
        recorder: Recorder,
        holder: LeaseHolder,
        dispatcher: Dispatcher,
        recovery: Recovery,
    ) -> None:
        self._runner = runner
        self._recorder = recorder
        self._holder = holder
        self._dispatcher = dispatcher
        self._recovery = recovery

    async def cancel(self, deployment_id: DeploymentId | str, canceled_by: str) -> Result[DeploymentResult]:
        checked_by = inputs.text(canceled_by, "canceled_by", max_length=2000)
        if isinstance(checked_by, Failure):
            return checked_by
        found = await self._recorder.find(deployment_id)
        if isinstance(found, Failure):
            return found
        record, canceled_by = found.value, checked_by.value
        if record.status.is_complete or record.pipeline_id is None:
            return Failure(ErrorDetails.invalid_state(f"deployment {record.id.value} already {record.status.value}"))
        started_here = self._dispatcher.started_here.get(record.id)
        if started_here is not None and not self._runner.is_running(record.pipeline_id):
            # started in the background a moment ago: it stops as soon as the runner has it
            self._runner.request_cancel(record.pipeline_id, canceled_by, before_start=True)
            await asyncio.wait({started_here})
            return await self._recorder.find(record.id)
        if self._runner.request_cancel(record.pipeline_id, canceled_by):
            await self._runner.wait(record.pipeline_id)
            concluded = self._holder.concluding.get(record.id)
            if concluded is not None:
                await concluded.wait()  # the run here stores its outcome after the pipeline ends
            return await self._recorder.find(record.id)
        if self._dispatcher.queue is not None:
            return await self._cancel_queued(self._dispatcher.queue, record, canceled_by)
        orphan = await self._recovery.cancel(record, canceled_by)
        if orphan is not None:
            return orphan
        return Failure(
            ErrorDetails.invalid_state(
                f"deployment {record.id.value} is {record.status.value} but no runner in this process holds it",
                status=record.status.value,
            )
        )

    async def _cancel_queued(
        self, queue: DeploymentQueue, record: DeploymentResult, canceled_by: str
    ) -> Result[DeploymentResult]:
        """Cancel a deployment another worker holds or no worker took yet."""
        job_id = str(record.details.get("job_id", ""))
        if record.status is DeploymentStatus.QUEUED and job_id and await queue.withdraw(job_id):
            await self._recorder.move(record, DeploymentStatus.CANCELED, f"canceled before it started by {canceled_by}")
            return Success(record)
        if record.pipeline_id is None:
            return Failure(ErrorDetails.invalid_state(f"deployment {record.id.value} can no longer be canceled"))
        # The worker running it watches for this request and stops the run as a cancel here would.
        now = self._recorder.clock.now()
        request = Decision(record.pipeline_id, CANCEL_REQUEST, False, canceled_by, now, "cancel")
        asked = await self._runner.tools.decisions.decide(request)
        if isinstance(asked, Failure):
            return Failure(ErrorDetails.conflict(f"a cancel of {record.id.value} was already asked for"))
        return Success(record)  # still running: its worker stops it within a second or two
