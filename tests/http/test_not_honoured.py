"""The HTTP API reports settings the platform does not honour, and refuses them under strict."""

from __future__ import annotations

import httpx

from tests.http.polling import until
from tests.http.test_api import assert_problem

CONFIG = {
    "app_name": "shop",
    "app_version": "1.0.0",
    "environment": "dev",
    "platform": "local",
    "monitoring": {"enable_tracing": True},
    "testing": {"run_unit_tests": False},
    "custom_settings": {"command": ["python3", "app.py"], "port": 18090},
}
TRACING = {
    "field": "monitoring.enable_tracing",
    "message": "not honoured on local: tracing arrives with the observability work: nothing exports spans yet",
}


async def created(client: httpx.AsyncClient, **changes) -> str:
    response = await client.post("/api/deployments/configs", json={**CONFIG, **changes})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_deploy_status_and_the_record_carry_what_is_not_honoured(client: httpx.AsyncClient):
    config_id = await created(client)

    accepted = await client.post("/api/deployments/deploy", json={"config_id": config_id})

    assert accepted.status_code == 202
    assert accepted.json()["not_honoured"] == [TRACING]
    deployment_id = accepted.json()["deployment_id"]

    async def ended() -> bool:
        status = (await client.get(f"/api/deployments/status/{deployment_id}")).json()
        return bool(status["status"] in ("succeeded", "failed"))

    await until(ended)
    assert (await client.get(f"/api/deployments/status/{deployment_id}")).json()["not_honoured"] == [TRACING]
    assert (await client.get(f"/api/deployments/{deployment_id}")).json()["details"]["not_honoured"] == [TRACING]


async def test_the_plan_lists_them(client: httpx.AsyncClient):
    planned = await client.post("/api/deployments/plan", json={"config": CONFIG})

    assert planned.status_code == 200
    assert planned.json()["not_honoured"] == [TRACING]


async def test_strict_refuses_with_every_field_and_stores_nothing(client: httpx.AsyncClient):
    config_id = await created(client, environment="production")

    refused = await client.post("/api/deployments/deploy", json={"config_id": config_id})

    body = assert_problem(refused, 422, "VALIDATION_ERROR")
    assert TRACING in body["errors"]
    assert (await client.get("/api/deployments")).json()["items"] == []
    allowed = await client.post("/api/deployments/deploy", json={"config_id": config_id, "strict": False})
    assert allowed.status_code == 202
    assert TRACING in allowed.json()["not_honoured"]


async def test_a_deprecated_key_is_reported_by_the_plan_and_the_deploy_and_refuses_nothing(client: httpx.AsyncClient):
    settings = {**CONFIG["custom_settings"], "health_path": "/ready"}
    deprecation = {
        "field": "custom_settings.health_path",
        "message": "deprecated: set network.health_check_path instead (while this key is set, it is used in its place)",
    }

    planned = await client.post("/api/deployments/plan", json={"config": {**CONFIG, "custom_settings": settings}})
    config_id = await created(client, custom_settings=settings, monitoring={"enable_tracing": False})
    accepted = await client.post("/api/deployments/deploy", json={"config_id": config_id, "strict": True})

    assert planned.json()["deprecated"] == [deprecation]
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["deprecated"] == [deprecation]
