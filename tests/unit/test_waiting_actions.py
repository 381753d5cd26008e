"""Approval gates and HTTP checks: they wait on the engine's clock and say what they saw."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from tests.support import eventually
from uno.core.errors import ErrorCode
from uno.deployment import bootstrap
from uno.deployment.adapters.clocks import FakeClock
from uno.deployment.domain.enums import PipelineStatus, TaskStatus
from uno.deployment.ports.http import HttpResponse


class ScriptedProber:
    """Answers each probe with the next scripted status (None = connection refused)."""

    def __init__(self, statuses: list[int | None], body: str = "ok") -> None:
        self.statuses = statuses
        self.body = body
        self.calls: list[str] = []

    async def probe(
        self, url: str, *, method: str = "GET", headers: Mapping[str, str] | None = None, timeout: float
    ) -> HttpResponse:
        self.calls.append(url)
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        if status is None:
            return HttpResponse(None, "", 0.001, error="[Errno 111] Connection refused")
        return HttpResponse(status, self.body, 0.001)


@pytest.fixture
def prober() -> ScriptedProber:
    return ScriptedProber([None, 503, 200])


@pytest.fixture
def clocked(environ, actions, fake_clock: FakeClock, prober: ScriptedProber, memory_settings) -> bootstrap.Container:
    return bootstrap.build(memory_settings, environ=environ, actions=actions, clock=fake_clock, http=prober)


async def single_task(container: bootstrap.Container, **task) -> tuple[object, object]:
    config = await container.config_service.create_config(app_name="shop", app_version="1.0.0", environment="dev")
    service = container.pipeline_service
    pipeline = (await service.create_pipeline("p", deployment_id=config.value.id)).value
    stage = (await service.add_stage(pipeline.id, "only")).value
    added = await service.add_task(pipeline.id, stage.id, "t", **task)
    assert added.is_success(), added
    return pipeline.id, added.value.id


async def advance_until_done(clock: FakeClock, running: asyncio.Task, step: float = 1.0, limit: int = 10_000):
    for _ in range(limit):
        if running.done():
            return await running
        clock.advance(step)
        await asyncio.sleep(0.001)
    raise AssertionError("the pipeline did not finish")


async def test_http_check_probes_until_healthy(clocked, fake_clock, prober):
    pipeline_id, _ = await single_task(clocked, action="http_check", params={"url": "http://127.0.0.1:9/health"})
    running = asyncio.create_task(clocked.pipeline_service.execute_pipeline(pipeline_id))

    pipeline = (await advance_until_done(fake_clock, running)).value

    task = pipeline.task_named("t")
    assert (task.status, task.message) == (TaskStatus.SUCCEEDED, "http://127.0.0.1:9/health answered 200")
    assert task.outputs["probes"] == 3


async def test_http_check_gives_up_before_its_deadline_saying_what_it_saw(clocked, fake_clock, prober):
    prober.statuses = [503]
    pipeline_id, _ = await single_task(
        clocked, action="http_check", params={"url": "http://127.0.0.1:9/health", "deadline": 10}, timeout=60
    )
    running = asyncio.create_task(clocked.pipeline_service.execute_pipeline(pipeline_id))

    pipeline = (await advance_until_done(fake_clock, running)).value

    task = pipeline.task_named("t")
    assert task.status is TaskStatus.FAILED
    assert task.message == "http://127.0.0.1:9/health not healthy after 11 probe(s): got 503, expected 200"


async def test_http_check_matches_the_body_when_asked(clocked, fake_clock, prober):
    prober.statuses, prober.body = [200], '{"version": "1.0.0"}'
    params = {"url": "http://127.0.0.1:9/", "body_contains": '"version": "2.0.0"', "deadline": 2}
    pipeline_id, _ = await single_task(clocked, action="http_check", params=params)
    running = asyncio.create_task(clocked.pipeline_service.execute_pipeline(pipeline_id))

    pipeline = (await advance_until_done(fake_clock, running)).value

    assert pipeline.task_named("t").message.endswith("""the body does not contain '"version": "2.0.0"'""")


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"url": "ftp://x"},
        {"url": "http://x", "method": "POST"},
        {"url": "http://x", "expected_status": 99},
        {"url": "http://x", "interval": 0},
        {"url": "http://x", "verify": False},
    ],
)
async def test_http_check_refuses_bad_params_when_added(clocked, params):
    config = await clocked.config_service.create_config(app_name="shop", app_version="1.0.0", environment="dev")
    service = clocked.pipeline_service
    pipeline = (await service.create_pipeline("p", deployment_id=config.value.id)).value
    stage = (await service.add_stage(pipeline.id, "only")).value

    result = await service.add_task(pipeline.id, stage.id, "t", action="http_check", params=params)

    assert result.error.code is ErrorCode.VALIDATION_ERROR


async def test_an_approved_gate_lets_the_pipeline_through(clocked, fake_clock):
    pipeline_id, gate_id = await single_task(clocked, action="approval", params={"prompt": "ship?"}, timeout=3600)
    service = clocked.pipeline_service
    running = asyncio.create_task(service.execute_pipeline(pipeline_id))
    await eventually(lambda: fake_clock.sleepers >= 1)

    decision = (await service.approve(pipeline_id, gate_id, by="alice", comment="looks good")).value
    pipeline = (await advance_until_done(fake_clock, running)).value

    assert decision.approved is True
    gate = pipeline.task_named("t")
    assert (gate.status, gate.message) == (TaskStatus.SUCCEEDED, "approved by alice: looks good")
    assert gate.outputs["decided_by"] == "alice"
    second = await service.reject(pipeline_id, gate_id, by="bob")
    assert second.error.code is ErrorCode.INVALID_STATE


async def test_a_rejected_gate_fails_the_pipeline(clocked, fake_clock):
    pipeline_id, gate_id = await single_task(clocked, action="approval", timeout=3600)
    service = clocked.pipeline_service
    running = asyncio.create_task(service.execute_pipeline(pipeline_id))
    await eventually(lambda: fake_clock.sleepers >= 1)

    await service.reject(pipeline_id, gate_id, by="bob", comment="not on a Friday")
    late = await service.approve(pipeline_id, gate_id, by="alice")
    pipeline = (await advance_until_done(fake_clock, running)).value

    assert late.error.code is ErrorCode.CONFLICT
    assert pipeline.status is PipelineStatus.FAILED
    assert pipeline.task_named("t").message == "rejected by bob: not on a Friday"


@pytest.mark.parametrize(("on_timeout", "status"), [("reject", TaskStatus.FAILED), ("approve", TaskStatus.SUCCEEDED)])
async def test_an_undecided_gate_follows_its_on_timeout_rule(clocked, fake_clock, on_timeout, status):
    params = {"deadline": 300, "on_timeout": on_timeout}
    pipeline_id, _ = await single_task(clocked, action="approval", params=params, timeout=3600)
    running = asyncio.create_task(clocked.pipeline_service.execute_pipeline(pipeline_id))

    pipeline = (await advance_until_done(fake_clock, running, step=10)).value

    gate = pipeline.task_named("t")
    assert gate.status is status
    assert gate.message.startswith("no decision before the deadline")
    assert 290 <= gate.duration <= 310


async def test_only_approval_gates_take_decisions(clocked):
    pipeline_id, task_id = await single_task(clocked, action="wait", params={"seconds": 1})

    result = await clocked.pipeline_service.approve(pipeline_id, task_id)

    assert result.error.code is ErrorCode.NOT_FOUND
