"""Fixtures for the digitalocean driver's tests: the fake App Platform API over TLS, and releases for it.

A ``DoWorld`` is one test's App Platform: the fake (``tests/fake_digitalocean.py``), the
environment the driver reads (the token variable, ``DIGITALOCEAN_API_URL`` pointing at the
fake, ``SSL_CERT_FILE`` naming the test CA the fake's certificate comes from) and
``release(...)``. Every test ends by checking that nothing either side sent broke
DigitalOcean's OpenAPI description.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.fake_digitalocean import TOKEN, FakeDigitalOcean
from uno.deployment.domain import configuring
from uno.deployment.domain.ids import DeploymentId
from uno.deployment.ports.platforms import Release

IMAGE = "registry.digitalocean.com/shop/web"


@dataclass
class DoWorld:
    fake: FakeDigitalOcean

    @property
    def environ(self) -> dict[str, str]:
        return {
            "DIGITALOCEAN_TOKEN": TOKEN,
            "DIGITALOCEAN_API_URL": self.fake.url,
            "SSL_CERT_FILE": self.fake.ca_file,
            "SHOP_API_KEY": "s3cr3t-value-never-stored",
        }

    def settings(self, version: str, **extra: Any) -> dict[str, Any]:
        return {"app": "shop-staging", "image": f"{IMAGE}:{version}", "region": "ams", **extra}

    def release(self, version: str, deployment: str, strategy: str = "rolling", **extra: Any) -> Release:
        values = {
            "app_name": "shop",
            "app_version": version,
            "environment": "staging",
            "platform": "digitalocean",
            "strategy": strategy,
            "custom_settings": self.settings(version, **extra),
            "resources": {"replicas_min": 2, "replicas_max": 2},
            "environment_variables": {"LOG_FORMAT": "json"},
            "secrets": ["SHOP_API_KEY"],
        }
        built = configuring.build(DeploymentId("cfg-do"), values, datetime(2026, 1, 1, tzinfo=UTC))
        assert built.is_success(), built
        return Release(deployment, built.value)


@pytest.fixture
def digitalocean(tmp_path: Path) -> Iterator[DoWorld]:
    with FakeDigitalOcean(tmp_path / "test-ca.pem") as fake:
        yield DoWorld(fake)
        assert fake.violations == [], fake.violations  # nothing either side sent broke DigitalOcean's description
