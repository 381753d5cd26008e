"""Fixtures for the heroku driver's tests: the fake Platform API, an app on it, and sources to build.

A ``HerokuWorld`` is one test's Heroku: the fake (``tests/fake_heroku.py``) with the app
``shop-staging`` on it, the environment the driver reads (the token variable,
``HEROKU_API_URL`` pointing at the fake, ``HTTP_PROXY`` so that the app's
``http://shop-staging.herokuapp.com/`` reaches the fake's router) and ``source(...)``,
which writes a source directory whose ``FAKE_HEROKU`` file tells the fake how the build
behaves. Every test ends by checking that nothing either side sent broke Heroku's schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.fake_heroku import TOKEN, FakeHeroku
from uno.deployment.domain import configuring
from uno.deployment.domain.ids import DeploymentId
from uno.deployment.ports.platforms import Release

APP = "shop-staging"


@dataclass
class HerokuWorld:
    fake: FakeHeroku
    root: Path

    @property
    def environ(self) -> dict[str, str]:
        return {
            "HEROKU_API_KEY": TOKEN,
            "HEROKU_API_URL": self.fake.url,
            "HTTP_PROXY": self.fake.url,
            "SHOP_API_KEY": "s3cr3t-value-never-stored",
        }

    def source(self, name: str, behaviour: str = "") -> str:
        """A source directory (an app with a Procfile); ``behaviour`` goes to FAKE_HEROKU."""
        directory = self.root / name
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "Procfile").write_text("web: python app.py\n", encoding="utf-8")
        (directory / "app.py").write_text(f"VERSION = {name!r}\n", encoding="utf-8")
        if behaviour:
            (directory / "FAKE_HEROKU").write_text(behaviour, encoding="utf-8")
        return str(directory)

    def settings(self, source_dir: str, **extra: Any) -> dict[str, Any]:
        return {"app": APP, "source_dir": source_dir, **extra}

    def release(
        self, version: str, deployment: str, source_dir: str, strategy: str = "blue-green", **extra: Any
    ) -> Release:
        values = {
            "app_name": "shop",
            "app_version": version,
            "environment": "staging",
            "platform": "heroku",
            "strategy": strategy,
            "custom_settings": self.settings(source_dir, **extra),
            "resources": {"replicas_min": 2, "replicas_max": 2, "memory_max": "1Gi"},
            "environment_variables": {"LOG_FORMAT": "json"},
            "secrets": ["SHOP_API_KEY"],
        }
        built = configuring.build(DeploymentId("cfg-heroku"), values, datetime(2026, 1, 1, tzinfo=UTC))
        assert built.is_success(), built
        return Release(deployment, built.value)


@pytest.fixture
def heroku(tmp_path: Path) -> Iterator[HerokuWorld]:
    with FakeHeroku(build_reads=2, boot_reads=1, page_size=2) as fake:
        fake.add_app(APP)
        yield HerokuWorld(fake, tmp_path)
        assert fake.violations == [], fake.violations  # nothing either side sent broke Heroku's schema
