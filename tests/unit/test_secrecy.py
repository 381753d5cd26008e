"""Secret values never reach a task's records; programs get only what their configuration names."""

from __future__ import annotations

from typing import Any

import pytest
import structlog.testing

from uno.deployment import bootstrap
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.engine import secrecy
from uno.deployment.engine.actions import ActionContext, ActionOutcome

SECRET = "s3cret-value"  # DB_PASSWORD in the ``environ`` fixture


class Leaky:
    """An action (a careless plugin) that repeats a secret of the server's environment everywhere."""

    kind = "leaky"
    free_form = False

    def check(self, params: dict[str, Any]) -> str | None:
        return None

    async def run(self, context: ActionContext) -> ActionOutcome:
        secret = context.environ["DB_PASSWORD"]
        await context.report(f"connecting with {secret}", dsn=f"postgresql://app:{secret}@db/shop")
        if context.params.get("raise"):
            raise RuntimeError(f"login failed for password {secret}")
        return ActionOutcome.failed(f"wrong password {secret}", seen=[secret, {"nested": secret}])


async def run_leaky(container: bootstrap.Container, **params: Any) -> tuple[Any, list[Any], list[Any]]:
    container.actions.register(Leaky())
    config = await container.config_service.create_config(app_name="shop", app_version="1.0.0", environment="dev")
    service = container.pipeline_service
    pipeline = (await service.create_pipeline("p", deployment_id=config.value.id)).value
    stage = (await service.add_stage(pipeline.id, "s")).value
    await service.add_task(pipeline.id, stage.id, "leak", action="leaky", params=params)
    with structlog.testing.capture_logs() as logs:
        await service.execute_pipeline(pipeline.id)
    stored = (await service.get_pipeline(pipeline.id)).value
    return stored, (await service.get_events(pipeline.id)).value, logs


@pytest.mark.parametrize("params", [{}, {"raise": True}])
async def test_a_secret_in_a_tasks_message_outputs_and_progress_is_stored_and_logged_as_stars(
    container: bootstrap.Container, params: dict[str, Any]
):
    stored, events, logs = await run_leaky(container, **params)

    task = stored.task_named("leak")
    assert task.status.value == "failed"
    assert "***" in task.message
    assert task.outputs["dsn"] == "postgresql://app:***@db/shop"
    records = [repr(task.to_document()), repr(stored.to_document()), repr(events), repr(logs)]
    assert [record for record in records if SECRET in record] == []
    assert any(event.message == "connecting with ***" for event in events)


async def a_config(container: bootstrap.Container, **values: Any) -> DeploymentConfig:
    created = await container.config_service.create_config(
        app_name="shop", app_version="1.0.0", environment="dev", **values
    )
    return created.value


async def test_the_redactor_hides_named_secret_looking_and_url_password_values_but_not_short_ones(
    container: bootstrap.Container,
):
    environ = {
        "APP_DB_PASS": "named-by-the-config",
        "STRIPE_API_KEY": "sk_live_123456",
        "UNO_DEPLOY_DATABASE_URL": "postgresql://uno:p%40ss-word@db/uno",
        "PIN_TOKEN": "12",
        "GREETING": "hello-world",
    }
    config = await a_config(container, secrets=["APP_DB_PASS"])
    redactor = secrecy.Redactor.for_run(config, environ, known=["postgresql://other:known-pass@h/db"])

    text = "named-by-the-config sk_live_123456 p@ss-word p%40ss-word known-pass 12 hello-world"
    assert redactor.text(text) == "*** *** *** *** *** 12 hello-world"
    assert redactor.value({"a": [text, ("sk_live_123456",)], "n": 1}) == {
        "a": ["*** *** *** *** *** 12 hello-world", ["***"]],
        "n": 1,
    }


async def test_a_configurations_programs_get_its_variables_and_named_secrets_never_the_servers_own(
    container: bootstrap.Container,
):
    config = await a_config(
        container,
        environment_variables={"GREETING": "hello"},
        secrets=["APP_SECRET", "UNO_DEPLOY_DATABASE_URL", "UNSET_SECRET"],
        database_config={"engine": "postgresql", "name": "shop", "password_env_var": "DB_PASSWORD"},
    )
    environ = {
        "APP_SECRET": "a",
        "DB_PASSWORD": "b",
        "UNO_DEPLOY_DATABASE_URL": "c",
        "OTHER_SECRET": "d",
        "PATH": "/bin",
    }

    assert secrecy.configured_environment(config, environ) == {
        "GREETING": "hello",
        "APP_SECRET": "a",
        "DB_PASSWORD": "b",
    }
