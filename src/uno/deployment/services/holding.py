"""Holding the (application, environment) lease while a deployment runs here, and ending one by hand.

A run here takes the lease before it changes anything and does all its work inside
``LeaseHolder.holding``: the lease is renewed by a heartbeat, registered as the fence of
its place (so every record and pipeline write carries it), and released when the work
ends, however it ends. Invariants:

- a lost lease (this process stalled past the TTL and another holder took over) hands
  the run back, never ends it: nothing more is written here, and the new holder carries
  the deployment on from its journal;
- a run that is handed back on purpose (a stopping worker) is left ``running`` too;
- any other interruption ends the record (``Recorder.abandon``), so nothing stays ``running``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.deployments import DeploymentResult
from uno.deployment.domain.enums import DeploymentEnvironment, DeploymentStatus
from uno.deployment.domain.ids import DeploymentId
from uno.deployment.domain.pipelines import Pipeline
from uno.deployment.engine import logs
from uno.deployment.engine.running import PipelineRunner
from uno.deployment.ports.leases import Lease
from uno.deployment.ports.queue import DeploymentQueue
from uno.deployment.services import inputs
from uno.deployment.services.leasing import LeaseKeeper
from uno.deployment.services.orphans import holder_deployment
from uno.deployment.services.recording import LeaseLost, Recorder

_log = logs.get_logger("uno.deployment.deployments")  # structlog loads with the first line


class LeaseHolder:
    def __init__(self, leases: LeaseKeeper, runner: PipelineRunner, recorder: Recorder) -> None:
        self.leases = leases
        self._runner = runner
        self._recorder = recorder
        self.handing_back: set[DeploymentId] = set()  # runs here being handed back on purpose
        self.concluding: dict[DeploymentId, asyncio.Event] = {}  # runs here, until their outcome is stored

    async def holding(
        self,
        lease: Lease,
        record: DeploymentResult,
        pipeline: Pipeline | None,
        work: Coroutine[Any, Any, None],
        rolling_back: DeploymentResult | None = None,
    ) -> DeploymentResult:
        """Do ``work`` (running ``pipeline`` for ``record``) while holding ``lease``, every write fenced by it."""
        me = asyncio.current_task()

        def lost() -> None:
            if pipeline is not None:
                self._runner.hand_back(pipeline.id)
            if me is not None:
                me.cancel()

        concluded = self.concluding[record.id] = asyncio.Event()
        async with self.leases.held(lease, on_lost=lost) as holding:
            self._recorder.fences[lease.key] = lease
            try:
                await work
            except LeaseLost as refused:
                _log.warning("stopped: the lease was lost", deployment_id=record.id.value, reason=refused.error.message)
            except asyncio.CancelledError:
                if record.id in self.handing_back:
                    _log.info("handed back", deployment_id=record.id.value)
                    raise
                if not holding.lost:
                    await self._recorder.abandon(record, rolling_back, stopped=True)
                    raise
                _log.warning("handed back: the lease was lost", deployment_id=record.id.value)
            except BaseException:
                if not holding.lost:
                    await self._recorder.abandon(record, rolling_back, stopped=False)
                raise
            finally:
                self._recorder.fences.pop(lease.key, None)
                concluded.set()
                self.concluding.pop(record.id, None)
        return record

    async def release_by_hand(
        self,
        app_name: str,
        environment: DeploymentEnvironment | str,
        *,
        by: str,
        reason: str,
        queue: DeploymentQueue | None,
    ) -> Result[Lease]:
        """End the lease of an application in an environment by hand (see ``DeploymentService.release_lease``)."""
        chosen = inputs.enum_value(DeploymentEnvironment, environment, "environment")
        checked = (inputs.text(app_name, "app_name"), inputs.text(by, "by"), inputs.text(reason, "reason"))
        if problem := inputs.first_failure(chosen, *checked):
            return problem
        key = f"{app_name}/{chosen.value.value}"
        released = await self.leases.force_release(key)
        if released is None:
            return Failure(ErrorDetails.not_found("lease", key))
        note = {"by": by, "at": self._recorder.clock.now().isoformat(), "reason": reason, "holder": released.holder}
        _log.warning("lease released by hand", lease=key, **note)
        held = await self._recorder.deployments.get(DeploymentId.stored(holder_deployment(released.holder)))
        if held is not None:
            held.details.setdefault("lease_releases", []).append(note)
            await self._recorder.deployments.save(held)
            if queue is not None and held.status in (DeploymentStatus.QUEUED, DeploymentStatus.RUNNING):
                await queue.enqueue(held.id.value, key)
        return Success(released)
