"""Bad input, one case at a time: a 4xx problem with a code, nothing stored, every list still 200.

Each case here answered 500 or 503, or was stored and broke later reads, before
``domain.texts`` and the HTTP layer's parse problems (issue 14, items 6 and 7).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.http import badinput
from uno.core.errors import ErrorCode, ErrorDetails
from uno.deployment.entrypoints.http import create_app
from uno.deployment.ports.repositories import StorageError

CONFIG = {"app_name": "hello", "app_version": "1.0.0", "environment": "dev"}
LISTS = ["/api/deployments/configs", "/api/deployments", "/api/pipelines", "/api/deployments/history/hello/dev"]


def assert_problem(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert isinstance(body["code"], str)
    if field is not None:
        assert body["field"] == field, body
    return body


async def assert_lists_answer(http: httpx.AsyncClient) -> None:
    badinput.assert_nothing_bad_stored({path: await http.get(path) for path in LISTS})


def raw(body: dict[str, Any]) -> dict[str, Any]:
    return {"content": badinput.encoded(body), "headers": {"content-type": "application/json"}}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"description": "\ud800"}, "description"),
        ({"description": "a\x00b"}, "description"),
        ({"custom_settings": {"k": "\ud800"}}, "custom_settings.k"),
        ({"custom_settings": {"k": "a\x00"}}, "custom_settings.k"),
        ({"app_name": "nl\n"}, "app_name"),
        ({"environment_variables": {"MODE": "a\x00"}}, "environment_variables.MODE"),
    ],
)
async def test_bad_text_in_a_configuration_is_refused_and_reads_stay_whole(
    authorized: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    assert_problem(await authorized.post("/api/deployments/configs", **raw({**CONFIG, **change})), 422, field)

    assert (await authorized.get("/api/deployments/configs")).json()["items"] == []
    await assert_lists_answer(authorized)


@pytest.mark.parametrize("depth", [500, 600, 900])
async def test_custom_settings_nested_hundreds_deep_are_a_422(authorized: httpx.AsyncClient, depth: int) -> None:
    body = {**CONFIG, "custom_settings": "__deep_900__"}
    content = badinput.encoded(body).replace(badinput.nested_text(900).encode(), badinput.nested_text(depth).encode())
    response = await authorized.post(
        "/api/deployments/configs", content=content, headers={"content-type": "application/json"}
    )

    problem = assert_problem(response, 422)
    assert problem["field"].startswith("custom_settings.a.a")
    assert "at most 32 levels" in problem["detail"]


async def test_bad_text_in_pipelines_and_task_params_is_refused(authorized: httpx.AsyncClient) -> None:
    config = (await authorized.post("/api/deployments/configs", json=CONFIG)).json()["id"]
    refused = await authorized.post("/api/pipelines", **raw({"name": "p\x00", "deployment_id": config}))
    assert_problem(refused, 422, "name")
    pipeline = (await authorized.post("/api/pipelines", json={"name": "p", "deployment_id": config})).json()["id"]
    stage = (await authorized.post(f"/api/pipelines/{pipeline}/stages", json={"name": "s"})).json()["id"]
    tasks = f"/api/pipelines/{pipeline}/stages/{stage}/tasks"

    cases = [
        ({"x": "\ud800"}, "params.x"),
        ({"x": "a\x00"}, "params.x"),
        ({"x": "__deep_600__"}, "params.x.a.a"),
        ({"x": {"\x1b": 1}}, "params.x.\\x1b"),
        ({"x": "x" * (300 * 1024)}, "params"),
    ]
    for params, field in cases:
        body = {"name": "t", "action": "wait", "params": {"seconds": 0, **params}}
        problem = assert_problem(await authorized.post(tasks, **raw(body)), 422)
        assert problem["field"].startswith(field)

    stored = (await authorized.get(f"/api/pipelines/{pipeline}")).json()
    assert stored["stages"][0]["tasks"] == []
    await assert_lists_answer(authorized)


@pytest.mark.parametrize(
    "path",
    [
        "/api/deployments/history/a%00b/dev",
        "/api/deployments/history/nl%0A/dev",
        "/api/deployments?app_name=%00",
        "/api/deployments/configs?app_name=%00",
        "/api/deployments/configs?app_name=a%0Ab",
        "/api/leases/a%00b/dev",
    ],
)
async def test_nul_and_control_characters_in_paths_and_filters_are_a_422(
    authorized: httpx.AsyncClient, path: str
) -> None:
    assert_problem(await authorized.get(path), 422, "app_name")


@pytest.mark.parametrize("value", [b"\xb2", "\u00b2".encode(), b"99999999999999999999", b"-1", b"abc"])
async def test_a_bad_last_event_id_is_a_422(authorized: httpx.AsyncClient, value: bytes) -> None:
    config = (await authorized.post("/api/deployments/configs", json=CONFIG)).json()["id"]
    pipeline = (await authorized.post("/api/pipelines", json={"name": "p", "deployment_id": config})).json()["id"]

    response = await authorized.get(f"/api/pipelines/{pipeline}/events/stream", headers={"Last-Event-ID": value})

    assert_problem(response, 422, "Last-Event-ID")


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b'{"app_name": "\xff"}', "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"app_name": ' + b"9" * 5000 + b"}", "not valid JSON"),
    ],
)
async def test_a_body_that_cannot_be_parsed_is_the_documented_422(
    authorized: httpx.AsyncClient, content: bytes, said: str
) -> None:
    response = await authorized.post(
        "/api/deployments/configs", content=content, headers={"content-type": "application/json"}
    )

    problem = assert_problem(response, 422, "")
    assert problem["code"] == "VALIDATION_ERROR"
    assert said in problem["detail"]


async def test_a_chunked_body_over_1_mib_is_a_413_problem(authorized: httpx.AsyncClient) -> None:
    async def chunks():  # no Content-Length: sent chunked
        for _ in range(20):
            yield b" " * 65536
        yield json.dumps(CONFIG).encode()

    response = await authorized.post(
        "/api/deployments/configs", content=chunks(), headers={"content-type": "application/json"}
    )

    problem = assert_problem(response, 413)
    assert problem["type"].endswith("/too-large")
    assert response.headers["connection"] == "close"
    await assert_lists_answer(authorized)


async def test_a_chunked_body_under_the_limit_is_read_whole(authorized: httpx.AsyncClient) -> None:
    async def chunks():
        yield json.dumps(CONFIG)[:10].encode()
        yield json.dumps(CONFIG)[10:].encode()

    response = await authorized.post(
        "/api/deployments/configs", content=chunks(), headers={"content-type": "application/json"}
    )

    assert response.status_code == 201, response.text


async def test_framework_errors_carry_a_code(authorized: httpx.AsyncClient) -> None:
    assert assert_problem(await authorized.get("/no/such/route"), 404)["code"] == "NOT_FOUND"
    assert assert_problem(await authorized.put("/api/deployments"), 405)["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    ("raised", "status"),
    [
        (RuntimeError("a bug"), 500),
        (StorageError(ErrorDetails(ErrorCode.STORAGE_ERROR, "the store is down")), 503),
        (StorageError(ErrorDetails.validation("", "a value cannot be stored")), 422),
    ],
)
async def test_a_5xx_closes_the_connection_and_a_store_error_keeps_its_code(
    api_container: Any, raised: Exception, status: int
) -> None:
    app: FastAPI = create_app(api_container, auth=False)

    async def broken() -> None:
        raise raised

    app.add_api_route("/broken", broken)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.get("/broken")

    assert_problem(response, status)
    assert (response.headers.get("connection") == "close") is (status >= 500)


@pytest.mark.parametrize("reason", ["a\x00b", "stop\x1b[2J"])
async def test_a_cancel_reason_with_bad_text_is_a_422_and_cancels_nothing(
    authorized: httpx.AsyncClient, reason: str
) -> None:
    config = (await authorized.post("/api/deployments/configs", json=CONFIG)).json()["id"]
    deployment = (await authorized.post("/api/deployments/deploy", json={"config_id": config})).json()

    response = await authorized.post(f"/api/deployments/{deployment['deployment_id']}/cancel", json={"reason": reason})

    assert_problem(response, 422, "reason")
    await assert_lists_answer(authorized)
