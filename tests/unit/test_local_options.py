"""The local platform's settings and its agent's wire protocol."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.contract.test_repositories import T0
from uno.core.errors import ErrorCode
from uno.core.result import Failure, Success
from uno.deployment.adapters.platforms.local import options, wire
from uno.deployment.domain import configuring
from uno.deployment.domain.ids import new_config_id


def config_with(settings: dict) -> object:
    given = {"app_name": "shop", "app_version": "1.0.0", "environment": "dev", "custom_settings": settings}
    return configuring.build(new_config_id(), given, T0).value


def test_defaults_fill_what_is_not_given():
    parsed = options.options_for(config_with({"command": ["python", "app.py"], "port": 8000})).value

    assert parsed == options.LocalOptions(("python", "app.py"), 8000, "/healthz", None, 1.0, 5.0, 1, 3)
    assert (parsed.log_max_bytes, parsed.log_backups) == (10 * 1024 * 1024, 3)


def test_log_rotation_is_set_in_bytes_and_backups():
    settings = {"command": ["python"], "port": 8000, "log_max_bytes": 1024, "log_backups": 0}

    parsed = options.options_for(config_with(settings)).value

    assert (parsed.log_max_bytes, parsed.log_backups) == (1024, 0)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"port": 8000}, "custom_settings.command"),
        ({"command": "python app.py", "port": 8000}, "custom_settings.command"),
        ({"command": ["python"]}, "custom_settings.port"),
        ({"command": ["python"], "port": 70000}, "custom_settings.port"),
        ({"command": ["python"], "port": 8000, "health_path": "healthz"}, "custom_settings.health_path"),
        ({"command": ["python"], "port": 8000, "health_timeout_seconds": 0}, "custom_settings.health_timeout_seconds"),
        ({"command": ["python"], "port": 8000, "log_max_bytes": 1023}, "custom_settings.log_max_bytes"),
        ({"command": ["python"], "port": 8000, "log_max_bytes": "10MB"}, "custom_settings.log_max_bytes"),
        ({"command": ["python"], "port": 8000, "log_max_bytes": 2048.0}, "custom_settings.log_max_bytes"),
        ({"command": ["python"], "port": 8000, "log_backups": -1}, "custom_settings.log_backups"),
        ({"command": ["python"], "port": 8000, "log_backups": True}, "custom_settings.log_backups"),
        ({"command": ["python"], "port": 8000, "log_backups": 101}, "custom_settings.log_backups"),
    ],
)
def test_bad_settings_name_their_field(settings, field):
    result = options.options_for(config_with(settings))

    assert result.error.code is ErrorCode.VALIDATION_ERROR
    assert result.error.context["field"] == field


def test_a_bad_log_size_says_what_is_allowed():
    result = options.options_for(config_with({"command": ["python"], "port": 8000, "log_max_bytes": 0}))

    assert "custom_settings.log_max_bytes" in str(result.error)
    assert "whole number of bytes from 1024 (1 KiB) to 1099511627776 (1 TiB)" in result.error.message


async def test_a_call_round_trips_and_a_dead_agent_is_unavailable(tmp_path: Path):
    socket_path = tmp_path / "agent.sock"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = json.loads(await reader.readline())
        if request["op"] == "fail":
            reply = wire.answer(Failure(wire.ErrorDetails(ErrorCode.NOT_FOUND, "no such version", {})))
        else:
            reply = wire.answer(Success({"echo": request["op"]}))
        writer.write(wire.encode(reply))
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_unix_server(serve, path=str(socket_path))
    async with server:
        ok = await wire.call(socket_path, {"op": "ping"}, timeout=5)
        failed = await wire.call(socket_path, {"op": "fail"}, timeout=5)
    dead = await wire.call(tmp_path / "nobody.sock", {"op": "ping"}, timeout=5)

    assert ok.value == {"echo": "ping"}
    assert (failed.error.code, failed.error.message) == (ErrorCode.NOT_FOUND, "no such version")
    assert dead.error.code is ErrorCode.UNAVAILABLE
