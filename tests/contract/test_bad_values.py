"""Every store refuses a value no store can hold (NUL, lone surrogates, too deep) the same way:
a ``VALIDATION_ERROR`` naming where it is, nothing written, every later read unharmed.

These values are refused where they come in (``domain.texts``); the repositories check
again as a defence, so a gap at the boundary is never a half-written row, a 503 that
says the store is down, or a list that fails from then on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.contract.test_repositories import BACKENDS, Repositories, a_config, a_pipeline, a_record
from uno.core.errors import ErrorCode
from uno.deployment.domain.ids import DeploymentId
from uno.deployment.ports.repositories import ConfigQuery, DeploymentQuery, PipelineQuery, StorageError

BAD = ["a\x00b", "a\ud800b"]


@pytest.fixture(params=sorted(BACKENDS))
async def repos(request: pytest.FixtureRequest) -> AsyncIterator[Repositories]:
    made = BACKENDS[request.param](request)
    yield made
    await made.close()


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


async def lists_still_answer(repos: Repositories) -> None:
    assert isinstance(await repos.configs.find(ConfigQuery()), list)
    assert isinstance(await repos.deployments.find(DeploymentQuery()), list)
    assert isinstance(await repos.pipelines.find(PipelineQuery()), list)


@pytest.mark.parametrize("bad", BAD)
async def test_a_config_holding_a_bad_text_is_refused_and_not_stored(repos: Repositories, bad: str) -> None:
    config = a_config().model_copy(update={"description": bad})  # past the model's own check

    refused = await repos.configs.add(config)

    assert refused.error.code is ErrorCode.VALIDATION_ERROR
    assert refused.error.context["field"] == "description"
    assert await repos.configs.get(config.id) is None
    await lists_still_answer(repos)


@pytest.mark.parametrize("bad", [*BAD, nested(100)])
async def test_a_pipeline_holding_a_bad_param_is_refused_on_add_and_save(repos: Repositories, bad: Any) -> None:
    config = a_config()
    await repos.configs.add(config)
    pipeline = a_pipeline(config.id)
    pipeline.stages[0].tasks[0].params["x"] = bad

    refused = await repos.pipelines.add(pipeline)

    assert refused.error.code is ErrorCode.VALIDATION_ERROR
    assert refused.error.context["field"].startswith("stages[0].tasks[0].params.x")
    assert await repos.pipelines.get(pipeline.id) is None
    good = a_pipeline(config.id)
    assert (await repos.pipelines.add(good)).is_success()
    good.stages[0].name = bad if isinstance(bad, str) else "s"
    good.stages[0].tasks[0].params = {"seconds": 0, "x": bad}
    assert (await repos.pipelines.save(good)).error.code is ErrorCode.VALIDATION_ERROR
    assert (await repos.pipelines.get(good.id)).stages[0].tasks[0].params == {"seconds": 0}
    await lists_still_answer(repos)


@pytest.mark.parametrize("bad", BAD)
async def test_a_deployment_record_holding_a_bad_text_is_refused(repos: Repositories, bad: str) -> None:
    config = a_config()
    await repos.configs.add(config)
    record = a_record(config, description=bad)

    refused = await repos.deployments.add(record)

    assert refused.error.code is ErrorCode.VALIDATION_ERROR
    assert await repos.deployments.get(record.id) is None
    await lists_still_answer(repos)


@pytest.mark.parametrize("bad", BAD)
async def test_a_filter_no_store_can_hold_finds_nothing_or_is_a_validation_error(repos: Repositories, bad: str) -> None:
    await repos.configs.add(a_config())
    queries = [
        (repos.configs, ConfigQuery(app_name=bad)),
        (repos.deployments, DeploymentQuery(app_name=bad)),
        (repos.pipelines, PipelineQuery(deployment_id=DeploymentId.stored(bad))),
    ]
    for repository, query in queries:
        assert await found_or_refused(repository, query) in ([], ErrorCode.VALIDATION_ERROR)
    await lists_still_answer(repos)


async def found_or_refused(repository: Any, query: Any) -> list[Any] | ErrorCode:
    """What ``find`` answers; PostgreSQL refuses such a parameter itself: a bad value, not an outage."""
    try:
        found: list[Any] = await repository.find(query)
    except StorageError as failed:
        return failed.error.code
    return found
