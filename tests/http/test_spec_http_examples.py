"""The spec's HTTP examples, sent as written (docs/spec/deployment-api.md).

Each ```http block is parsed into its request line, headers and body and sent as it is;
only the placeholder ids ``config-123`` and ``deployment-123`` are replaced by real ones.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from tests.http.polling import settled

SPEC = Path(__file__).resolve().parents[2] / "docs" / "spec" / "deployment-api.md"


def http_examples() -> list[tuple[str, str, dict[str, str], str]]:
    """(method, path, headers, body) of each ```http block."""
    examples = []
    for block in re.findall(r"```http\n(.*?)```", SPEC.read_text(encoding="utf-8"), flags=re.DOTALL):
        head, _, body = block.partition("\n\n")
        request_line, *header_lines = head.splitlines()
        method, path, _ = request_line.split(" ")
        headers = dict(line.split(": ", 1) for line in header_lines)
        examples.append((method, path, headers, body.strip()))
    return examples


async def send(client: httpx.AsyncClient, example: tuple[str, str, dict[str, str], str], **ids: str) -> httpx.Response:
    method, path, headers, body = example
    for placeholder, real in ids.items():
        path, body = path.replace(placeholder, real), body.replace(placeholder, real)
    return await client.request(method, path, headers=headers, content=body.encode() or None)


def test_the_spec_has_the_four_http_examples():
    assert [(method, path) for method, path, _, _ in http_examples()] == [
        ("POST", "/api/deployments/configs"),
        ("POST", "/api/deployments/deploy"),
        ("POST", "/api/deployments/rollback"),
        ("GET", "/api/deployments/status/deployment-123"),
    ]


async def test_creating_a_configuration_as_the_spec_shows(client: httpx.AsyncClient):
    create, *_ = http_examples()
    response = await send(client, create)

    assert response.status_code == 201
    config = response.json()
    assert response.headers["location"] == f"/api/deployments/configs/{config['id']}"
    sent = json.loads(create[3])
    assert (config["app_name"], config["app_version"], config["environment"]) == ("my-app", "1.0.0", "dev")
    assert (config["platform"], config["strategy"]) == ("kubernetes", "rolling")
    assert config["database"]["password_env_var"] == "DB_PASSWORD"
    assert "password" not in config["database"]
    assert config["resources"] == sent["resources"]
    assert config["network"]["domain"] == "myapp.example.com"
    assert config["monitoring"]["log_level"] == "INFO"


async def test_deploying_follows_in_the_background_and_status_tells_where_it_is(client: httpx.AsyncClient):
    create, deploy, _, status = http_examples()
    config_id = (await send(client, create)).json()["id"]

    accepted = await send(client, deploy, **{"config-123": config_id})

    assert accepted.status_code == 202
    body = accepted.json()
    assert body["status"] == "running"
    assert body["status_url"] == f"/api/deployments/status/{body['deployment_id']}"
    assert accepted.headers["location"] == body["status_url"]
    answer = await send(client, status, **{"deployment-123": body["deployment_id"]})
    assert answer.status_code == 200
    assert set(answer.json()) >= {
        "status",
        "progress",
        "current_stage",
        "current_task",
        "created_at",
        "started_at",
        "finished_at",
    }
    final = await settled(client, body["deployment_id"])
    assert final["status"] == "succeeded", final["message"]
    assert final["progress"] == 1.0
    assert final["finished_at"] is not None
    record = (await client.get(f"/api/deployments/{body['deployment_id']}")).json()
    assert record["description"] == "Deploying version 1.0.0 to dev environment"


async def test_rolling_back_as_the_spec_shows_restores_the_release_before(client: httpx.AsyncClient, calls):
    create, deploy, rollback, _ = http_examples()
    config_id = (await send(client, create)).json()["id"]
    first = (await send(client, deploy, **{"config-123": config_id})).json()["deployment_id"]
    await settled(client, first)
    await client.patch(f"/api/deployments/configs/{config_id}", json={"app_version": "1.1.0"})
    second = (await send(client, deploy, **{"config-123": config_id})).json()["deployment_id"]
    assert (await settled(client, second))["status"] == "succeeded"

    accepted = await send(client, rollback, **{"deployment-123": second})

    assert accepted.status_code == 202, accepted.json()
    rollback_id = accepted.json()["deployment_id"]
    assert accepted.json()["kind"] == "rollback"
    assert (await settled(client, rollback_id))["status"] == "succeeded"
    assert (await client.get(f"/api/deployments/{second}")).json()["status"] == "rolled-back"
    assert ("rollback", "1.0.0") in calls
