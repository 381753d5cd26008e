"""DeploymentConfigService as a user calls it: keyword names, profiles, merges, errors."""

from __future__ import annotations

import pytest

from uno.core.errors import ErrorCode
from uno.deployment import (
    DatabaseConfig,
    DeploymentEnvironment,
    DeploymentPlatform,
    DeploymentStrategy,
    bootstrap,
)
from uno.deployment.domain.ids import DeploymentId


@pytest.fixture
def service(container: bootstrap.Container):
    return container.config_service


async def test_create_uses_the_spec_keyword_names_and_fills_the_rest_from_the_profile(service):
    result = await service.create_config(
        app_name="shop",
        app_version="1.0.0",
        environment=DeploymentEnvironment.PRODUCTION,
        platform=DeploymentPlatform.KUBERNETES,
        resource_requirements={"cpu_max": "4"},
        database_config=DatabaseConfig(host="db", name="shop", password_env_var="DB_PASSWORD"),
    )

    config = result.value
    assert config.resources.cpu_max == "4"
    assert config.resources.replicas_min >= 2
    assert config.strategy is DeploymentStrategy.BLUE_GREEN
    assert config.database.backup_before_deploy is True  # production's profile, not given
    assert config.database.host == "db"
    assert config.id.value.startswith("cfg-")


async def test_validation_errors_name_the_keyword_the_caller_used(service):
    result = await service.create_config(
        app_name="shop", app_version="1.0.0", environment="dev", resource_requirements={"cpu_min": "lots"}
    )

    assert result.error.code is ErrorCode.VALIDATION_ERROR
    assert result.error.context["field"] == "resource_requirements.cpu_min"
    assert result.error.message.startswith("resource_requirements.cpu_min: 'lots' is not a quantity")


async def test_get_list_and_filters(service):
    a = (await service.create_config(app_name="a", app_version="1.0.0", environment="dev")).value
    b = (await service.create_config(app_name="a", app_version="1.0.0", environment="production")).value
    c = (await service.create_config(app_name="c", app_version="1.0.0", environment="dev")).value

    assert (await service.get_config(a.id)).value == a
    assert [config.id for config in (await service.list_configs()).value] == [c.id, b.id, a.id]
    assert [config.id for config in (await service.list_configs(app_name="a")).value] == [b.id, a.id]
    assert [config.id for config in (await service.list_configs(environment="dev")).value] == [c.id, a.id]
    assert [config.id for config in (await service.list_configs(app_name="a", environment="dev")).value] == [a.id]
    assert [config.id for config in (await service.list_configs(limit=1, offset=1)).value] == [b.id]


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"environment": "moon"}, "environment"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"platform": "mainframe"}, "platform"),
    ],
)
async def test_list_refuses_bad_filters(service, arguments, field):
    result = await service.list_configs(**arguments)

    assert result.error.code is ErrorCode.VALIDATION_ERROR
    assert result.error.context["field"] == field


async def test_get_unknown_is_not_found(service):
    result = await service.get_config(DeploymentId("config-123"))

    assert result.error.code is ErrorCode.NOT_FOUND
    assert result.error.message == "configuration 'config-123' not found"


async def test_update_merges_nested_dicts_and_validates_the_whole(service):
    config = (
        await service.create_config(
            app_name="shop", app_version="1.0.0", environment="dev", custom_settings={"team": "x", "tier": 1}
        )
    ).value

    updated = await service.update_config(
        config.id, app_version="1.1.0", resource_requirements={"replicas_max": 1}, custom_settings={"tier": None}
    )

    assert updated.value.app_version == "1.1.0"
    assert updated.value.resources.cpu_min == config.resources.cpu_min
    assert updated.value.custom_settings == {"team": "x"}
    assert updated.value.version == config.version + 1
    assert "app_version" in updated.value.given_fields


async def test_an_invalid_update_changes_nothing(service):
    config = (await service.create_config(app_name="shop", app_version="1.0.0", environment="dev")).value

    result = await service.update_config(
        config.id, resource_requirements={"cpu_min": "2", "cpu_max": "1"}, app_version="2.0.0"
    )

    assert result.error.code is ErrorCode.VALIDATION_ERROR
    assert result.error.context["field"] == "resource_requirements.cpu_min"
    assert (await service.get_config(config.id)).value == config


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id": "cfg-x"}, "id"),
        ({"version": 9}, "version"),
        ({"colour": "blue"}, "colour"),
        ({"environment": "production"}, "environment"),
    ],
)
async def test_update_refuses_what_cannot_change(service, changes, field):
    config = (await service.create_config(app_name="shop", app_version="1.0.0", environment="dev")).value

    result = await service.update_config(config.id, **changes)

    assert result.error.code is ErrorCode.VALIDATION_ERROR
    assert result.error.context["field"] == field


async def test_update_with_a_stale_expected_version_is_a_conflict(service):
    config = (await service.create_config(app_name="shop", app_version="1.0.0", environment="dev")).value
    await service.update_config(config.id, app_version="1.0.1")

    result = await service.update_config(config.id, expected_version=config.version, app_version="1.0.2")

    assert result.error.code is ErrorCode.CONFLICT
    assert (await service.get_config(config.id)).value.app_version == "1.0.1"


async def test_update_unknown_is_not_found(service):
    result = await service.update_config("cfg-missing", app_version="2.0.0")

    assert result.error.code is ErrorCode.NOT_FOUND


async def test_delete_then_get_is_not_found(service):
    config = (await service.create_config(app_name="shop", app_version="1.0.0", environment="dev")).value

    assert (await service.delete_config(config.id)).value == config.id
    assert (await service.get_config(config.id)).error.code is ErrorCode.NOT_FOUND
    assert (await service.delete_config(config.id)).error.code is ErrorCode.NOT_FOUND


async def test_derive_keeps_choices_and_takes_the_target_profile(service):
    dev = (
        await service.create_config(
            app_name="shop",
            app_version="1.4.0",
            environment="dev",
            platform="kubernetes",
            network_config={"domain": "shop.example.com"},
        )
    ).value

    production = (await service.derive_config(dev.id, "production", app_version="1.4.1")).value

    assert production.id != dev.id
    assert production.derived_from == dev.id
    assert production.environment is DeploymentEnvironment.PRODUCTION
    assert (production.platform, production.network.domain) == (DeploymentPlatform.KUBERNETES, "shop.example.com")
    assert production.app_version == "1.4.1"
    assert production.strategy is DeploymentStrategy.BLUE_GREEN
    assert production.testing.run_performance_tests is True
    assert (await service.get_config(dev.id)).value == dev


async def test_derive_to_an_unknown_environment_is_refused(service):
    dev = (await service.create_config(app_name="shop", app_version="1.4.0", environment="dev")).value

    result = await service.derive_config(dev.id, "moon")

    assert result.error.code is ErrorCode.VALIDATION_ERROR
    assert result.error.context["field"] == "environment"
