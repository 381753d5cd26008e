"""Waiting for background work through the API: poll with a deadline, never sleep blindly."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        assert loop.time() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.02)


async def settled(client: httpx.AsyncClient, deployment_id: str, **headers: str) -> dict[str, Any]:
    """The deployment's status once it has ended."""
    found: dict[str, Any] = {}

    async def ended() -> bool:
        found.update((await client.get(f"/api/deployments/status/{deployment_id}", headers=headers)).json())
        return found["status"] not in ("pending", "running")

    await until(ended)
    return found
