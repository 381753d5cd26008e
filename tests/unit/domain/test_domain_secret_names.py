"""Which ``environment_variables`` a configuration refuses to store (``domain.secret_names``)."""

from datetime import UTC, datetime

import pytest

from uno.core.result import Failure, Success
from uno.deployment.domain import configuring, secret_names
from uno.deployment.domain.ids import new_config_id

NOW = datetime(2026, 1, 1, tzinfo=UTC)
MINIMAL = {"app_name": "myapp", "app_version": "1.0.0", "environment": "dev"}

SECRET = [
    "DB_PASS",
    "PGPASS",
    "PGPASSWORD",
    "DATABASE_URL",
    "ANALYTICS_DATABASE_URL",
    "AUTH_KEY",
    "SESSION_KEY",
    "KEY_FILE",
    "DSN",
    "SENTRY_DSN",
    "API_KEY",
    "APIKEY",
    "DBPASSWORD",
    "GITHUB_TOKEN",
    "client_secret",
    "AWS_SECRET_ACCESS_KEY",
    "PRIVATE_KEY",
    "GOOGLE_CREDENTIALS",
    "SSH_PASSPHRASE",
    "NPMTOKEN",
]
PLAIN = ["KEYBOARD_LAYOUT", "MONKEY", "PASSENGER_COUNT", "LOG_LEVEL", "PORT", "TOKENIZERS_PARALLELISM", "HOMEPAGE_URL"]


@pytest.mark.parametrize("name", SECRET)
def test_secret_looking_names_are_refused_with_their_value(name: str) -> None:
    result = configuring.build(new_config_id(), {**MINIMAL, "environment_variables": {name: "value"}}, NOW)
    assert isinstance(result, Failure)
    assert result.error.context["field"] == f"environment_variables.{name}"
    assert "'secrets'" in result.error.message


@pytest.mark.parametrize("name", PLAIN)
def test_ordinary_names_pass(name: str) -> None:
    assert not secret_names.looks_secret(name)
    result = configuring.build(new_config_id(), {**MINIMAL, "environment_variables": {name: "value"}}, NOW)
    assert isinstance(result, Success)


@pytest.mark.parametrize("name", SECRET)
def test_secret_names_may_be_listed_in_secrets(name: str) -> None:
    result = configuring.build(new_config_id(), {**MINIMAL, "secrets": [name]}, NOW)
    assert isinstance(result, Success)


@pytest.mark.parametrize(
    "value", ["postgresql://app:hunter2@db:5432/app", "redis://:s3cret@cache:6379/0", "amqp://u:p@mq//"]
)
def test_a_url_with_a_password_is_refused_whatever_its_name(value: str) -> None:
    result = configuring.build(new_config_id(), {**MINIMAL, "environment_variables": {"UPSTREAM": value}}, NOW)
    assert isinstance(result, Failure)
    assert "user:password@" in result.error.message


@pytest.mark.parametrize("value", ["https://example.com/a:b@c", "postgresql://app@db/app", "http://host:8080/x"])
def test_urls_without_a_password_pass(value: str) -> None:
    assert not secret_names.embeds_password(value)
