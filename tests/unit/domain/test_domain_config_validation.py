"""Every rule a DeploymentConfig enforces, checked through ``configuring.build``.

A refused configuration is a ``Failure`` carrying one VALIDATION_ERROR whose message
starts with the dotted path of the offending field and whose context names that path.
"""

from datetime import UTC, datetime
from typing import Any

import pytest

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain import configuring
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.enums import DeploymentEnvironment
from uno.deployment.domain.ids import new_config_id

NOW = datetime(2026, 1, 1, tzinfo=UTC)
MINIMAL = {"app_name": "myapp", "app_version": "1.0.0", "environment": "dev"}


def build(given: dict[str, Any], rename: dict[str, str] | None = None) -> Result[DeploymentConfig]:
    return configuring.build(new_config_id(), {**MINIMAL, **given}, NOW, rename=rename)


def built(given: dict[str, Any]) -> DeploymentConfig:
    result = build(given)
    assert isinstance(result, Success), f"expected a valid configuration, got {result}"
    return result.value


def refused(given: dict[str, Any], field: str, rename: dict[str, str] | None = None) -> ErrorDetails:
    """Build ``given`` and check it is refused for ``field``; return the error for more checks."""
    result = build(given, rename)
    assert isinstance(result, Failure), f"expected {field} to be refused, got {result}"
    error = result.error
    assert error.code is ErrorCode.VALIDATION_ERROR
    assert error.context["field"] == field
    assert error.message.startswith(f"{field}: ")
    return error


def test_a_valid_configuration_is_built_with_the_given_id_and_time() -> None:
    config_id = new_config_id()

    result = configuring.build(config_id, dict(MINIMAL), NOW)

    assert isinstance(result, Success)
    config = result.value
    assert config.id == config_id
    assert config.app_name == "myapp"
    assert config.app_version == "1.0.0"
    assert config.environment is DeploymentEnvironment.DEV
    assert config.created_at == NOW
    assert config.updated_at == NOW
    assert config.version == 1
    assert config.derived_from is None


# --- app_name and app_version ---------------------------------------------------------


@pytest.mark.parametrize("name", ["my-app", "app2", "a", "a" * 63])
def test_app_name_accepts_dns_labels(name: str) -> None:
    assert built({"app_name": name}).app_name == name


@pytest.mark.parametrize("name", ["MyApp", "my_app", "a" * 64, "-myapp", "myapp-", "my app", ""])
def test_app_name_must_be_a_dns_label(name: str) -> None:
    error = refused({"app_name": name}, "app_name")
    assert "is not a valid name" in error.message


@pytest.mark.parametrize("version", ["1.0.0", "v2.3.4-rc.1+build.5", "latest", "2024-01-01_abc", "sha-3f2a9c1"])
def test_app_version_accepts_semantic_versions_and_image_tags(version: str) -> None:
    assert built({"app_version": version}).app_version == version


@pytest.mark.parametrize("version", ["a b", "..", "", ".hidden", "1.0.0+", "x" * 129])
def test_app_version_must_be_a_semantic_version_or_an_image_tag(version: str) -> None:
    error = refused({"app_version": version}, "app_version")
    assert "neither a semantic version" in error.message


# --- environment, strategy and unknown fields ----------------------------------------


def test_an_unknown_environment_is_refused_with_the_choices() -> None:
    error = refused({"environment": "qa"}, "environment")
    assert "'qa'" in error.message
    assert "dev, test, staging, production" in error.message


def test_the_environment_is_required() -> None:
    result = configuring.build(new_config_id(), {"app_name": "myapp", "app_version": "1.0.0"}, NOW)

    assert isinstance(result, Failure)
    assert result.error.code is ErrorCode.VALIDATION_ERROR
    assert result.error.context["field"] == "environment"
    assert "is required" in result.error.message


@pytest.mark.parametrize(
    ("alias", "environment"),
    [("prod", DeploymentEnvironment.PRODUCTION), ("development", DeploymentEnvironment.DEV), ("stage", "staging")],
)
def test_environment_aliases_are_accepted(alias: str, environment: str) -> None:
    assert built({"environment": alias}).environment == environment


def test_an_unknown_strategy_is_refused() -> None:
    refused({"strategy": "big-bang"}, "strategy")


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"database": {"password": "hunter2"}}, "database.password"),
        ({"resources": {"gpu": "1"}}, "resources.gpu"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_unknown_fields_are_refused_by_name(given: dict[str, Any], field: str) -> None:
    error = refused(given, field)
    assert error.message == f"{field}: is not a known field"


def test_a_section_that_is_not_a_mapping_is_refused() -> None:
    refused({"resources": "large"}, "resources")


# --- resources ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resources", "field", "hint"),
    [
        ({"cpu_min": "abc"}, "resources.cpu_min", "is not a quantity"),
        ({"cpu_max": "-1"}, "resources.cpu_max", "is not a quantity"),
        ({"cpu_max": "256Mi"}, "resources.cpu_max", "is a memory size, not a CPU amount"),
        ({"memory_min": "100m"}, "resources.memory_min", "is a fraction of a byte"),
        ({"memory_max": "1Zi"}, "resources.memory_max", "unknown suffix"),
    ],
)
def test_cpu_and_memory_must_be_quantities(resources: dict[str, Any], field: str, hint: str) -> None:
    error = refused({"resources": resources}, field)
    assert hint in error.message


@pytest.mark.parametrize(
    ("resources", "field"),
    [
        ({"cpu_min": "2", "cpu_max": "1"}, "resources.cpu_min"),
        ({"cpu_min": "600m", "cpu_max": "0.5"}, "resources.cpu_min"),
        ({"memory_min": "1Gi", "memory_max": "512Mi"}, "resources.memory_min"),
        ({"replicas_min": 3, "replicas_max": 2}, "resources.replicas_min"),
    ],
)
def test_resource_minimums_cannot_exceed_maximums(resources: dict[str, Any], field: str) -> None:
    error = refused({"resources": resources}, field)
    name = field.rpartition(".")[2].removesuffix("_min")
    assert f"is greater than {name}_max" in error.message


def test_resource_ranges_compare_values_not_spelling() -> None:
    config = built({"resources": {"cpu_min": "500m", "cpu_max": "0.5", "memory_min": "1Gi", "memory_max": "1024Mi"}})

    assert config.resources.cpu_min == "500m"
    assert config.resources.memory_max == "1024Mi"


def test_the_cpu_range_message_quotes_the_given_values() -> None:
    error = refused({"resources": {"cpu_min": "2", "cpu_max": "1"}}, "resources.cpu_min")
    assert error.message == "resources.cpu_min: cpu_min (2) is greater than cpu_max (1)"


@pytest.mark.parametrize("replicas", [0, 1001])
def test_replicas_must_be_between_1_and_1000(replicas: int) -> None:
    refused({"resources": {"replicas_min": replicas, "replicas_max": 1000}}, "resources.replicas_min")


@pytest.mark.parametrize("threshold", [0, 101])
def test_auto_scaling_cpu_threshold_outside_1_to_100_is_refused(threshold: int) -> None:
    refused({"resources": {"auto_scaling_cpu_threshold": threshold}}, "resources.auto_scaling_cpu_threshold")


@pytest.mark.parametrize("threshold", [1, 100])
def test_auto_scaling_cpu_threshold_accepts_1_and_100(threshold: int) -> None:
    config = built({"resources": {"auto_scaling_cpu_threshold": threshold}})
    assert config.resources.auto_scaling_cpu_threshold == threshold


def test_rename_reports_the_section_under_the_callers_name() -> None:
    error = refused(
        {"resources": {"cpu_min": "2", "cpu_max": "1"}},
        "resource_requirements.cpu_min",
        rename={"resources": "resource_requirements"},
    )
    assert error.context["errors"][0]["field"] == "resource_requirements.cpu_min"


def test_rename_leaves_other_sections_alone() -> None:
    refused({"network": {"port": 0}}, "network.port", rename={"resources": "resource_requirements"})


# --- database -------------------------------------------------------------------------


def test_the_connection_pool_minimum_cannot_exceed_its_maximum() -> None:
    error = refused({"database": {"connection_pool_min": 5, "connection_pool_max": 2}}, "database.connection_pool_min")
    assert "connection_pool_min (5) is greater than connection_pool_max (2)" in error.message


@pytest.mark.parametrize(
    ("section", "port"), [("database", 0), ("database", 65536), ("network", 0), ("network", 65536)]
)
def test_ports_outside_1_to_65535_are_refused(section: str, port: int) -> None:
    refused({section: {"port": port}}, f"{section}.port")


@pytest.mark.parametrize("port", [1, 65535])
def test_ports_at_the_edges_are_accepted(port: int) -> None:
    config = built({"database": {"port": port}, "network": {"port": port}})

    assert config.database is not None
    assert config.database.port == port
    assert config.network.port == port


@pytest.mark.parametrize("name", ["db-password", "1PASSWORD", "DB PASSWORD", ""])
def test_password_env_var_must_be_an_environment_variable_name(name: str) -> None:
    error = refused({"database": {"password_env_var": name}}, "database.password_env_var")
    assert "is not an environment variable name" in error.message


def test_password_env_var_names_the_variable_holding_the_password() -> None:
    config = built({"database": {"password_env_var": "DB_PASSWORD"}})

    assert config.database is not None
    assert config.database.password_env_var == "DB_PASSWORD"


# --- network --------------------------------------------------------------------------


@pytest.mark.parametrize("domain", ["not a host", "localhost", "10.0.0.1", "-bad.example.com", "a..b"])
def test_domain_must_be_a_hostname(domain: str) -> None:
    refused({"network": {"domain": domain}}, "network.domain")


def test_an_ip_address_is_refused_as_an_address() -> None:
    error = refused({"network": {"domain": "10.0.0.1"}}, "network.domain")
    assert "is an address, not a hostname" in error.message


@pytest.mark.parametrize(
    ("domain", "stored"),
    [
        ("myapp.example.com", "myapp.example.com"),
        ("MyApp.Example.COM.", "myapp.example.com"),
        ("*.apps.example.com", "*.apps.example.com"),
    ],
)
def test_valid_domains_are_kept_in_lowercase(domain: str, stored: str) -> None:
    assert built({"network": {"domain": domain}}).network.domain == stored


def test_https_needs_a_domain() -> None:
    error = refused({"network": {"use_https": True}}, "network.use_https")
    assert "needs a domain" in error.message


def test_https_with_a_domain_is_accepted() -> None:
    network = built({"network": {"use_https": True, "domain": "myapp.example.com"}}).network

    assert network.use_https is True
    assert network.domain == "myapp.example.com"


def test_the_health_check_path_must_be_absolute() -> None:
    refused({"network": {"health_check_path": "health"}}, "network.health_check_path")


# --- environment variables, secrets and custom settings -------------------------------


@pytest.mark.parametrize("name", ["DB_PASSWORD", "API_KEY", "APIKEY", "GITHUB_TOKEN", "client_secret", "CREDENTIALS"])
def test_environment_variables_with_a_secret_looking_name_are_refused(name: str) -> None:
    error = refused({"environment_variables": {name: "value"}}, f"environment_variables.{name}")
    assert f"{name} looks like a secret" in error.message
    assert "'secrets'" in error.message


def test_secret_names_belong_in_secrets() -> None:
    config = built({"environment_variables": {"LOG_FORMAT": "json"}, "secrets": ["DB_PASSWORD", "API_KEY"]})

    assert config.environment_variables == {"LOG_FORMAT": "json"}
    assert config.secrets == ["DB_PASSWORD", "API_KEY"]


def test_environment_variable_names_must_be_valid() -> None:
    result = build({"environment_variables": {"bad-name": "x"}})

    assert isinstance(result, Failure)
    assert result.error.code is ErrorCode.VALIDATION_ERROR
    assert result.error.context["field"] == "environment_variables.bad-name"
    assert "'bad-name' is not an environment variable name" in result.error.message


def test_a_secret_named_twice_is_refused() -> None:
    error = refused({"secrets": ["API_KEY", "API_KEY"]}, "secrets")
    assert "names a secret twice" in error.message


def test_secret_names_must_be_environment_variable_names() -> None:
    refused({"secrets": ["API_KEY", "not a name"]}, "secrets[1]")


@pytest.mark.parametrize(
    "value",
    [object(), {1, 2}, float("nan"), float("inf"), datetime(2026, 1, 1, tzinfo=UTC)],
    ids=["object", "set", "nan", "infinity", "datetime"],
)
def test_custom_settings_must_hold_json_values(value: Any) -> None:
    error = refused({"custom_settings": {"feature": value}}, "custom_settings.feature")
    assert "must hold JSON values only" in error.message


def test_custom_settings_accept_nested_json() -> None:
    settings = {"flags": {"beta": True, "ratio": 0.25}, "owners": ["ops", "dev"], "note": None}

    assert built({"custom_settings": settings}).custom_settings == settings


def test_build_command_must_name_a_program() -> None:
    refused({"build_command": []}, "build_command")


# --- several problems at once ---------------------------------------------------------


def test_every_problem_is_listed_and_the_first_is_in_the_message() -> None:
    error = refused(
        {
            "app_name": "My_App",
            "app_version": "a b",
            "resources": {"cpu_min": "2", "cpu_max": "1"},
            "network": {"port": 0},
        },
        "app_name",
    )

    fields = [problem["field"] for problem in error.context["errors"]]
    assert sorted(fields) == ["app_name", "app_version", "network.port", "resources.cpu_min"]
    assert all(problem["message"] for problem in error.context["errors"])
    assert error.message.endswith("(and 3 more problems)")


def test_a_second_problem_is_counted_in_the_singular() -> None:
    error = refused({"app_name": "My_App", "app_version": "a b"}, "app_name")
    assert error.message.endswith("(and 1 more problem)")
