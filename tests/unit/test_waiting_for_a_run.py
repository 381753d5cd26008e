"""A command following a deployment it runs is woken when the run ends, not at its next poll."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uno.core.result import Success
from uno.deployment.domain.deployments import DeploymentResult
from uno.deployment.domain.ids import new_deployment_id
from uno.deployment.services.dispatching import Dispatcher


def dispatcher() -> Dispatcher:
    unused = cast(Any, None)  # only the background runs are used here
    return Dispatcher(unused, unused, unused, unused, None, None)


async def test_the_wait_ends_when_the_run_here_ends_long_before_its_seconds():
    runs = dispatcher()
    deployment_id = new_deployment_id()
    finish = asyncio.Event()

    async def run() -> DeploymentResult:
        await finish.wait()
        return cast(DeploymentResult, None)

    runs.in_background(deployment_id, run())
    waiting = asyncio.create_task(runs.wait_ended(Success(deployment_id), 3600))
    await asyncio.sleep(0)
    assert not waiting.done()  # the run goes on: so does the wait

    finish.set()
    async with asyncio.timeout(30):  # an hour otherwise
        await waiting


async def test_a_run_that_is_not_here_is_waited_for_the_seconds_given():
    async with asyncio.timeout(30):
        await dispatcher().wait_ended(Success(new_deployment_id()), 0)
