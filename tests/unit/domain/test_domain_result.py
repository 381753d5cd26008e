"""The Result pattern: Success carries a value, Failure carries ErrorDetails."""

from typing import Any

import pytest

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success, UnwrapError
from uno.deployment.domain.enums import DeploymentEnvironment, DeploymentPlatform, DeploymentStrategy

NOT_FOUND = ErrorDetails.not_found("configuration", "cfg-1")


def describe(result: Result[int]) -> str:
    match result:
        case Success(value):
            return f"got {value}"
        case Failure(error):
            return f"failed with {error.code.value}"


def test_success_holds_its_value() -> None:
    result = Success(42)

    assert result.is_success()
    assert not result.is_failure()
    assert result.value == 42


def test_failure_holds_its_error() -> None:
    result = Failure(NOT_FOUND)

    assert result.is_failure()
    assert not result.is_success()
    assert result.error is NOT_FOUND


def test_results_work_with_match() -> None:
    assert describe(Success(7)) == "got 7"
    assert describe(Failure(NOT_FOUND)) == "failed with NOT_FOUND"


def test_reading_the_error_of_a_success_raises() -> None:
    with pytest.raises(UnwrapError, match="a Success has no error"):
        _ = Success(1).error


def test_reading_the_value_of_a_failure_raises_and_shows_the_error() -> None:
    with pytest.raises(UnwrapError, match="a Failure has no value") as raised:
        _ = Failure(NOT_FOUND).value

    assert "NOT_FOUND: configuration 'cfg-1' not found" in str(raised.value)


def test_unwrap_error_is_a_runtime_error() -> None:
    assert issubclass(UnwrapError, RuntimeError)


def test_results_compare_by_content() -> None:
    assert Success(1) == Success(1)
    assert Success(1) != Success(2)
    assert Failure(NOT_FOUND) == Failure(ErrorDetails.not_found("configuration", "cfg-1"))


def test_validation_details_name_the_field_in_message_and_context() -> None:
    error = ErrorDetails.validation("resources.cpu_min", "is too large", limit="4")

    assert error.code is ErrorCode.VALIDATION_ERROR
    assert error.message == "resources.cpu_min: is too large"
    assert error.context == {"field": "resources.cpu_min", "limit": "4"}
    assert str(error) == "VALIDATION_ERROR: resources.cpu_min: is too large"


def test_not_found_details_name_the_kind_and_id() -> None:
    assert NOT_FOUND.code is ErrorCode.NOT_FOUND
    assert NOT_FOUND.context == {"kind": "configuration", "id": "cfg-1"}


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        (DeploymentEnvironment, "DEV", DeploymentEnvironment.DEV),
        (DeploymentEnvironment, "Production", DeploymentEnvironment.PRODUCTION),
        (DeploymentEnvironment, "prod", DeploymentEnvironment.PRODUCTION),
        (DeploymentStrategy, "BLUE_GREEN", DeploymentStrategy.BLUE_GREEN),
        (DeploymentPlatform, "Kubernetes", DeploymentPlatform.KUBERNETES),
    ],
)
def test_enum_names_are_accepted_in_any_case(kind: Any, text: str, expected: Any) -> None:
    assert kind(text) is expected
