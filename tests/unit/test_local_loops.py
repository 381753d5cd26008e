"""Which event loop the local agent picks."""

from __future__ import annotations

import asyncio

import pytest

from uno.deployment.adapters.platforms.local import loops


def test_uvloop_where_installed_unless_the_environment_says_asyncio():
    assert loops.chosen({}) == "uvloop"
    assert loops.chosen({loops.ENVIRONMENT_VARIABLE: "asyncio"}) == "asyncio"
    assert loops.chosen({loops.ENVIRONMENT_VARIABLE: " UVLoop "}) == "uvloop"
    assert loops.chosen({loops.ENVIRONMENT_VARIABLE: ""}) == "uvloop"


def test_without_uvloop_it_is_asyncio_and_insisting_on_uvloop_is_an_error(monkeypatch):
    monkeypatch.setattr(loops, "_uvloop_factory", lambda: None)

    assert loops.chosen({}) == "asyncio"
    with pytest.raises(ValueError, match="UNO_DEPLOY_LOCAL_LOOP=uvloop but uvloop is not installed"):
        loops.chosen({loops.ENVIRONMENT_VARIABLE: "uvloop"})


def test_an_unknown_loop_is_named_in_the_error():
    with pytest.raises(ValueError, match="UNO_DEPLOY_LOCAL_LOOP='tornado': expected one of uvloop, asyncio"):
        loops.chosen({loops.ENVIRONMENT_VARIABLE: "tornado"})


@pytest.mark.parametrize("name", loops.LOOPS)
def test_run_runs_on_that_loop_and_returns_the_result(name):
    async def which() -> str:
        return type(asyncio.get_running_loop()).__module__

    module = loops.run(which(), name)

    assert module.startswith("uvloop") if name == "uvloop" else module.startswith("asyncio")
