"""Deployment records: their state machine and their stored documents."""

from datetime import UTC, datetime, timedelta
from itertools import product

import pytest

from uno.core.result import Success
from uno.deployment.domain import configuring
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.deployments import DeploymentResult
from uno.deployment.domain.enums import (
    DeploymentEnvironment,
    DeploymentKind,
    DeploymentPlatform,
    DeploymentStatus,
    DeploymentStrategy,
)
from uno.deployment.domain.ids import DeploymentId, PipelineId, new_config_id, new_deployment_id
from uno.deployment.domain.pipelines import InvalidTransition

NOW = datetime(2026, 1, 1, tzinfo=UTC)
S = DeploymentStatus
ALLOWED = {
    (S.PENDING, S.QUEUED),
    (S.PENDING, S.RUNNING),
    (S.PENDING, S.CANCELED),
    (S.PENDING, S.FAILED),  # it could not start (its pipeline or its queue job could not be stored)
    (S.QUEUED, S.RUNNING),
    (S.QUEUED, S.CANCELED),
    (S.QUEUED, S.FAILED),
    (S.RUNNING, S.SUCCEEDED),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.CANCELED),
    (S.RUNNING, S.ROLLING_BACK),
    (S.SUCCEEDED, S.ROLLING_BACK),
    (S.FAILED, S.ROLLING_BACK),
    (S.ROLLING_BACK, S.ROLLED_BACK),
    (S.ROLLING_BACK, S.SUCCEEDED),
    (S.ROLLING_BACK, S.FAILED),
    # an orphan canceled after its rollout reached the platform is rolled back (its runner cannot undo it)
    (S.CANCELED, S.ROLLING_BACK),
    (S.ROLLING_BACK, S.CANCELED),
}


def pair_id(pair: tuple[DeploymentStatus, DeploymentStatus]) -> str:
    return f"{pair[0]}->{pair[1]}"


def config() -> DeploymentConfig:
    result = configuring.build(
        new_config_id(),
        {
            "app_name": "myapp",
            "app_version": "2.0.0",
            "environment": "production",
            "platform": "kubernetes",
            "database": {"host": "db.internal", "password_env_var": "DB_PASSWORD"},
            "network": {"domain": "myapp.example.com", "use_https": True},
            "custom_settings": {"flags": {"beta": True}},
            "environment_variables": {"LOG_FORMAT": "json"},
            "secrets": ["API_KEY"],
        },
        NOW,
    )
    assert isinstance(result, Success)
    return result.value


def deployment(status: DeploymentStatus = S.PENDING) -> DeploymentResult:
    snapshot = config()
    return DeploymentResult(
        id=new_deployment_id(), config_id=snapshot.id, config=snapshot, created_at=NOW, status=status
    )


@pytest.mark.parametrize(("old", "new"), sorted(ALLOWED), ids=pair_id)
def test_allowed_deployment_moves(old: DeploymentStatus, new: DeploymentStatus) -> None:
    record = deployment(old)

    record.move(new, NOW, "moved")

    assert record.status is new
    assert record.message == "moved"
    assert record.success is (new is S.SUCCEEDED)


@pytest.mark.parametrize(("old", "new"), [pair for pair in product(S, S) if pair not in ALLOWED], ids=pair_id)
def test_forbidden_deployment_moves_raise(old: DeploymentStatus, new: DeploymentStatus) -> None:
    record = deployment(old)

    with pytest.raises(InvalidTransition, match=f"cannot go from {old} to {new}"):
        record.move(new, NOW)

    assert record.status is old


def test_a_deployment_records_its_start_finish_and_outcome() -> None:
    record = deployment()

    record.move(S.QUEUED, NOW)
    record.move(S.RUNNING, NOW + timedelta(seconds=1))
    assert record.started_at == NOW + timedelta(seconds=1)
    assert record.finished_at is None

    record.move(S.SUCCEEDED, NOW + timedelta(minutes=5), "deployed")

    assert record.finished_at == NOW + timedelta(minutes=5)
    assert record.success is True
    assert record.message == "deployed"


def test_a_move_without_a_message_keeps_the_last_one() -> None:
    record = deployment(S.RUNNING)
    record.message = "halfway"

    record.move(S.FAILED, NOW)

    assert record.message == "halfway"
    assert record.success is False


def test_a_failed_rollback_returns_to_success() -> None:
    record = deployment(S.RUNNING)
    record.move(S.SUCCEEDED, NOW)

    record.move(S.ROLLING_BACK, NOW + timedelta(minutes=1))
    assert record.success is False
    record.move(S.SUCCEEDED, NOW + timedelta(minutes=2), "rollback failed; release still runs")

    assert record.success is True


def test_a_deployment_reads_its_facts_from_the_config_snapshot() -> None:
    record = deployment()

    assert record.app_name == "myapp"
    assert record.app_version == "2.0.0"
    assert record.environment is DeploymentEnvironment.PRODUCTION
    assert record.platform is DeploymentPlatform.KUBERNETES
    assert record.strategy is DeploymentStrategy.BLUE_GREEN


def test_a_deployment_round_trips_through_a_document_with_its_config_snapshot() -> None:
    record = deployment(S.ROLLED_BACK)
    record.kind = DeploymentKind.ROLLBACK
    record.description = "roll back 2.0.0"
    record.message = "rolled back"
    record.started_at = NOW + timedelta(seconds=1)
    record.finished_at = NOW + timedelta(minutes=3)
    record.pipeline_id = PipelineId("pipe-7")
    record.rollback_of = DeploymentId("dep-previous")
    record.reached_platform = True
    record.details = {"replicas": 3, "urls": ["https://myapp.example.com"]}
    record.version = 4

    document = record.to_document()
    restored = DeploymentResult.from_document(document)

    assert restored == record
    assert restored.config == record.config
    assert restored.config.given_fields == record.config.given_fields
    assert restored.to_document() == document
    assert document["config"]["id"] == record.config_id.value
    assert document["id"] != document["config_id"]


def test_a_fresh_deployment_round_trips_through_a_document() -> None:
    record = deployment()

    restored = DeploymentResult.from_document(record.to_document())

    assert restored == record
    assert restored.pipeline_id is None
    assert restored.rollback_of is None
