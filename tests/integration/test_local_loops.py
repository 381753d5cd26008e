"""The local agent's event loop: uvloop by default, asyncio on request, and a wrong choice refused in one line."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from uno.core.errors import ErrorCode
from uno.core.result import Failure, Success
from uno.deployment.adapters.platforms.local import loops, wire
from uno.deployment.adapters.platforms.local.driver import LocalDriver


@pytest.mark.parametrize(("choice", "expected"), [(None, "uvloop"), ("asyncio", "asyncio"), ("uvloop", "uvloop")])
async def test_the_agent_runs_on_the_chosen_loop_and_says_so(tmp_path: Path, monkeypatch, choice, expected):
    if choice is None:
        monkeypatch.delenv(loops.ENVIRONMENT_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(loops.ENVIRONMENT_VARIABLE, choice)
    driver = LocalDriver(tmp_path / "local", {})
    try:
        listed = await driver.list_versions("hello", "dev")  # the first call starts the agent

        pinged = await wire.call(driver.socket_path, {"op": "ping"}, timeout=5)
        assert listed == Success([])
        assert isinstance(pinged, Success)
        assert pinged.value["loop"] == expected
        log = await asyncio.to_thread((tmp_path / "local" / "agent.log").read_text)
        assert f"on {expected}" in log
    finally:
        assert (await driver.shutdown()).is_success()


async def test_a_loop_nobody_knows_is_refused_at_once_in_one_line(tmp_path: Path, monkeypatch):
    monkeypatch.setenv(loops.ENVIRONMENT_VARIABLE, "trio")
    driver = LocalDriver(tmp_path / "local", {})

    listed = await driver.list_versions("hello", "dev")

    assert isinstance(listed, Failure)
    assert listed.error.code is ErrorCode.UNAVAILABLE
    assert listed.error.message == (
        "the local agent did not start: local agent not started: "
        "UNO_DEPLOY_LOCAL_LOOP='trio': expected one of uvloop, asyncio"
    )
    assert not driver.socket_path.exists()
