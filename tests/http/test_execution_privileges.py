"""What a token may make the server run: free-form tasks are an admin's; programs see no server secret.

The outside review's finding (issue 14): a ``deploy`` token added a ``command`` task and ran
it as the server's user, and ``argv: ["env"]`` put the server's secrets in the task's output.
These run real programs over SQLite and PostgreSQL, with auth on.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog.testing

from tests.http.conftest import fake_authenticate
from tests.http.polling import settled, until
from uno.deployment import bootstrap
from uno.deployment.domain.ids import TaskId
from uno.deployment.domain.pipelines import Task
from uno.deployment.entrypoints.http import create_app
from uno.deployment.settings import Settings

ADMIN = {"Authorization": "Bearer admin-secret"}
DEPLOYER = {"Authorization": "Bearer deployer-secret"}
READER = {"Authorization": "Bearer reader-secret"}

DB_PASSWORD = "s3cret-db-password"
STORE_PASSWORD = "store-pass-9876"
DEPLOY_TOKEN = "ghp-server-deploy-token"
SERVER_SECRETS = (DB_PASSWORD, STORE_PASSWORD, DEPLOY_TOKEN)


@pytest.fixture
def server_environ() -> dict[str, str]:
    """The server's environment: its own settings and the secrets it was started with."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": "/root",
        "DB_PASSWORD": DB_PASSWORD,
        "UNO_DEPLOY_DATABASE_URL": f"postgresql://uno:{STORE_PASSWORD}@db.internal/uno",
        "DEPLOY_TOKEN": DEPLOY_TOKEN,
    }


@pytest.fixture(params=["sqlite", "postgresql"])
def container(request: pytest.FixtureRequest, server_environ, tmp_path: Path) -> bootstrap.Container:
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    return bootstrap.build(Settings(database_url=url), environ=server_environ)


@pytest.fixture
async def api(container: bootstrap.Container) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container, authenticate=fake_authenticate, close_container=True)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def a_stage(api: httpx.AsyncClient, headers: dict[str, str], **config: Any) -> tuple[str, str]:
    """A new pipeline (made with ``headers``) over a new configuration, and its one stage."""
    body = {"app_name": "shop", "app_version": "1.0.0", "environment": "dev", **config}
    made = await api.post("/api/deployments/configs", json=body, headers=ADMIN)
    assert made.status_code == 201, made.text
    pipeline = await api.post("/api/pipelines", json={"name": "p", "deployment_id": made.json()["id"]}, headers=headers)
    stage = await api.post(f"/api/pipelines/{pipeline.json()['id']}/stages", json={"name": "s"}, headers=headers)
    return pipeline.json()["id"], stage.json()["id"]


def command(argv: list[str], name: str = "attack") -> dict[str, Any]:
    return {"name": name, "action": "command", "params": {"argv": argv}}


def writes(marker: Path) -> list[str]:
    return ["sh", "-c", f"id > {marker}"]


async def add(api: httpx.AsyncClient, ids: tuple[str, str], task: dict[str, Any], headers: dict[str, str]) -> Any:
    return await api.post(f"/api/pipelines/{ids[0]}/stages/{ids[1]}/tasks", json=task, headers=headers)


async def ended(api: httpx.AsyncClient, pipeline_id: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def done() -> bool:
        found.update((await api.get(f"/api/pipelines/{pipeline_id}", headers=READER)).json())
        return found["status"] not in ("pending", "running")

    await until(done, timeout=30)
    return found


def assert_forbidden(response: httpx.Response, action: str) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["code"], problem["needed"], problem["action"]) == ("FORBIDDEN", "admin", action)
    assert action in problem["detail"]
    assert "admin" in problem["detail"]


async def test_the_reviewers_attack_with_a_deploy_token_is_refused_and_nothing_runs(api, tmp_path: Path):
    marker = tmp_path / "x"
    ids = await a_stage(api, DEPLOYER)

    refused = await add(api, ids, command(writes(marker)), DEPLOYER)
    executed = await api.post(f"/api/pipelines/{ids[0]}/execute", headers=DEPLOYER)

    assert_forbidden(refused, "command")
    assert executed.status_code == 422  # nothing was added, so there is nothing to run
    assert (await api.get(f"/api/pipelines/{ids[0]}", headers=READER)).json()["stages"][0]["tasks"] == []
    assert not marker.exists()


async def test_the_same_task_defined_and_run_by_an_admin_runs(api, tmp_path: Path):
    marker = tmp_path / "x"
    ids = await a_stage(api, ADMIN)

    added = await add(api, ids, command(writes(marker)), ADMIN)
    executed = await api.post(f"/api/pipelines/{ids[0]}/execute", headers=ADMIN)
    pipeline = await ended(api, ids[0])

    assert added.status_code == 201, added.text
    assert added.json()["authorized_by"] == "admin (tok-admin)"
    assert executed.status_code == 202
    assert pipeline["status"] == "succeeded"
    assert marker.read_text().startswith("uid=")


@pytest.mark.parametrize(
    ("action", "params"),
    [
        ("command", {"argv": ["sh", "-c", "id"]}),
        ("http_check", {"url": "http://169.254.169.254/latest/meta-data/"}),
        ("db_restore", {"backup_path": "/etc/passwd"}),
    ],
)
async def test_a_deploy_token_cannot_add_a_free_form_task_to_an_admins_pipeline(api, action, params):
    ids = await a_stage(api, ADMIN)

    refused = await add(api, ids, {"name": "sneaky", "action": action, "params": params}, DEPLOYER)

    assert_forbidden(refused, action)
    assert (await api.get(f"/api/pipelines/{ids[0]}", headers=READER)).json()["stages"][0]["tasks"] == []


async def test_a_deploy_token_runs_a_command_an_admin_defined(api, tmp_path: Path):
    marker = tmp_path / "x"
    ids = await a_stage(api, DEPLOYER)
    assert (await add(api, ids, command(writes(marker)), ADMIN)).status_code == 201

    executed = await api.post(f"/api/pipelines/{ids[0]}/execute", headers=DEPLOYER)

    assert executed.status_code == 202, executed.text
    assert (await ended(api, ids[0]))["status"] == "succeeded"
    assert marker.exists()


async def test_a_free_form_task_no_admin_defined_is_not_run_for_a_deploy_token(
    api, container: bootstrap.Container, tmp_path: Path
):
    """A task in the store without an admin behind it (stored before this rule, or by other means)."""
    marker = tmp_path / "x"
    ids = await a_stage(api, DEPLOYER)
    assert (
        await add(api, ids, {"name": "fine", "action": "wait", "params": {"seconds": 0}}, DEPLOYER)
    ).status_code == 201
    pipeline = (await container.pipeline_service.get_pipeline(ids[0])).value
    pipeline.stages[0].tasks.append(Task(TaskId.new(), "planted", "command", params={"argv": writes(marker)}))
    assert (await container.pipelines.save(pipeline)).is_success()

    refused = await api.post(f"/api/pipelines/{ids[0]}/execute", headers=DEPLOYER)

    assert_forbidden(refused, "command")
    assert refused.json()["task"] == "planted"
    assert (await api.get(f"/api/pipelines/{ids[0]}", headers=READER)).json()["status"] == "pending"
    assert not marker.exists()
    assert (await api.post(f"/api/pipelines/{ids[0]}/execute", headers=ADMIN)).status_code == 202
    assert (await ended(api, ids[0]))["status"] == "succeeded"
    assert marker.exists()


async def test_no_other_route_takes_a_task_from_a_deploy_token(api, tmp_path: Path):
    marker = tmp_path / "x"
    ids = await a_stage(api, DEPLOYER)
    task = command(writes(marker))
    body = {"name": "p2", "deployment_id": "cfg-x", "stages": [{"name": "s", "tasks": [task]}]}

    answers = [
        await api.post("/api/pipelines", json=body, headers=DEPLOYER),
        await api.patch(f"/api/pipelines/{ids[0]}", json={"stages": body["stages"]}, headers=DEPLOYER),
        await api.put(f"/api/pipelines/{ids[0]}/stages/{ids[1]}/tasks", json=[task], headers=DEPLOYER),
        await api.post(f"/api/pipelines/{ids[0]}/resume", headers=DEPLOYER),
        await api.post(f"/api/pipelines/{ids[0]}/retry", headers=DEPLOYER),
        await api.post(f"/api/pipelines/{ids[0]}/execute", json={"tasks": [task]}, headers=DEPLOYER),
    ]

    assert [answer.status_code for answer in answers] == [422, 405, 405, 404, 404, 422]
    assert not marker.exists()


async def test_env_run_by_an_admin_shows_no_server_variable_and_no_secret(api):
    ids = await a_stage(api, ADMIN)
    await add(api, ids, command(["env"], name="env"), ADMIN)

    await api.post(f"/api/pipelines/{ids[0]}/execute", headers=ADMIN)
    task = (await ended(api, ids[0]))["stages"][0]["tasks"][0]

    assert task["status"] == "succeeded", task["message"]
    printed = task["outputs"]["stdout_tail"]
    assert "PATH=" in printed
    assert "UNO_DEPLOY_" not in printed
    assert not [secret for secret in SERVER_SECRETS if secret in printed]


async def test_a_secret_a_configured_program_prints_is_hidden_in_outputs_events_and_logs(api):
    prints = 'echo "password=$DB_PASSWORD"; echo "$DB_PASSWORD" >&2; exit 1'
    ids = await a_stage(
        api,
        DEPLOYER,
        secrets=["DB_PASSWORD"],
        testing={"run_unit_tests": True, "unit_test_command": ["sh", "-c", prints]},
    )
    assert (await add(api, ids, {"name": "run-unit-tests"}, DEPLOYER)).status_code == 201

    with structlog.testing.capture_logs() as logs:
        await api.post(f"/api/pipelines/{ids[0]}/execute", headers=DEPLOYER)
        task = (await ended(api, ids[0]))["stages"][0]["tasks"][0]
    events = await api.get(f"/api/pipelines/{ids[0]}/events", headers=READER)

    assert task["status"] == "failed"
    assert (task["outputs"]["stdout_tail"], task["outputs"]["stderr_tail"]) == ("password=***\n", "***\n")
    assert DB_PASSWORD not in events.text
    assert logs
    assert DB_PASSWORD not in repr(logs)


async def test_a_configured_program_gets_the_secrets_its_configuration_names_and_no_other(api):
    shows = [sys.executable, "-c", "import os, json; print(json.dumps(sorted(os.environ)))"]
    ids = await a_stage(
        api,
        DEPLOYER,
        secrets=["DB_PASSWORD", "UNO_DEPLOY_DATABASE_URL"],
        environment_variables={"GREETING": "hello"},
        testing={"run_unit_tests": True, "unit_test_command": shows},
    )
    await add(api, ids, {"name": "run-unit-tests"}, DEPLOYER)

    await api.post(f"/api/pipelines/{ids[0]}/execute", headers=DEPLOYER)
    task = (await ended(api, ids[0]))["stages"][0]["tasks"][0]

    names = task["outputs"]["stdout_tail"]
    assert "DB_PASSWORD" in names
    assert "GREETING" in names
    assert "DEPLOY_TOKEN" not in names
    assert "UNO_DEPLOY_DATABASE_URL" not in names  # never the server's own, even when a configuration asks


async def test_a_secret_a_command_is_given_in_its_env_is_hidden_in_what_it_prints(api):
    ids = await a_stage(api, ADMIN)
    task = command(["sh", "-c", 'echo "token=$API_TOKEN greeting=$GREETING"'], name="echo")
    task["params"]["env"] = {"API_TOKEN": "tok-given-to-the-task", "GREETING": "hello-there"}
    await add(api, ids, task, ADMIN)

    await api.post(f"/api/pipelines/{ids[0]}/execute", headers=ADMIN)
    done = (await ended(api, ids[0]))["stages"][0]["tasks"][0]

    assert done["outputs"]["stdout_tail"] == "token=*** greeting=hello-there\n"


async def test_a_command_printing_nul_and_broken_utf8_is_stored_readably_on_either_store(api):
    ids = await a_stage(api, ADMIN)
    printing = command(["printf", "before\\000after \\355\\240\\200 end"], name="binary")

    added = await add(api, ids, printing, ADMIN)
    await api.post(f"/api/pipelines/{ids[0]}/execute", headers=ADMIN)
    pipeline = await ended(api, ids[0])

    assert added.status_code == 201, added.text
    assert pipeline["status"] == "succeeded", pipeline
    [task] = pipeline["stages"][0]["tasks"]
    assert task["outputs"]["stdout_tail"] == "before\ufffdafter \ufffd\ufffd\ufffd end"
    listed = await api.get("/api/pipelines", headers=READER)
    assert listed.status_code == 200


async def test_a_deploy_token_runs_the_scan_an_admin_configured_but_cannot_change_it(api, tmp_path: Path):
    scanner = tmp_path / "scanner.py"
    scanner.write_text("import os\nprint('scanned with', os.environ.get('DB_PASSWORD', 'no password'))\n")
    body = {
        "app_name": "shop",
        "app_version": "1.0.0",
        "environment": "dev",
        "platform": "custom",  # no driver: the deploy step fails, after the scan
        "security": {"scan_images": True, "scan_command": [sys.executable, str(scanner)]},
        "testing": {"run_unit_tests": False},
        "secrets": ["DB_PASSWORD"],
    }
    made = await api.post("/api/deployments/configs", json=body, headers=ADMIN)
    assert made.status_code == 201, made.text
    config_id = made.json()["id"]

    changed = await api.patch(
        f"/api/deployments/configs/{config_id}", json={"security": {"scan_command": ["id"]}}, headers=DEPLOYER
    )
    started = await api.post("/api/deployments/deploy", json={"config_id": config_id}, headers=DEPLOYER)

    assert changed.status_code == 403  # what the scan runs is an admin's to say
    assert started.status_code == 202, started.text
    status = await settled(api, started.json()["deployment_id"], **READER)
    pipeline = await ended(api, status["pipeline_id"])
    tasks = {task["name"]: task for stage in pipeline["stages"] for task in stage["tasks"]}
    assert tasks["scan-images"]["status"] == "succeeded"
    assert tasks["scan-images"]["outputs"]["stdout_tail"] == "scanned with ***\n"  # the secret it got, masked
    assert tasks["deploy"]["status"] == "failed"
