"""Health checks over real sockets: the probe against real and misbehaving servers, the monitor on replicas."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.integration.local_support import FLAGGED_APP, HELLO, eventually, supervising
from uno.deployment.adapters.platforms.local.health import HealthMonitor, ProbeResult, Readiness, check
from uno.deployment.adapters.platforms.local.supervising import Supervisor

pytestmark = [pytest.mark.integration, pytest.mark.every_loop]  # the agent runs these parts on uvloop

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[int]:
    """A TCP server on 127.0.0.1 running ``handler`` per connection; yields its port."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def answering(payload: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(payload)
        await writer.drain()

    return handler


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()  # until the prober gives up and closes


async def hanging_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def supervisor(tmp_path: Path) -> AsyncIterator[Supervisor]:
    async with supervising(tmp_path / "state") as supervisor:
        yield supervisor


async def test_a_healthy_replica_answers_200(supervisor: Supervisor):
    [replica] = await supervisor.start_version("hello-1", HELLO, replicas=1, env={})
    result = await eventually_answered(replica.port)

    assert (result.healthy, result.status, result.error) == (True, 200, None)
    assert result.elapsed > 0


async def eventually_answered(port: int) -> ProbeResult:
    """The first probe that got an HTTP answer (the replica binds its port a moment after it starts)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while (result := await check("127.0.0.1", port, "/health", 5.0)).status is None:
        assert loop.time() < deadline, f"last result: {result}"
        await asyncio.sleep(0.02)
    return result


@pytest.mark.parametrize(
    ("payload", "healthy", "status"),
    [
        (b"HTTP/1.1 204 No Content\r\n\r\n", True, 204),
        (b"HTTP/1.0 301 Moved Permanently\r\nLocation: /\r\nContent-Length: 0\r\n\r\n", True, 301),
        (b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found", False, 404),
        (b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n", False, 500),
        (b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", False, 503),
    ],
)
async def test_2xx_and_3xx_are_healthy_anything_else_is_not(payload: bytes, healthy: bool, status: int):
    async with raw_server(answering(payload)) as port:
        result = await check("127.0.0.1", port, "/health", 5.0)

    assert (result.healthy, result.status) == (healthy, status)
    assert (result.error is None) == healthy


@pytest.mark.parametrize(
    ("handler", "error"),
    [
        (answering(b"SSH-2.0-OpenSSH_9.6\r\n"), "not an HTTP status line"),
        (hanging_up, "connection closed before an HTTP answer"),
        (silent, "no answer within 0.2s"),
    ],
)
async def test_servers_that_do_not_speak_http_are_unhealthy(handler: Handler, error: str):
    async with raw_server(handler) as port:
        result = await check("127.0.0.1", port, "/health", 0.2)

    assert (result.healthy, result.status) == (False, None)
    assert error in (result.error or "")


async def test_nothing_listening_is_unhealthy_not_an_exception():
    result = await check("127.0.0.1", closed_port(), "/health", 5.0)

    assert (result.healthy, result.status) == (False, None)
    assert "refused" in (result.error or "").lower()


async def test_the_monitor_waits_for_healthy_replicas(supervisor: Supervisor):
    await supervisor.start_version("hello-1", HELLO, replicas=2, env={})
    monitor = HealthMonitor(supervisor, interval=0.05)
    try:
        assert await monitor.wait_healthy("hello-1", deadline=time.monotonic() + 30)
        assert monitor.ready_count("hello-1") == 2
    finally:
        await monitor.close()


async def test_a_replica_answering_500_turns_unhealthy_after_three_failures(tmp_path: Path, supervisor: Supervisor):
    flag = tmp_path / "fail"
    argv = [sys.executable, "-c", FLAGGED_APP]
    await supervisor.start_version("flagged-1", argv, replicas=1, env={"FLAG": str(flag)})
    monitor = HealthMonitor(supervisor, interval=0.05, unhealthy_threshold=3)
    try:
        assert await monitor.wait_healthy("flagged-1", deadline=time.monotonic() + 30)
        flag.touch()
        seen = set()

        def unhealthy() -> bool:
            [replica] = monitor.health("flagged-1")
            seen.add((replica.readiness, min(replica.failures, 3)))
            return replica.readiness is Readiness.UNHEALTHY

        await eventually(unhealthy, what="the replica unhealthy")
        assert seen <= {
            (Readiness.HEALTHY, 0),
            (Readiness.HEALTHY, 1),
            (Readiness.HEALTHY, 2),
            (Readiness.UNHEALTHY, 3),
        }
        last = monitor.health("flagged-1")[0].last
        assert last is not None
        assert last.status == 500
        assert (monitor.ready_count("flagged-1"), monitor.is_healthy("flagged-1")) == (0, False)
    finally:
        await monitor.close()


async def test_wait_healthy_gives_up_at_the_deadline_for_a_replica_never_healthy(
    tmp_path: Path, supervisor: Supervisor
):
    flag = tmp_path / "fail"
    flag.touch()
    await supervisor.start_version(
        "flagged-1", [sys.executable, "-c", FLAGGED_APP], replicas=1, env={"FLAG": str(flag)}
    )
    monitor = HealthMonitor(supervisor, interval=0.05)
    try:
        assert not await monitor.wait_healthy("flagged-1", deadline=time.monotonic() + 1.0)
        assert monitor.ready_count("flagged-1") == 0
    finally:
        await monitor.close()
