"""The heroku platform's settings: what is required, what is refused, the dyno size chosen from resources."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from uno.deployment.adapters.platforms import heroku
from uno.deployment.adapters.platforms.heroku import options, resources
from uno.deployment.domain import configuring, settings_catalogue
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.ids import DeploymentId


def config(custom: dict[str, Any], **values: Any) -> DeploymentConfig:
    given = {
        "app_name": "shop",
        "app_version": "1.0.0",
        "environment": "dev",
        "platform": "heroku",
        "strategy": "blue-green",
        "custom_settings": custom,
        **values,
    }
    built = configuring.build(DeploymentId("cfg-1"), given, datetime(2026, 1, 1, tzinfo=UTC))
    assert built.is_success(), built
    return built.value


def test_the_app_and_the_source_are_required():
    missing_app = options.options_for(config({"source_dir": "."}))
    missing_source = options.options_for(config({"app": "shop-dev"}))

    assert missing_app.error.context["field"] == "custom_settings.app"
    assert "made once outside uno-deploy" in missing_app.error.message
    assert missing_source.error.context["field"] == "custom_settings.source_dir"


@pytest.mark.parametrize(
    ("key", "value"),
    [("app", "Shop_Dev"), ("api_key_env", "1TOKEN"), ("region", 3), ("build_timeout_seconds", 0), ("size", "a b")],
)
def test_a_bad_value_names_its_key(key: str, value: Any):
    refused = options.options_for(config({"app": "shop-dev", "source_dir": ".", key: value}))

    assert refused.is_failure()
    assert refused.error.context["field"] == f"custom_settings.{key}"


@pytest.mark.parametrize(
    ("cpu", "memory", "size"),
    [
        ("500m", "256Mi", "standard-1x"),
        ("1", "1Gi", "standard-2x"),
        ("2", "2Gi", "performance-m"),
        ("4", "8Gi", "performance-l"),
    ],
)
def test_the_dyno_size_is_the_smallest_holding_cpu_max_and_memory_max(cpu: str, memory: str, size: str):
    chosen = config({"app": "shop-dev", "source_dir": "."}, resources={"cpu_max": cpu, "memory_max": memory})

    assert options.options_for(chosen).value.size == size


def test_resources_no_dyno_holds_are_refused():
    chosen = config({"app": "shop-dev", "source_dir": "."}, resources={"cpu_max": "16", "memory_max": "32Gi"})

    refused = options.options_for(chosen)

    assert refused.error.context["field"] == "resources"
    assert "no Heroku dyno size holds" in refused.error.message


def test_a_build_version_carries_the_deployment_and_reads_back():
    text = resources.build_version("dep-1234", "1.2.3")

    assert resources.parse_build_version(text) == ("dep-1234", "1.2.3")
    assert resources.parse_build_version("a1b2c3d") is None  # a build made by git push


def test_the_declaration_names_every_custom_setting_the_options_read():
    declared = heroku.make_driver({}).declaration  # type: ignore[attr-defined]

    assert declared.custom_settings == options.KEYS
    assert declared.settings["resources.replicas_min"].honoured is True
    assert declared.settings["resources.auto_scaling"].honoured is False


def test_the_declaration_covers_every_platform_setting():
    declared = heroku.make_driver({}).declaration  # type: ignore[attr-defined]

    assert set(declared.settings) == {setting.path for setting in settings_catalogue.PLATFORM}
