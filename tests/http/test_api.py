"""The HTTP API beyond the spec's examples: what a client of a deployment tool relies on."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.http.conftest import HeldDeploy
from tests.http.polling import settled, until

PROBLEM = "application/problem+json"
CONFIG = {"app_name": "shop", "app_version": "1.0.0", "environment": "dev"}


async def create_config(client: httpx.AsyncClient, **changes) -> dict:
    response = await client.post("/api/deployments/configs", json={**CONFIG, **changes})
    assert response.status_code == 201, response.text
    return response.json()


def assert_problem(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert (body["status"], body["code"]) == (status, code)
    assert body["title"]
    assert body["detail"]
    assert body["type"].startswith("https://")
    return body


# -- errors -----------------------------------------------------------------------------------


async def test_unknown_fields_are_refused_by_name(client: httpx.AsyncClient):
    response = await client.post("/api/deployments/configs", json={**CONFIG, "replicas": 3})
    body = assert_problem(response, 422, "VALIDATION_ERROR")
    assert body["field"] == "replicas"
    assert "replicas: is not a known field" in body["detail"]


async def test_domain_rules_answer_422_with_the_field_path(client: httpx.AsyncClient):
    response = await client.post(
        "/api/deployments/configs", json={**CONFIG, "resources": {"replicas_min": 5, "replicas_max": 2}}
    )
    body = assert_problem(response, 422, "VALIDATION_ERROR")
    assert body["field"].startswith("resources")


async def test_a_secret_value_in_the_environment_is_refused_and_never_echoed(client: httpx.AsyncClient):
    response = await client.post(
        "/api/deployments/configs", json={**CONFIG, "environment_variables": {"API_TOKEN": "hunter2-very-secret"}}
    )
    assert_problem(response, 422, "VALIDATION_ERROR")
    assert "hunter2-very-secret" not in response.text


async def test_malformed_json_is_a_422_problem(client: httpx.AsyncClient):
    response = await client.post(
        "/api/deployments/configs", content=b"{not json", headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 422, "VALIDATION_ERROR")
    assert body["field"] == ""
    assert body["detail"].startswith("the request: the body is not valid JSON")


@pytest.mark.parametrize(
    "path",
    [
        "/api/deployments/configs/cfg-missing",
        "/api/deployments/dep-missing",
        "/api/deployments/status/dep-missing",
        "/api/pipelines/pipe-missing",
    ],
)
async def test_absent_things_are_404_problems(client: httpx.AsyncClient, path: str):
    assert_problem(await client.get(path), 404, "NOT_FOUND")


async def test_an_unknown_route_is_a_404_problem(client: httpx.AsyncClient):
    response = await client.get("/api/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


async def test_a_body_over_the_limit_is_413_before_it_is_read(client: httpx.AsyncClient):
    big = json.dumps({**CONFIG, "description": "x" * (1024 * 1024 + 1)})
    response = await client.post(
        "/api/deployments/configs", content=big.encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert (await client.get("/api/deployments/configs")).json()["items"] == []


async def test_a_second_deploy_of_the_same_app_and_environment_is_409(client: httpx.AsyncClient, held: HeldDeploy):
    config = await create_config(client)
    held.held = True
    first = await client.post("/api/deployments/deploy", json={"config_id": config["id"]})
    assert first.status_code == 202
    second = await client.post("/api/deployments/deploy", json={"config_id": config["id"]})
    body = assert_problem(second, 409, "CONFLICT")
    assert "another deployment of shop to dev is running" in body["detail"]
    held.release.set()
    assert (await settled(client, first.json()["deployment_id"]))["status"] == "succeeded"


# -- configurations ---------------------------------------------------------------------------


async def test_configurations_list_filter_and_page(client: httpx.AsyncClient):
    made = [await create_config(client, app_name=f"app-{index}") for index in range(3)]
    await create_config(client, app_name="app-0", environment="staging")

    page = (await client.get("/api/deployments/configs", params={"limit": 2})).json()
    assert len(page["items"]) == 2
    assert page["next_offset"] == 2
    rest = (await client.get("/api/deployments/configs", params={"limit": 2, "offset": 2})).json()
    assert len(rest["items"]) == 2
    assert rest["next_offset"] == 4
    dev = (await client.get("/api/deployments/configs", params={"environment": "dev"})).json()
    assert {item["id"] for item in dev["items"]} == {config["id"] for config in made}
    assert dev["next_offset"] is None
    bad = await client.get("/api/deployments/configs", params={"environment": "moon"})
    assert_problem(bad, 422, "VALIDATION_ERROR")
    assert (await client.get("/api/deployments/configs", params={"limit": 0})).status_code == 422


async def test_creating_an_app_and_environment_again_is_the_same_configuration_or_a_conflict(
    client: httpx.AsyncClient,
):
    config = await create_config(client, resources={"replicas_min": 2, "replicas_max": 4})

    same = await client.post(
        "/api/deployments/configs", json={**CONFIG, "resources": {"replicas_min": 2, "replicas_max": 4}}
    )
    assert same.status_code == 200
    assert (same.json()["id"], same.json()["version"]) == (config["id"], 1)

    other = await client.post("/api/deployments/configs", json={**CONFIG, "app_version": "2.0.0"})
    problem = assert_problem(other, 409, "CONFLICT")
    assert problem["existing_id"] == config["id"]
    assert f"shop in dev already has configuration {config['id']}" in problem["detail"]
    listed = (await client.get("/api/deployments/configs", params={"app_name": "shop"})).json()["items"]
    assert [item["id"] for item in listed] == [config["id"]]


async def test_patch_merges_and_put_replaces(client: httpx.AsyncClient):
    config = await create_config(client, resources={"replicas_min": 2, "replicas_max": 4})
    path = f"/api/deployments/configs/{config['id']}"

    patched = await client.patch(path, json={"app_version": "1.1.0", "resources": {"replicas_max": 6}})
    assert patched.status_code == 200
    assert patched.json()["app_version"] == "1.1.0"
    assert (patched.json()["resources"]["replicas_min"], patched.json()["resources"]["replicas_max"]) == (2, 6)
    assert patched.json()["version"] == 2

    stale = await client.patch(path, json={"app_version": "1.2.0", "expected_version": 1})
    assert_problem(stale, 409, "CONFLICT")

    replaced = await client.put(path, json={**CONFIG, "app_version": "2.0.0"})
    assert replaced.status_code == 200
    assert replaced.json()["app_version"] == "2.0.0"
    assert replaced.json()["resources"]["replicas_min"] == 1  # back to the dev profile's

    kept = await client.put(path, json={**CONFIG, "resources": {"replicas_max": 3}, "custom_settings": {"a": 1}})
    assert (kept.json()["resources"]["replicas_min"], kept.json()["custom_settings"]) == (1, {"a": 1})
    again = await client.put(path, json={**CONFIG, "custom_settings": {"b": 2}})
    assert again.json()["custom_settings"] == {"b": 2}  # replaced whole: "a" is not kept
    assert again.json()["resources"] == replaced.json()["resources"]
    assert again.json()["version"] == replaced.json()["version"] + 2

    moved = await client.put(path, json={**CONFIG, "environment": "production"})
    assert_problem(moved, 422, "VALIDATION_ERROR")


async def test_a_deploy_of_a_configuration_version_that_changed_since_is_409_and_starts_nothing(
    client: httpx.AsyncClient,
):
    config = await create_config(client)
    path = f"/api/deployments/configs/{config['id']}"
    await client.patch(path, json={"app_version": "1.1.0"})

    stale = await client.post("/api/deployments/deploy", json={"config_id": config["id"], "config_version": 1})

    problem = assert_problem(stale, 409, "CONFLICT")
    assert f"configuration {config['id']} is at version 2, not 1: it changed since" in problem["detail"]
    assert (await client.get("/api/deployments/history/shop/dev")).json()["items"] == []


async def test_delete_then_404_and_derive_for_another_environment(client: httpx.AsyncClient):
    config = await create_config(client, strategy="rolling")
    derived = await client.post(f"/api/deployments/configs/{config['id']}/derive", json={"environment": "production"})
    assert derived.status_code == 201
    assert derived.json()["environment"] == "production"
    assert derived.json()["strategy"] == "rolling"
    assert derived.json()["derived_from"] == config["id"]

    path = f"/api/deployments/configs/{config['id']}"
    assert (await client.delete(path)).status_code == 204
    assert_problem(await client.delete(path), 404, "NOT_FOUND")
    assert_problem(await client.get(path), 404, "NOT_FOUND")


# -- deployments ------------------------------------------------------------------------------


async def test_the_same_idempotency_key_returns_the_same_deployment(client: httpx.AsyncClient):
    config = await create_config(client)
    body = {"config_id": config["id"], "description": "release"}
    headers = {"Idempotency-Key": "release-2026-11-29"}

    first = await client.post("/api/deployments/deploy", json=body, headers=headers)
    await settled(client, first.json()["deployment_id"])
    again = await client.post("/api/deployments/deploy", json=body, headers=headers)

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["deployment_id"] == first.json()["deployment_id"]
    listed = (await client.get("/api/deployments", params={"app_name": "shop"})).json()["items"]
    assert len(listed) == 1
    other = await client.post("/api/deployments/deploy", json={**body, "description": "other"}, headers=headers)
    body_of_problem = assert_problem(other, 422, "VALIDATION_ERROR")
    assert body_of_problem["field"] == "Idempotency-Key"


async def test_a_key_whose_deploy_could_not_start_may_be_retried(client: httpx.AsyncClient):
    headers = {"Idempotency-Key": "retry-me"}
    refused = await client.post("/api/deployments/deploy", json={"config_id": "cfg-later"}, headers=headers)
    assert_problem(refused, 404, "NOT_FOUND")
    config = await create_config(client)
    # The body differs (another config id), but nothing was started under the key: it is free.
    started = await client.post("/api/deployments/deploy", json={"config_id": config["id"]}, headers=headers)
    assert started.status_code == 202


async def test_history_lists_deployments_and_rollbacks_newest_first(client: httpx.AsyncClient):
    config = await create_config(client)
    ids = []
    for version in ("1.0.0", "1.1.0"):
        await client.patch(f"/api/deployments/configs/{config['id']}", json={"app_version": version})
        deployed = await client.post("/api/deployments/deploy", json={"config_id": config["id"]})
        ids.append(deployed.json()["deployment_id"])
        await settled(client, ids[-1])
    rollback = await client.post("/api/deployments/rollback", json={"deployment_id": ids[-1]})
    await settled(client, rollback.json()["deployment_id"])

    history = (await client.get("/api/deployments/history/shop/dev")).json()["items"]

    assert [item["kind"] for item in history] == ["rollback", "deploy", "deploy"]
    assert [item["status"] for item in history] == ["succeeded", "rolled-back", "succeeded"]
    assert [item["app_version"] for item in history] == ["1.0.0", "1.1.0", "1.0.0"]


async def test_cancel_stops_a_running_deployment_and_says_who(any_store_client: httpx.AsyncClient, held: HeldDeploy):
    client = any_store_client
    config = await create_config(client)
    held.held = True
    deployment_id = (await client.post("/api/deployments/deploy", json={"config_id": config["id"]})).json()[
        "deployment_id"
    ]

    canceled = await client.post(f"/api/deployments/{deployment_id}/cancel", json={"reason": "wrong build"})

    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "canceled"
    pipeline = (await client.get(f"/api/pipelines/{canceled.json()['pipeline_id']}")).json()
    assert pipeline["canceled_by"] == "anonymous: wrong build"
    assert_problem(await client.post(f"/api/deployments/{deployment_id}/cancel"), 409, "INVALID_STATE")


# -- pipelines, approvals, events -------------------------------------------------------------


async def hand_built(client: httpx.AsyncClient, *tasks: dict) -> tuple[str, str]:
    config = await create_config(client)
    pipeline = await client.post("/api/pipelines", json={"name": "smoke", "deployment_id": config["id"]})
    assert pipeline.status_code == 201, pipeline.text
    pipeline_id = pipeline.json()["id"]
    stage = await client.post(f"/api/pipelines/{pipeline_id}/stages", json={"name": "checks"})
    assert stage.status_code == 201
    for task in tasks:
        added = await client.post(f"/api/pipelines/{pipeline_id}/stages/{stage.json()['id']}/tasks", json=task)
        assert added.status_code == 201, added.text
    return pipeline_id, stage.json()["id"]


async def pipeline_status(client: httpx.AsyncClient, pipeline_id: str) -> str:
    return str((await client.get(f"/api/pipelines/{pipeline_id}")).json()["status"])


async def test_a_hand_built_pipeline_runs_in_the_background_and_journals_every_change(client: httpx.AsyncClient):
    pipeline_id, _ = await hand_built(
        client,
        {"name": "pause", "action": "wait", "params": {"seconds": 0}},
        {"name": "again", "action": "wait", "params": {"seconds": 0.01}},
    )

    started = await client.post(f"/api/pipelines/{pipeline_id}/execute")
    assert started.status_code == 202

    async def done() -> bool:
        return await pipeline_status(client, pipeline_id) == "succeeded"

    await until(done)
    events = (await client.get(f"/api/pipelines/{pipeline_id}/events")).json()
    assert [event["sequence"] for event in events] == list(range(1, len(events) + 1))
    assert (events[0]["subject"], events[0]["new"]) == ("pipeline", "running")
    assert (events[-1]["subject"], events[-1]["new"]) == ("pipeline", "succeeded")
    later = (await client.get(f"/api/pipelines/{pipeline_id}/events", params={"after": 2})).json()
    assert later == events[2:]
    assert_problem(await client.post(f"/api/pipelines/{pipeline_id}/execute"), 409, "INVALID_STATE")


async def test_an_unknown_action_is_refused_when_the_task_is_added(client: httpx.AsyncClient):
    pipeline_id, stage_id = await hand_built(client)
    response = await client.post(
        f"/api/pipelines/{pipeline_id}/stages/{stage_id}/tasks", json={"name": "x", "action": "teleport"}
    )
    assert_problem(response, 422, "VALIDATION_ERROR")


async def test_an_approval_gate_waits_for_a_person(client: httpx.AsyncClient):
    gate = {"name": "go-live", "action": "approval", "params": {"poll_interval": 0.01}}
    pipeline_id, _ = await hand_built(client, gate)
    await client.post(f"/api/pipelines/{pipeline_id}/execute")
    pipeline = (await client.get(f"/api/pipelines/{pipeline_id}")).json()
    gate_id = pipeline["stages"][0]["tasks"][0]["id"]

    async def waiting() -> bool:
        found = (await client.get(f"/api/pipelines/{pipeline_id}")).json()
        return bool(found["stages"][0]["tasks"][0]["status"] == "running")

    await until(waiting)
    approved = await client.post(f"/api/pipelines/{pipeline_id}/tasks/{gate_id}/approve", json={"comment": "ship it"})
    assert approved.status_code == 200
    assert (approved.json()["approved"], approved.json()["by"]) == (True, "anonymous")

    async def done() -> bool:
        return await pipeline_status(client, pipeline_id) == "succeeded"

    await until(done)
    again = await client.post(f"/api/pipelines/{pipeline_id}/tasks/{gate_id}/reject")
    assert again.status_code == 409


async def test_events_stream_live_and_the_stream_ends_with_the_pipeline(client: httpx.AsyncClient):
    pipeline_id, _ = await hand_built(client, {"name": "pause", "action": "wait", "params": {"seconds": 0}})
    await client.post(f"/api/pipelines/{pipeline_id}/execute")

    async with client.stream("GET", f"/api/pipelines/{pipeline_id}/events/stream") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        text = (await stream.aread()).decode()

    frames = [frame for frame in text.split("\n\n") if frame.startswith("id: ")]
    sequences = [int(frame.split("\n")[0].removeprefix("id: ")) for frame in frames]
    assert sequences == list(range(1, len(frames) + 1))
    assert 'event: end\ndata: {"status": "succeeded"}' in text
    resumed = await client.get(
        f"/api/pipelines/{pipeline_id}/events/stream", headers={"Last-Event-ID": str(len(frames) - 1)}
    )
    assert resumed.text.count("id: ") == 1


# -- operations -------------------------------------------------------------------------------


async def test_health_readiness_and_metrics(client: httpx.AsyncClient):
    assert (await client.get("/healthz")).json()["status"] == "ok"
    assert (await client.get("/readyz")).json()["status"] == "ready"
    for app, metered in (("shop", True), ("quiet", False)):
        config = await create_config(client, app_name=app, monitoring={"enable_metrics": metered})
        deployment_id = (await client.post("/api/deployments/deploy", json={"config_id": config["id"]})).json()[
            "deployment_id"
        ]
        await settled(client, deployment_id)

    metrics = (await client.get("/metrics")).text

    where = 'app="shop",environment="dev"'
    assert f'uno_deployments_total{{{where},kind="deploy",platform="local",status="succeeded"}} 1.0' in metrics
    assert f'uno_deployments_active{{{where},platform="local"}} 0.0' in metrics
    assert f'uno_deployment_duration_seconds_count{{{where},platform="local",status="succeeded"}} 1.0' in metrics
    assert 'uno_task_duration_seconds_count{action="deploy",status="succeeded"} 2.0' in metrics  # no app label
    assert 'app="quiet"' not in metrics  # monitoring.enable_metrics off: its deployments are not exported


async def test_the_openapi_schema_is_published(client: httpx.AsyncClient):
    schema = (await client.get("/openapi.json")).json()
    assert {"/api/deployments/configs", "/api/deployments/deploy", "/api/deployments/rollback"} <= set(schema["paths"])
    assert "/api/deployments/status/{deployment_id}" in schema["paths"]


async def test_a_lease_is_shown_while_held_and_an_admin_can_end_it(client: httpx.AsyncClient, held: HeldDeploy):
    config = await create_config(client)
    assert_problem(await client.get("/api/leases/shop/dev"), 404, "NOT_FOUND")
    held.held = True
    deployment_id = (await client.post("/api/deployments/deploy", json={"config_id": config["id"]})).json()[
        "deployment_id"
    ]

    shown = await client.get("/api/leases/shop/dev")
    released = await client.post("/api/leases/shop/dev/release", json={"reason": "worker host lost"})

    assert shown.status_code == 200
    assert shown.json()["holder"] == deployment_id
    assert released.status_code == 200
    assert released.json()["token"] == shown.json()["token"]
    record = (await client.get(f"/api/deployments/{deployment_id}")).json()
    assert record["details"]["lease_releases"][0]["reason"] == "worker host lost"
    assert_problem(await client.post("/api/leases/shop/dev/release", json={"reason": "x"}), 404, "NOT_FOUND")
    held.release.set()
