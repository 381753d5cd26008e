"""What a text or a JSON-like value may hold before it is stored (``domain.texts``),
checked where it enters: the configuration model and the services' argument checks."""

from datetime import UTC, datetime
from typing import Any

import pytest

from uno.core.errors import ErrorCode
from uno.core.result import Failure, Success
from uno.deployment.domain import configuring, texts
from uno.deployment.domain.ids import DeploymentId, new_config_id
from uno.deployment.services import inputs

NOW = datetime(2026, 1, 1, tzinfo=UTC)
MINIMAL = {"app_name": "myapp", "app_version": "1.0.0", "environment": "dev"}


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def field_refused(given: dict[str, Any]) -> str:
    result = configuring.build(new_config_id(), {**MINIMAL, **given}, NOW)
    assert isinstance(result, Failure), result
    assert result.error.code is ErrorCode.VALIDATION_ERROR
    field: str = result.error.context["field"]
    return field


@pytest.mark.parametrize(
    ("value", "prose", "said"),
    [
        ("a\x00b", True, "NUL"),
        ("a\ud800", True, "lone surrogate (U+D800)"),
        ("\udfff", False, "lone surrogate (U+DFFF)"),
        ("web\n", False, "control character (U+000A)"),
        ("a\tb", False, "control character (U+0009)"),
        ("a\x1b[31m", True, "control character other than newline and tab (U+001B)"),
        ("a\x85", True, "U+0085"),
    ],
)
def test_bad_text_is_named(value: str, prose: bool, said: str) -> None:
    found = texts.problem(value, prose=prose)
    assert found is not None
    assert said in found


@pytest.mark.parametrize("value", ["web", "Ünïcode ✓", "two\nlines\tand a tab\r\n"])
def test_good_prose_passes(value: str) -> None:
    assert texts.problem(value, prose=True) is None


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"app_name": "nl\n"}, "app_name"),
        ({"app_version": "1.0.0\n"}, "app_version"),
        ({"description": "a\x00b"}, "description"),
        ({"description": "a\ud800"}, "description"),
        ({"database": {"host": "db\x00"}}, "database.host"),
        ({"database": {"user": "app\nroot"}}, "database.user"),
        ({"build_command": ["make", "a\x00"]}, "build_command[1]"),
        ({"environment_variables": {"MODE": "x\x00"}}, "environment_variables.MODE"),
        ({"environment_variables": {"MODE\n": "x"}}, "environment_variables.MODE\n"),
        ({"secrets": ["API_KEY\n"]}, "secrets[0]"),
        ({"custom_settings": {"k": "\ud800"}}, "custom_settings.k"),
        ({"custom_settings": {"bad\x00key": 1}}, "custom_settings.bad\\x00key"),
        ({"network": {"health_check_path": "/h\x00"}}, "network.health_check_path"),
    ],
)
def test_a_configuration_refuses_unstorable_text_naming_the_field(given: dict[str, Any], field: str) -> None:
    assert field_refused(given) == field


def test_descriptions_keep_their_lines() -> None:
    result = configuring.build(new_config_id(), {**MINIMAL, "description": "line one\n\tline two"}, NOW)
    assert isinstance(result, Success)


@pytest.mark.parametrize("depth", [33, 500, 900, 5000])
def test_custom_settings_nested_too_deep_are_refused(depth: int) -> None:
    field = field_refused({"custom_settings": nested(depth)})
    assert field.startswith("custom_settings.a.a")


def test_custom_settings_up_to_the_depth_limit_pass() -> None:
    result = configuring.build(new_config_id(), {**MINIMAL, "custom_settings": nested(texts.MAX_DEPTH)}, NOW)
    assert isinstance(result, Success)


def test_custom_settings_over_the_size_limit_are_refused() -> None:
    assert field_refused({"custom_settings": {"blob": "x" * texts.MAX_JSON_CHARS}}) == "custom_settings"


@pytest.mark.parametrize(
    ("value", "field", "max_length"),
    [("a\x00", "name", 200), ("p\ud800", "name", 200), ("two\nlines", "name", 200), ("x\x00", "description", 2000)],
)
def test_service_text_arguments_refuse_bad_text(value: str, field: str, max_length: int) -> None:
    result = inputs.text(value, field, max_length=max_length)
    assert isinstance(result, Failure)
    assert result.error.context["field"] == field


def test_service_prose_keeps_newlines_and_names_are_stripped() -> None:
    assert inputs.text("first\nsecond", "description", required=False, max_length=2000) == Success("first\nsecond")
    assert inputs.text("nl\n", "name") == Success("nl")


@pytest.mark.parametrize("value", ["a\x00", "\ud800", "a\nb"])
def test_service_filters_refuse_bad_text(value: str) -> None:
    result = inputs.optional_text(value, "app_name")
    assert isinstance(result, Failure)
    assert result.error.context["field"] == "app_name"


@pytest.mark.parametrize("value", ["dep-1\n", "cfg-a\x00", "x\ud800"])
def test_ids_refuse_a_trailing_newline_and_bad_text(value: str) -> None:
    with pytest.raises(ValueError, match="invalid DeploymentId"):
        DeploymentId(value)


def test_a_repository_refuses_an_unstorable_document_naming_its_path() -> None:
    found = texts.unstorable("pipeline", {"stages": [{"tasks": [{"params": {"x": "a\x00"}}]}]})
    assert found is not None
    assert found.code is ErrorCode.VALIDATION_ERROR
    assert found.context["field"] == "stages[0].tasks[0].params.x"
    assert texts.unstorable("pipeline", {"message": "line\nline\x1b"}) is None  # storable, if not pretty
