"""Environment profiles: what a configuration gets for everything the caller left out."""

from datetime import UTC, datetime
from typing import Any

import pytest

from uno.core.result import Success
from uno.deployment.domain import configuring
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.enums import DeploymentStrategy
from uno.deployment.domain.ids import new_config_id

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ENVIRONMENTS = ["dev", "test", "staging", "production"]


def built(environment: str, **given: Any) -> DeploymentConfig:
    result = configuring.build(
        new_config_id(), {"app_name": "myapp", "app_version": "1.0.0", "environment": environment, **given}, NOW
    )
    assert isinstance(result, Success), f"expected a valid configuration, got {result}"
    return result.value


@pytest.mark.parametrize(
    ("environment", "strategy"),
    [
        ("dev", DeploymentStrategy.RECREATE),
        ("test", DeploymentStrategy.ROLLING),
        ("staging", DeploymentStrategy.BLUE_GREEN),
        ("production", DeploymentStrategy.BLUE_GREEN),
    ],
)
def test_each_environment_has_its_default_strategy(environment: str, strategy: DeploymentStrategy) -> None:
    assert built(environment).strategy is strategy


def test_dev_runs_one_replica_without_autoscaling() -> None:
    resources = built("dev").resources

    assert (resources.replicas_min, resources.replicas_max) == (1, 1)
    assert resources.auto_scaling is False


def test_test_runs_up_to_two_replicas_without_autoscaling() -> None:
    resources = built("test").resources

    assert (resources.replicas_min, resources.replicas_max) == (1, 2)
    assert resources.auto_scaling is False


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_staging_and_production_run_several_replicas_with_autoscaling(environment: str) -> None:
    resources = built(environment).resources

    assert resources.replicas_min >= 2
    assert resources.replicas_max > resources.replicas_min
    assert resources.auto_scaling is True


def test_production_gets_the_largest_resources() -> None:
    resources = built("production").resources

    assert (resources.cpu_min, resources.cpu_max) == ("500m", "2")
    assert (resources.memory_min, resources.memory_max) == ("512Mi", "2Gi")
    assert (resources.replicas_min, resources.replicas_max) == (2, 10)
    assert resources.auto_scaling_cpu_threshold == 70


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ("dev", dict.fromkeys(("network_policy", "scan", "non_root", "read_only"), False)),
        ("test", {"network_policy": False, "scan": True, "non_root": False, "read_only": False}),
        ("staging", dict.fromkeys(("network_policy", "scan", "non_root", "read_only"), True)),
        ("production", dict.fromkeys(("network_policy", "scan", "non_root", "read_only"), True)),
    ],
)
def test_each_environment_has_its_security_level(environment: str, expected: dict[str, bool]) -> None:
    security = built(environment).security

    assert {
        "network_policy": security.enable_network_policy,
        "scan": security.scan_images,
        "non_root": security.run_as_non_root,
        "read_only": security.read_only_root_filesystem,
    } == expected


@pytest.mark.parametrize(
    ("environment", "suites"),
    [
        ("dev", ["unit"]),
        ("test", ["unit", "integration"]),
        ("staging", ["unit", "integration", "security"]),
        ("production", ["unit", "integration", "performance", "security"]),
    ],
)
def test_each_environment_runs_its_test_suites(environment: str, suites: list[str]) -> None:
    assert built(environment).testing.enabled_suites() == suites


@pytest.mark.parametrize(
    ("environment", "log_level", "metrics", "alerts"),
    [
        ("dev", "DEBUG", False, False),
        ("test", "INFO", True, False),
        ("staging", "INFO", True, True),
        ("production", "INFO", True, True),
    ],
)
def test_each_environment_has_its_monitoring(environment: str, log_level: str, metrics: bool, alerts: bool) -> None:
    monitoring = built(environment).monitoring

    assert monitoring.log_level == log_level
    assert monitoring.enable_logging is True
    assert monitoring.enable_metrics is metrics
    assert monitoring.enable_alerts is alerts


# --- what the caller gave wins --------------------------------------------------------


def test_a_given_strategy_wins_over_the_profile() -> None:
    assert built("production", strategy="canary").strategy is DeploymentStrategy.CANARY


def test_a_given_resource_wins_and_the_rest_of_the_section_comes_from_the_profile() -> None:
    resources = built("dev", resources={"replicas_max": 3}).resources

    assert resources.replicas_max == 3
    assert resources.replicas_min == 1
    assert (resources.cpu_min, resources.cpu_max) == ("100m", "250m")


def test_a_given_log_level_wins_and_is_upper_cased() -> None:
    assert built("dev", monitoring={"log_level": "warning"}).monitoring.log_level == "WARNING"


def test_given_security_wins_in_production() -> None:
    security = built("production", security={"scan_images": False}).security

    assert security.scan_images is False
    assert security.run_as_non_root is True


def test_given_tests_win_over_the_profile() -> None:
    testing = built("production", testing={"run_performance_tests": False}).testing

    assert testing.enabled_suites() == ["unit", "integration", "security"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_no_database_unless_one_is_given(environment: str) -> None:
    assert built(environment).database is None


# --- ranges meet the caller's value instead of failing ---------------------------------


def test_a_given_minimum_above_the_profile_maximum_raises_the_maximum() -> None:
    resources = built("dev", resources={"cpu_min": "1"}).resources

    assert (resources.cpu_min, resources.cpu_max) == ("1", "1")


def test_a_given_maximum_below_the_profile_minimum_lowers_the_minimum() -> None:
    resources = built("dev", resources={"cpu_max": "50m"}).resources

    assert (resources.cpu_min, resources.cpu_max) == ("50m", "50m")


def test_memory_and_replica_ranges_also_meet_the_given_value() -> None:
    resources = built("production", resources={"memory_max": "256Mi", "replicas_max": 1}).resources

    assert (resources.memory_min, resources.memory_max) == ("256Mi", "256Mi")
    assert (resources.replicas_min, resources.replicas_max) == (1, 1)


def test_a_given_minimum_within_the_profile_range_leaves_the_maximum_alone() -> None:
    resources = built("production", resources={"cpu_min": "1"}).resources

    assert (resources.cpu_min, resources.cpu_max) == ("1", "2")


def test_both_sides_given_out_of_order_is_still_refused() -> None:
    result = configuring.build(
        new_config_id(),
        {
            "app_name": "myapp",
            "app_version": "1.0.0",
            "environment": "dev",
            "resources": {"cpu_min": "1", "cpu_max": "500m"},
        },
        NOW,
    )

    assert not isinstance(result, Success)
    assert result.error.context["field"] == "resources.cpu_min"


def test_an_invalid_given_quantity_is_reported_not_moved() -> None:
    result = configuring.build(
        new_config_id(),
        {"app_name": "myapp", "app_version": "1.0.0", "environment": "dev", "resources": {"cpu_min": "lots"}},
        NOW,
    )

    assert not isinstance(result, Success)
    assert result.error.context["field"] == "resources.cpu_min"


# --- given_fields ---------------------------------------------------------------------


def test_given_fields_records_exactly_what_the_caller_gave() -> None:
    config = built(
        "staging",
        strategy="rolling",
        resources={"cpu_min": "300m", "replicas_max": 6},
        database={"host": "db.internal"},
        custom_settings={"feature": True},
    )

    assert config.given_fields == {
        "app_name",
        "app_version",
        "strategy",
        "resources.cpu_min",
        "resources.replicas_max",
        "database.host",
        "custom_settings",
    }


def test_profile_values_are_not_recorded_as_given() -> None:
    config = built("dev", resources={"cpu_min": "1"})

    assert "resources.cpu_max" not in config.given_fields
    assert "strategy" not in config.given_fields


# --- database backups -----------------------------------------------------------------


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_staging_and_production_back_up_a_given_database_before_deploying(environment: str) -> None:
    database = built(environment, database={"host": "db.internal"}).database

    assert database is not None
    assert database.host == "db.internal"
    assert database.backup_before_deploy is True


def test_a_caller_can_turn_production_backups_off() -> None:
    database = built("production", database={"host": "db.internal", "backup_before_deploy": False}).database

    assert database is not None
    assert database.backup_before_deploy is False


@pytest.mark.parametrize("environment", ["dev", "test"])
def test_dev_and_test_do_not_back_up_by_default(environment: str) -> None:
    database = built(environment, database={"host": "db.internal"}).database

    assert database is not None
    assert database.backup_before_deploy is False
