"""Changing a configuration (``update``) and deriving one for another environment (``derive``)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from uno.core.errors import ErrorCode
from uno.core.result import Failure, Success
from uno.deployment.domain import configuring
from uno.deployment.domain.configs import DeploymentConfig, ResourceRequirements
from uno.deployment.domain.enums import DeploymentEnvironment, DeploymentStrategy
from uno.deployment.domain.ids import new_config_id

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


def built(environment: str = "dev", **given: Any) -> DeploymentConfig:
    result = configuring.build(
        new_config_id(), {"app_name": "myapp", "app_version": "1.0.0", "environment": environment, **given}, NOW
    )
    assert isinstance(result, Success), f"expected a valid configuration, got {result}"
    return result.value


def updated(config: DeploymentConfig, changes: dict[str, Any]) -> DeploymentConfig:
    result = configuring.update(config, changes, LATER)
    assert isinstance(result, Success), f"expected the update to apply, got {result}"
    return result.value


# --- update ---------------------------------------------------------------------------


def test_update_replaces_plain_fields_and_stamps_the_time() -> None:
    config = built()

    changed = updated(config, {"app_version": "1.1.0", "description": "second release"})

    assert changed.app_version == "1.1.0"
    assert changed.description == "second release"
    assert changed.id == config.id
    assert changed.created_at == NOW
    assert changed.updated_at == LATER


def test_update_merges_a_section_and_keeps_its_other_fields() -> None:
    config = built(resources={"cpu_min": "200m"})

    changed = updated(config, {"resources": {"replicas_max": 3}})

    assert changed.resources.replicas_max == 3
    assert changed.resources.cpu_min == "200m"
    assert changed.resources.cpu_max == config.resources.cpu_max
    assert changed.resources.memory_max == config.resources.memory_max


def test_update_accepts_a_section_model_with_only_the_fields_set() -> None:
    config = built(resources={"cpu_min": "200m"})

    changed = updated(config, {"resources": ResourceRequirements(replicas_max=2)})

    assert changed.resources.replicas_max == 2
    assert changed.resources.cpu_min == "200m"


def test_update_merges_custom_settings_and_none_removes_a_key() -> None:
    config = built(custom_settings={"a": 1, "b": {"x": 1, "y": 2}})

    changed = updated(config, {"custom_settings": {"a": None, "b": {"y": None, "z": 3}, "c": "new"}})

    assert changed.custom_settings == {"b": {"x": 1, "z": 3}, "c": "new"}


def test_update_merges_environment_variables() -> None:
    config = built(environment_variables={"LOG_FORMAT": "json", "REGION": "eu"})

    changed = updated(config, {"environment_variables": {"REGION": None, "WORKERS": "4"}})

    assert changed.environment_variables == {"LOG_FORMAT": "json", "WORKERS": "4"}


def test_update_adds_and_removes_a_database() -> None:
    config = built("production")

    with_database = updated(config, {"database": {"host": "db.internal"}})
    without_database = updated(with_database, {"database": None})

    assert with_database.database is not None
    assert with_database.database.host == "db.internal"
    assert with_database.database.backup_before_deploy is True  # production's profile
    assert without_database.database is None


def test_update_records_the_changed_fields_as_given() -> None:
    config = built()

    changed = updated(config, {"strategy": "rolling", "resources": {"replicas_max": 2}})

    assert changed.strategy is DeploymentStrategy.ROLLING
    assert changed.given_fields == config.given_fields | {"strategy", "resources.replicas_max"}


@pytest.mark.parametrize("environment", ["production", DeploymentEnvironment.STAGING])
def test_update_cannot_change_the_environment(environment: Any) -> None:
    config = built()

    result = configuring.update(config, {"environment": environment}, LATER)

    assert isinstance(result, Failure)
    assert result.error.code is ErrorCode.VALIDATION_ERROR
    assert result.error.context["field"] == "environment"
    assert "derive" in result.error.message


@pytest.mark.parametrize("environment", ["dev", "development", DeploymentEnvironment.DEV])
def test_update_accepts_the_same_environment(environment: Any) -> None:
    assert updated(built(), {"environment": environment}).environment is DeploymentEnvironment.DEV


def test_update_validates_the_whole_result_and_leaves_the_original_untouched() -> None:
    config = built(resources={"cpu_min": "200m"})
    before = config.model_copy(deep=True)

    result = configuring.update(config, {"resources": {"cpu_max": "100m"}}, LATER)

    assert isinstance(result, Failure)
    assert result.error.code is ErrorCode.VALIDATION_ERROR
    assert result.error.context["field"] == "resources.cpu_min"
    assert config == before
    assert config.resources.cpu_max == "250m"


def test_update_reports_fields_under_the_callers_names() -> None:
    result = configuring.update(
        built(), {"resources": {"cpu_min": "1", "cpu_max": "10m"}}, LATER, rename={"resources": "resource_requirements"}
    )

    assert isinstance(result, Failure)
    assert result.error.context["field"] == "resource_requirements.cpu_min"


def test_update_moves_a_profile_filled_side_to_meet_a_changed_one() -> None:
    config = built()

    raised = configuring.update(config, {"resources": {"cpu_min": "4"}}, LATER).value
    lowered = configuring.update(config, {"resources": {"memory_max": "64Mi"}}, LATER).value

    assert (raised.resources.cpu_min, raised.resources.cpu_max) == ("4", "4")
    assert (lowered.resources.memory_min, lowered.resources.memory_max) == ("64Mi", "64Mi")


def test_update_never_moves_a_side_the_caller_chose() -> None:
    config = configuring.update(built(), {"resources": {"cpu_max": "2"}}, LATER).value

    result = configuring.update(config, {"resources": {"cpu_min": "3"}}, LATER)

    assert isinstance(result, Failure)
    assert result.error.context["field"] == "resources.cpu_min"
    assert result.error.message == "resources.cpu_min: cpu_min (3) is greater than cpu_max (2)"


def test_a_pool_minimum_above_the_default_maximum_raises_the_maximum() -> None:
    config = configuring.build(
        new_config_id(),
        {"app_name": "myapp", "app_version": "1.0.0", "environment": "dev", "database": {"connection_pool_min": 20}},
        LATER,
    ).value

    assert (config.database.connection_pool_min, config.database.connection_pool_max) == (20, 20)


def test_update_refuses_invalid_values() -> None:
    result = configuring.update(built(), {"app_name": "Not Valid"}, LATER)

    assert isinstance(result, Failure)
    assert result.error.context["field"] == "app_name"


def test_update_keeps_the_version_for_the_repository_to_bump() -> None:
    config = built()

    assert updated(config, {"app_version": "2.0.0"}).version == config.version == 1


def test_update_with_an_unknown_environment_is_a_validation_failure() -> None:
    result = configuring.update(built(), {"environment": "qa"}, LATER)

    assert isinstance(result, Failure)
    assert result.error.context["field"] == "environment"


# --- derive ---------------------------------------------------------------------------


def test_derive_keeps_the_callers_choices_and_takes_the_new_profile_for_the_rest() -> None:
    source = built(
        "dev",
        app_version="3.1.4",
        resources={"memory_max": "1Gi"},
        custom_settings={"feature": "on"},
        database={"host": "db.internal"},
    )
    before = source.model_copy(deep=True)
    new_id = new_config_id()

    result = configuring.derive(source, "production", {}, new_id, LATER)

    assert isinstance(result, Success)
    derived = result.value
    assert derived.environment is DeploymentEnvironment.PRODUCTION
    assert derived.id == new_id
    assert derived.id != source.id
    assert derived.derived_from == source.id
    assert derived.created_at == derived.updated_at == LATER
    assert derived.version == 1
    # the caller's choices
    assert derived.app_version == "3.1.4"
    assert derived.resources.memory_max == "1Gi"
    assert derived.custom_settings == {"feature": "on"}
    assert derived.database is not None
    assert derived.database.host == "db.internal"
    # production's profile for everything else
    assert derived.strategy is DeploymentStrategy.BLUE_GREEN
    assert derived.resources.cpu_min == "500m"
    assert derived.resources.replicas_min == 2
    assert derived.resources.auto_scaling is True
    assert derived.security.scan_images is True
    assert derived.testing.run_performance_tests is True
    assert derived.monitoring.log_level == "INFO"
    assert derived.database.backup_before_deploy is True
    assert derived.given_fields == source.given_fields
    # the source is untouched
    assert source == before


def test_derive_applies_changes_on_top_of_the_callers_choices() -> None:
    source = built("dev", resources={"memory_max": "1Gi"})

    result = configuring.derive(
        source, "staging", {"app_version": "2.0.0", "resources": {"replicas_max": 8}}, new_config_id(), LATER
    )

    assert isinstance(result, Success)
    derived = result.value
    assert derived.app_version == "2.0.0"
    assert derived.resources.memory_max == "1Gi"
    assert derived.resources.replicas_max == 8
    assert derived.environment is DeploymentEnvironment.STAGING


def test_derive_accepts_an_environment_enum() -> None:
    result = configuring.derive(built(), DeploymentEnvironment.TEST, {}, new_config_id(), LATER)

    assert isinstance(result, Success)
    assert result.value.strategy is DeploymentStrategy.ROLLING


def test_derive_refuses_an_unknown_environment() -> None:
    result = configuring.derive(built(), "qa", {}, new_config_id(), LATER)

    assert isinstance(result, Failure)
    assert result.error.code is ErrorCode.VALIDATION_ERROR
    assert result.error.context["field"] == "environment"


def test_derive_refuses_changes_that_make_the_result_invalid() -> None:
    result = configuring.derive(built(), "production", {"network": {"use_https": True}}, new_config_id(), LATER)

    assert isinstance(result, Failure)
    assert result.error.context["field"] == "network.use_https"


def test_given_values_returns_only_what_the_caller_chose() -> None:
    config = built("test", strategy="canary", resources={"cpu_max": "1"})

    assert configuring.given_values(config) == {
        "app_name": "myapp",
        "app_version": "1.0.0",
        "strategy": DeploymentStrategy.CANARY,
        "resources": {"cpu_max": "1"},
    }


def test_derive_keeps_a_database_given_with_default_settings() -> None:
    source = built("dev", database={})
    assert source.database is not None

    result = configuring.derive(source, "production", {}, new_config_id(), LATER)

    assert isinstance(result, Success)
    assert result.value.database is not None


def test_a_field_reset_with_none_takes_the_new_profile_when_derived() -> None:
    source = updated(built("dev", resources={"cpu_min": "200m"}), {"resources": {"cpu_min": None}})
    assert source.resources.cpu_min == "100m"  # back to dev's profile

    result = configuring.derive(source, "production", {}, new_config_id(), LATER)

    assert isinstance(result, Success)
    assert result.value.resources.cpu_min == "500m"
