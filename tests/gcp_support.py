"""The fake Cloud Run API for the gcp driver's tests, and what every test of it checks at the end.

The driver reaches ``tests.fake_cloud_run`` through the official ``google-cloud-run``
client (REST transport), pointed there by ``UNO_DEPLOY_GCP_ENDPOINT`` in the environment
it is given (an ``http://`` endpoint gets anonymous credentials). Every request the driver
sent and every answer the fake gave was checked against Cloud Run's discovery document:
the ``cloud_run`` fixture fails the test if any broke it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.fake_cloud_run import FakeCloudRun, serving
from uno.deployment.domain import configuring
from uno.deployment.domain.ids import DeploymentId
from uno.deployment.ports.platforms import Release

PROJECT, REGION = "shop-project-1", "europe-west1"
IMAGE = f"{REGION}-docker.pkg.dev/{PROJECT}/apps/shop:1"
SERVICE = f"projects/{PROJECT}/locations/{REGION}/services/shop-staging"


def settings(**extra: Any) -> dict[str, Any]:
    """The driver's custom_settings; an ``extra`` of None removes that key."""
    found = {"project": PROJECT, "region": REGION, "image": IMAGE, **extra}
    return {key: value for key, value in found.items() if value is not None}


def environ(fake: FakeCloudRun) -> dict[str, str]:
    return {"UNO_DEPLOY_GCP_ENDPOINT": fake.url}


def release(version: str, deployment: str, *, resources: dict[str, Any] | None = None, **extra: Any) -> Release:
    values = {
        "app_name": "shop",
        "app_version": version,
        "environment": "staging",
        "platform": "gcp",
        "strategy": "blue-green",
        "custom_settings": settings(**extra),
        "resources": resources or {"replicas_min": 2, "replicas_max": 4},
    }
    built = configuring.build(DeploymentId("cfg-gcp"), values, datetime(2026, 1, 1, tzinfo=UTC))
    assert built.is_success(), built
    return Release(deployment, built.value)


@pytest.fixture
def cloud_run() -> Iterator[FakeCloudRun]:
    with serving() as fake:
        yield fake
        assert fake.violations == [], "exchanges that break Cloud Run's discovery document"
