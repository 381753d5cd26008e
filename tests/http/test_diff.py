"""``POST /api/deployments/diff``: what a deploy would change against what is live, with plan's body and scopes."""

from __future__ import annotations

import httpx

from tests.http.test_api import assert_problem
from tests.http.test_not_honoured import CONFIG, created


async def test_a_configuration_nothing_of_which_runs_yet_would_add_its_router_and_processes(client: httpx.AsyncClient):
    answered = await client.post("/api/deployments/diff", json={"config": CONFIG})

    assert answered.status_code == 200, answered.text
    document = answered.json()
    assert (document["app_name"], document["environment"], document["platform"]) == ("shop", "dev", "local")
    assert document["changed"] is True
    assert [(item["kind"], item["name"], item["change"]) for item in document["objects"]] == [
        ("Router", "shop-dev", "added"),
        ("Processes", "shop-dev", "added"),
    ]
    router = document["objects"][0]
    assert {"path": "listen", "change": "added", "before": None, "after": "127.0.0.1:18090"} in router["fields"]


async def test_a_stored_configuration_is_diffed_by_id_and_the_plan_carries_the_same_diff(client: httpx.AsyncClient):
    config_id = await created(client)

    by_id = await client.post("/api/deployments/diff", json={"config_id": config_id})
    planned = await client.post("/api/deployments/plan", json={"config_id": config_id})

    assert by_id.status_code == 200, by_id.text
    assert planned.json()["diff"] == by_id.json()
    assert planned.json()["diff_note"] == ""


async def test_errors_are_problems(client: httpx.AsyncClient):
    missing = await client.post("/api/deployments/diff", json={"config_id": "cfg-01jz8x3v5q6w7e8r9t0y1u2i3o"})
    assert_problem(missing, 404, "NOT_FOUND")
    invalid = await client.post("/api/deployments/diff", json={"config": {**CONFIG, "app_version": ""}})
    assert_problem(invalid, 422, "VALIDATION_ERROR")
    both = await client.post("/api/deployments/diff", json={"config": CONFIG, "config_id": "cfg-x"})
    assert_problem(both, 422, "VALIDATION_ERROR")
    no_driver = await client.post("/api/deployments/diff", json={"config": {**CONFIG, "platform": "custom"}})
    body = assert_problem(no_driver, 502, "PLATFORM_ERROR")
    assert "custom" in body["detail"]


async def test_reading_is_enough_and_no_token_is_refused(guarded: httpx.AsyncClient):
    anonymous = await guarded.post("/api/deployments/diff", json={"config": CONFIG})
    assert_problem(anonymous, 401, "UNAUTHENTICATED")
    reader = await guarded.post(
        "/api/deployments/diff", json={"config": CONFIG}, headers={"Authorization": "Bearer reader-secret"}
    )
    assert reader.status_code == 200, reader.text
