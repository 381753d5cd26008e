"""Shared fixtures: a container built by the real composition root, with test doubles."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import ScriptedAction
from uno.deployment import bootstrap
from uno.deployment.adapters.clocks import FakeClock
from uno.deployment.engine.actions import ActionRegistry
from uno.deployment.engine.builtin_actions import builtin_actions


@pytest.fixture
def environ() -> dict[str, Any]:
    """The deployer's environment as the engine sees it (a copy: tests may change it)."""
    import os

    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DB_PASSWORD": "s3cret-value"}


@pytest.fixture
def scripted() -> ScriptedAction:
    return ScriptedAction()


@pytest.fixture
def actions(scripted: ScriptedAction) -> ActionRegistry:
    registry = ActionRegistry(builtin_actions())
    registry.register(scripted)
    return registry


@pytest.fixture
def container(environ: dict[str, Any], actions: ActionRegistry) -> bootstrap.Container:
    return bootstrap.build(environ=environ, actions=actions)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(autouse=True)
def _forget_inject() -> Iterator[None]:
    yield
    bootstrap.reset()
