"""The local agent in this process, with real replicas: what one app's removal must not do to another's.

Issue 14: removing a version set took its health monitor away before the version set, so
a backend sync running meanwhile raised ``KeyError``, which failed another application's
deploy and ended the sync loop for good. These tests hold a removal exactly there (its
monitor's close waits on an event) and act meanwhile, so the race is deterministic.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.local_support import HELLO, eventually
from uno.core.result import Success
from uno.deployment.adapters.platforms.local.agent import Agent

pytestmark = [pytest.mark.integration, pytest.mark.every_loop]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def creation(app: str, port: int) -> dict[str, Any]:
    return {
        "op": "create_version",
        "app": app,
        "environment": "dev",
        "version": "1.0.0",
        "deployment_id": f"deployment-{app}",
        "replicas": 1,
        "command": HELLO,
        "port": port,
        "health_path": "/health",
        "health_interval": 0.1,
        "env": {"HELLO_VERSION": "1.0.0"},
    }


@pytest.fixture
async def agent(tmp_path: Path) -> AsyncIterator[Agent]:
    agent = Agent(tmp_path / "local")
    try:
        yield agent
    finally:
        await agent._dispatch({"op": "shutdown"})
        await agent.close()


async def create(agent: Agent, app: str) -> str:
    created = await agent._dispatch(creation(app, free_port()))
    assert isinstance(created, Success), created
    return str(created.value["id"])


@contextlib.asynccontextmanager
async def removal_held_at_its_monitor(agent: Agent, version_id: str) -> AsyncIterator[asyncio.Task[Any]]:
    """Remove ``version_id``, holding the removal while it closes the version set's health monitor."""
    monitor = agent.monitors[version_id]
    entered, release = asyncio.Event(), asyncio.Event()
    close = monitor.close

    async def held_close() -> None:
        entered.set()
        await release.wait()
        await close()

    monitor.close = held_close  # type: ignore[method-assign]
    removal = asyncio.create_task(agent._dispatch({"op": "destroy_version", "version_set": version_id, "drain": 0}))
    await asyncio.wait_for(entered.wait(), 30)
    try:
        yield removal
    finally:
        release.set()
        assert await removal == Success(None)


async def test_another_apps_traffic_change_succeeds_while_a_version_set_is_removed(agent: Agent):
    stub = await create(agent, "stub")
    shop = await create(agent, "shop")

    async with removal_held_at_its_monitor(agent, stub):
        switched = await agent._dispatch(
            {"op": "set_traffic", "app": "shop", "environment": "dev", "weights": {shop: 100}}
        )

        assert switched == Success(None)


async def test_the_backend_sync_goes_on_while_a_version_set_is_removed(agent: Agent):
    stub = await create(agent, "stub")
    shop = await create(agent, "shop")
    agent.start_background()

    async with removal_held_at_its_monitor(agent, stub):
        sync = agent.background.report()
        await eventually(lambda: agent.sync_rounds >= 3, what="three rounds of the backend sync")

    assert [(loop.name, loop.failures) for loop in agent.background.report() if loop.name == "backend sync"] == [
        ("backend sync", 0)
    ]
    assert any(loop.name == "backend sync" for loop in sync)
    assert agent.routers["shop", "dev"].backends(shop)


async def test_a_loop_that_fails_is_restarted_and_reported_by_ping(agent: Agent):
    await create(agent, "shop")
    sync, calls = agent._sync_backends, []

    def failing_once() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise KeyError("stub-dev-1.0.0-80e015")
        sync()

    agent._sync_backends = failing_once  # type: ignore[method-assign]
    agent.start_background()
    await eventually(lambda: agent.sync_rounds >= 1, what="the backend sync running again")

    pinged = await agent._dispatch({"op": "ping"})
    assert isinstance(pinged, Success)
    assert {
        "name": "backend sync",
        "state": "running",
        "failures": 1,
        "last_error": "KeyError: 'stub-dev-1.0.0-80e015'",
    } in pinged.value["background"]
