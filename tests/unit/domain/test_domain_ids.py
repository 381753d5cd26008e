"""Identifiers: new ones are unique, prefixed and time-ordered; given ones are checked."""

import time

import pytest

from uno.deployment.domain.ids import (
    DeploymentId,
    PipelineId,
    StageId,
    TaskId,
    is_valid_id,
    new_config_id,
    new_deployment_id,
)


@pytest.mark.parametrize(
    ("kind", "prefix"),
    [(DeploymentId, "dep-"), (PipelineId, "pipe-"), (StageId, "stg-"), (TaskId, "task-")],
)
def test_new_ids_carry_their_kinds_prefix(kind: type[DeploymentId], prefix: str) -> None:
    identifier = kind.new()

    assert isinstance(identifier, kind)
    assert identifier.value.startswith(prefix)
    assert len(identifier.value) == len(prefix) + 26
    assert is_valid_id(identifier.value)


def test_config_and_deployment_ids_are_told_apart_by_prefix() -> None:
    assert new_config_id().value.startswith("cfg-")
    assert new_deployment_id().value.startswith("dep-")


def test_new_ids_are_unique() -> None:
    ids = {TaskId.new() for _ in range(1000)}

    assert len(ids) == 1000


def test_new_ids_sort_in_creation_order() -> None:
    created = []
    for _ in range(5):
        created.append(PipelineId.new())
        time.sleep(0.002)  # ids are ordered by millisecond

    assert sorted(created) == created
    assert sorted(identifier.value for identifier in created) == [identifier.value for identifier in created]


@pytest.mark.parametrize("value", ["x", "my-config", "a.b_c:d-1", "A" * 128])
def test_ids_given_by_callers_are_kept_as_they_are(value: str) -> None:
    assert DeploymentId(value).value == value
    assert str(DeploymentId(value)) == value


@pytest.mark.parametrize(
    "value",
    ["", "has space", "x" * 200, "A" * 129, "-leading-dash", "slash/inside", "new\nline"],
    ids=["empty", "space", "200 chars", "129 chars", "leading dash", "slash", "newline"],
)
def test_invalid_ids_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="invalid DeploymentId"):
        DeploymentId(value)


def test_a_non_string_id_is_refused() -> None:
    with pytest.raises(ValueError, match="invalid TaskId"):
        TaskId(42)  # type: ignore[arg-type]


def test_ids_of_different_kinds_are_never_equal() -> None:
    assert DeploymentId("x") != TaskId("x")  # type: ignore[comparison-overlap]
    assert DeploymentId("x") == DeploymentId("x")


def test_of_accepts_a_string_or_an_id() -> None:
    identifier = DeploymentId("x")

    assert DeploymentId.of("x") == identifier
    assert DeploymentId.of(identifier) is identifier


def test_of_refuses_an_invalid_string() -> None:
    with pytest.raises(ValueError, match="invalid StageId"):
        StageId.of("not valid")


def test_ids_are_hashable_values() -> None:
    assert {DeploymentId("a"), DeploymentId("a"), DeploymentId("b")} == {DeploymentId("a"), DeploymentId("b")}
