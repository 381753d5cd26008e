"""``diff`` on the local platform: the agent's state against a configuration, secrets by name only."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.local_support import SECRET_APP, release
from uno.core.errors import ErrorCode
from uno.deployment.adapters.platforms.local import processes
from uno.deployment.adapters.platforms.local.driver import LocalDriver
from uno.deployment.domain import differences

pytestmark = pytest.mark.integration

SECRET = "d1ff-s3cret-4a7e"


@pytest.fixture
async def driver(tmp_path: Path) -> AsyncIterator[LocalDriver]:
    driver = LocalDriver(tmp_path / "local", {"PATH": os.environ.get("PATH", ""), "DB_PASSWORD": SECRET})
    try:
        yield driver
    finally:
        await driver.shutdown()


async def compared(driver: LocalDriver, made) -> differences.Diff:
    read = await driver.live_objects(made)
    assert read.is_success(), read
    objects = tuple(
        differences.compare(item.kind, item.name, item.wanted, item.live, secret_names=["DB_PASSWORD"], note=item.note)
        for item in read.value
    )
    return differences.Diff("shop", "dev", "local", objects)


async def test_the_agents_state_against_the_configuration_it_runs_and_a_changed_one(driver: LocalDriver):
    settings = {"command": [sys.executable, "-c", SECRET_APP], "port": processes.free_port(set())}
    running = release(settings, secrets=("DB_PASSWORD",), env={"LOG_LEVEL": "info"})
    nothing_yet = await compared(driver, running)
    assert [(item.kind, item.change) for item in nothing_yet.objects] == [("Router", "added"), ("Processes", "added")]
    assert not driver.socket_path.exists()  # reading what is live started no agent

    created = await driver.create_version(running, running.config.resources.replicas_min)
    assert created.is_success(), created
    assert (await driver.set_traffic("shop", "dev", {created.value.id: 100})).is_success()

    same = await compared(driver, running)
    assert not same.changed, [item.to_document() for item in same.objects]

    changed = await compared(driver, release(settings, secrets=("DB_PASSWORD",), env={"LOG_LEVEL": "debug"}))
    processes_diff = changed.objects[1]
    assert [item.to_document() for item in processes_diff.fields] == [
        {"path": "env.LOG_LEVEL", "change": "changed", "before": "info", "after": "debug"}
    ]
    assert processes_diff.note == f"compared with version set {created.value.id} (1.0.0)"
    shown = repr(changed.to_document())
    assert "'secrets': " not in shown  # as field lines, not the raw bodies
    assert SECRET not in shown
    assert 'secrets[0]: "DB_PASSWORD"' in processes_diff.live_lines


async def test_an_agent_that_holds_replicas_but_does_not_answer_is_unavailable(tmp_path: Path):
    recorded = tmp_path / "local" / "processes" / "supervisor.json"
    recorded.parent.mkdir(parents=True)
    recorded.write_text('{"format": 1, "versions": {}}')
    driver = LocalDriver(tmp_path / "local", {})
    settings = {"command": [sys.executable, "-c", SECRET_APP], "port": processes.free_port(set())}

    read = await driver.live_objects(release(settings))

    assert read.is_failure()
    assert read.error.code is ErrorCode.UNAVAILABLE
    assert read.error.message.startswith("the local agent does not answer on ")
