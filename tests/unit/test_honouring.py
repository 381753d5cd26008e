"""Settings a platform does not honour: declared by each driver, reported by one check, refused under strict."""

from __future__ import annotations

import pytest

from tests.support import PlatformStep
from uno.core.errors import ErrorCode
from uno.deployment import bootstrap
from uno.deployment.adapters.platforms.kubernetes import honoured as kubernetes_honoured
from uno.deployment.adapters.platforms.local import honoured as local_honoured
from uno.deployment.adapters.platforms.registry import DriverRegistry
from uno.deployment.domain import settings_catalogue
from uno.deployment.engine import honoured as engine_honoured
from uno.deployment.engine.actions import ActionRegistry
from uno.deployment.engine.builtin_actions import builtin_actions
from uno.deployment.settings import Settings

LOCAL = {"command": ["python", "-m", "http.server"], "port": 18080}
UNHONOURED_ON_LOCAL = {
    "security_config": {"enable_network_policy": True},
    "monitoring_config": {"enable_tracing": True, "enable_alerts": True},
}
NOT_SCANNED = {"security_config": {"scan_images": False}}  # pip-audit, local's default scanner, is not installed


@pytest.fixture
def calls() -> list[tuple[str, str]]:
    return []


def container_with(environ, calls, settings: Settings) -> bootstrap.Container:
    """The real drivers' declarations; the platform steps are doubles (nothing starts)."""
    registry = ActionRegistry(builtin_actions())
    for kind in ("deploy", "verify", "health_check", "rollback"):
        registry.register(PlatformStep(kind, calls, set()))
    return bootstrap.build(settings, environ=environ, actions=registry)


@pytest.fixture
def container(environ, calls, memory_settings) -> bootstrap.Container:
    return container_with(environ, calls, memory_settings)


async def create(container: bootstrap.Container, environment: str = "dev", **options):
    options.setdefault("custom_settings", LOCAL)
    options.setdefault("testing_config", {"run_unit_tests": False})
    created = await container.config_service.create_config(
        app_name="shop", app_version="1.0.0", environment=environment, platform="local", **options
    )
    return created.value


def fields(items) -> list[str]:
    return [item["field"] for item in items]


def test_every_driver_declares_every_platform_setting_and_the_engine_the_rest():
    for declaration in (local_honoured.DECLARATION, kubernetes_honoured.DECLARATION):
        assert set(declaration.settings) == set(settings_catalogue.PLATFORM_PATHS), declaration.platform
        assert all(support.note for support in declaration.settings.values())
    assert set(engine_honoured.SETTINGS) == set(settings_catalogue.ENGINE)
    assert not set(settings_catalogue.ENGINE) & set(settings_catalogue.PLATFORM_PATHS)


def test_a_platform_without_a_driver_honours_nothing_platform_side():
    declared = DriverRegistry().declaration_for("custom")

    assert declared.settings["monitoring.enable_tracing"].honoured is False
    assert declared.settings["resources.replicas_min"].note == "no driver for custom yet"
    assert declared.custom_settings is None  # its keys are not known here: none is refused


async def test_a_dev_deploy_on_local_records_what_local_does_not_honour_and_goes_ahead(container, calls):
    config = await create(container, **UNHONOURED_ON_LOCAL)

    record = (await container.deployment_service.deploy(config.id)).value

    assert record.success
    noted = record.details["not_honoured"]
    assert fields(noted) == ["security.enable_network_policy", "monitoring.enable_tracing", "monitoring.enable_alerts"]
    assert noted[1]["message"] == (
        "not honoured on local: tracing arrives with the observability work: nothing exports spans yet"
    )
    status = (await container.deployment_service.get_status(record.id)).value
    assert fields(status.not_honoured) == fields(noted)


async def test_a_configuration_local_honours_entirely_records_nothing(container):
    config = await create(container)

    record = (await container.deployment_service.deploy(config.id)).value

    assert record.success
    assert "not_honoured" not in record.details


async def test_production_is_strict_by_default_and_nothing_is_stored(container, calls):
    config = await create(container, "production")

    refused = await container.deployment_service.deploy(config.id)

    assert refused.error.code is ErrorCode.VALIDATION_ERROR
    planned = (await container.deployment_service.plan(config.id)).value
    assert planned.strict
    assert fields(planned.not_honoured) == fields(refused.error.context["errors"])
    listed = fields(refused.error.context["errors"])
    assert "monitoring.enable_tracing" in listed
    assert "resources.auto_scaling" not in listed  # the profile turns it on, and the local agent autoscales
    assert "testing.run_integration_tests" in listed  # enabled by the profile, no command: skipped
    assert refused.error.message.startswith("strict mode: ")
    assert (await container.deployment_service.list_deployments()).value == []
    assert calls == []


async def test_strict_off_deploys_production_with_the_settings_on_the_record(container):
    config = await create(container, "production", **NOT_SCANNED)

    record = (await container.deployment_service.deploy(config.id, strict=False)).value

    assert record.success
    assert "monitoring.enable_alerts" in fields(record.details["not_honoured"])
    suites = [item for item in record.details["not_honoured"] if item["field"] == "testing.run_performance_tests"]
    assert suites[0]["message"] == (
        "enabled but testing.performance_test_command is not set: the performance tests are skipped"
    )


async def test_strict_on_refuses_a_dev_deploy_too(container):
    config = await create(container, **UNHONOURED_ON_LOCAL)

    refused = await container.deployment_service.start_deploy(config.id, strict=True)

    assert fields(refused.error.context["errors"]) == [
        "security.enable_network_policy",
        "monitoring.enable_tracing",
        "monitoring.enable_alerts",
    ]


async def test_the_strict_environments_are_a_setting(environ, calls):
    container = container_with(environ, calls, Settings(database_url="memory://", strict_environments=[]))
    config = await create(container, "production", **NOT_SCANNED)

    assert (await container.deployment_service.deploy(config.id)).value.success


async def test_an_unknown_custom_setting_is_refused_with_the_one_meant(container):
    config = await create(container, custom_settings={**LOCAL, "helth_path": "/ready"})

    refused = await container.deployment_service.deploy(config.id, strict=False)

    assert refused.error.code is ErrorCode.VALIDATION_ERROR
    assert refused.error.context["errors"] == [
        {
            "field": "custom_settings.helth_path",
            "message": "is not a setting of the local platform (did you mean health_path?)",
        }
    ]
    assert (await container.deployment_service.list_deployments()).value == []


async def test_strategy_keys_are_settings_of_every_platform(container):
    config = await create(container, custom_settings={**LOCAL, "drain_seconds": 1, "canary": {"steps": [50, 100]}})

    assert (await container.deployment_service.deploy(config.id)).value.success


async def test_the_plan_lists_what_would_not_be_honoured_and_the_unknown_keys(container):
    config = await create(container, custom_settings={**LOCAL, "helth_path": "/ready"}, **UNHONOURED_ON_LOCAL)

    planned = (await container.deployment_service.plan(config.id)).value

    assert fields(planned.not_honoured) == [
        "security.enable_network_policy",
        "monitoring.enable_tracing",
        "monitoring.enable_alerts",
    ]
    assert {
        "field": "custom_settings.helth_path",
        "message": "is not a setting of the local platform (did you mean health_path?)",
    } in planned.problems
    assert planned.to_document()["not_honoured"] == [dict(item) for item in planned.not_honoured]


async def test_profile_values_count_only_when_they_turn_something_on(container):
    """The dev profile fills CPU and memory for every configuration: not a promise until written."""
    config = await create(container)
    quiet = {"run_unit_tests": False, "run_integration_tests": False}
    chosen = await create(container, "test", network_config={"port": 9000}, testing_config=quiet)  # dev is taken

    assert (await container.deployment_service.plan(config.id)).value.not_honoured == ()
    assert "resources.cpu_max" not in settings_catalogue.active(config)  # the profile's value
    assert "network.port" not in settings_catalogue.active(config)
    assert "network.port" in settings_catalogue.active(
        chosen
    )  # written: a promise (local honours it: the router's port)
    assert (await container.deployment_service.plan(chosen.id)).value.not_honoured == ()
