"""Promote and abort a paused canary through the API (the fake platform, on a fake clock)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from uno.deployment import bootstrap
from uno.deployment.adapters.clocks import FakeClock
from uno.deployment.adapters.platforms.fake import FakeDriver
from uno.deployment.adapters.platforms.registry import DriverRegistry
from uno.deployment.entrypoints.http import create_app
from uno.deployment.ports.platforms import TrafficStats

SETTINGS = {
    "health_deadline_seconds": 2,
    "drain_seconds": 0,
    "canary": {"analysis_seconds": 5, "min_requests": 10, "pause_after": [10]},
}


@pytest.fixture
def platform() -> FakeDriver:
    driver = FakeDriver()
    driver.traffic["1.0.0"] = TrafficStats(1800, 9, 40.0, 100.0)
    driver.traffic["2.0.0"] = TrafficStats(200, 1, 40.0, 90.0)
    return driver


@pytest.fixture
async def steering(environ, memory_settings, platform, fake_clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    registry = DriverRegistry()
    registry.register("local", platform)
    container = bootstrap.build(memory_settings, environ=environ, platforms=registry, clock=fake_clock)
    app = create_app(container, auth=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def until(clock: FakeClock, condition: Callable[[], Awaitable[bool]], limit: int = 5_000) -> None:
    """Move fake time a second at a time until ``condition`` holds; the deployment runs in between."""
    for _ in range(limit):
        for _ in range(50):
            await asyncio.sleep(0)
        if await condition():
            return
        clock.advance(1.0)
    raise AssertionError("the condition never held")


async def release(client: httpx.AsyncClient, clock: FakeClock, config_id: str, version: str) -> str:
    await client.patch(f"/api/deployments/configs/{config_id}", json={"app_version": version})
    accepted = await client.post("/api/deployments/deploy", json={"config_id": config_id})
    assert accepted.status_code == 202, accepted.text
    return str(accepted.json()["deployment_id"])


def status_of(client: httpx.AsyncClient, deployment_id: str) -> Callable[[], Awaitable[dict[str, Any]]]:
    async def read() -> dict[str, Any]:
        return dict((await client.get(f"/api/deployments/status/{deployment_id}")).json())

    return read


async def paused_canary(client: httpx.AsyncClient, clock: FakeClock) -> str:
    created = await client.post(
        "/api/deployments/configs",
        json={
            "app_name": "shop",
            "app_version": "1.0.0",
            "environment": "staging",
            "strategy": "canary",
            "resources": {"replicas_min": 4, "replicas_max": 4},
            "security": {"scan_images": False},  # a scanner runs on the real clock, not the test's
            "custom_settings": SETTINGS,
        },
    )
    config_id = created.json()["id"]
    first = await release(client, clock, config_id, "1.0.0")
    read_first = status_of(client, first)

    async def first_done() -> bool:
        return (await read_first())["status"] == "succeeded"

    await until(clock, first_done)
    second = await release(client, clock, config_id, "2.0.0")
    read = status_of(client, second)

    async def paused() -> bool:
        return ((await read())["current_task_message"] or "").startswith("paused at 10%")

    await until(clock, paused)
    return second


async def test_a_paused_canary_is_promoted_through_the_api(steering: httpx.AsyncClient, fake_clock, platform):
    deployment_id = await paused_canary(steering, fake_clock)

    promoted = await steering.post(f"/api/deployments/{deployment_id}/promote", json={"full": True})

    assert promoted.status_code == 200, promoted.text
    read = status_of(steering, deployment_id)

    async def done() -> bool:
        return (await read())["status"] == "succeeded"

    await until(fake_clock, done)
    assert platform.serving() == {"2.0.0": 100}
    again = await steering.post(f"/api/deployments/{deployment_id}/promote")
    assert again.status_code == 409


async def test_a_paused_canary_is_aborted_through_the_api(steering: httpx.AsyncClient, fake_clock, platform):
    deployment_id = await paused_canary(steering, fake_clock)

    aborted = await steering.post(f"/api/deployments/{deployment_id}/abort", json={"reason": "latency"})

    assert aborted.status_code == 200, aborted.text
    read = status_of(steering, deployment_id)

    async def ended() -> bool:
        return (await read())["status"] == "failed"

    await until(fake_clock, ended)
    final = await read()
    assert "canary aborted at 10% by anonymous: latency" in final["message"]
    assert platform.serving() == {"1.0.0": 100}
