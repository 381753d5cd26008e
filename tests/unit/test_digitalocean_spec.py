"""The digitalocean platform's settings and app spec: each spec DigitalOcean's own OpenAPI description accepts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.digitalocean_contract import problems
from uno.deployment.adapters.platforms.digitalocean import honoured, options, rendering, resources
from uno.deployment.domain import configuring, settings_catalogue
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.ids import DeploymentId
from uno.deployment.ports.platforms import Release

APP_ID = "4f6c71e2-1e90-4762-9fee-6cc4a0a9f2cf"


def config(custom: dict[str, Any], **values: Any) -> DeploymentConfig:
    given = {
        "app_name": "shop",
        "app_version": "1.0.0",
        "environment": "dev",
        "platform": "digitalocean",
        "strategy": "rolling",
        "custom_settings": custom,
        "environment_variables": {"LOG_FORMAT": "json"},
        "secrets": ["SHOP_API_KEY"],
        **values,
    }
    built = configuring.build(DeploymentId("cfg-1"), given, datetime(2026, 1, 1, tzinfo=UTC))
    assert built.is_success(), built
    return built.value


@pytest.mark.parametrize(
    ("custom", "resources_given"),
    [
        ({"app": "shop-dev", "image": "registry.digitalocean.com/shop/web:1.0.0", "region": "ams"}, {}),
        ({"app_id": APP_ID, "image": "docker.io/library/nginx:1.27"}, {"replicas_min": 3, "replicas_max": 3}),
        (
            {"app": "shop-dev", "image": "ghcr.io/acme/web:2.1"},
            {"replicas_min": 2, "replicas_max": 6, "auto_scaling": True},
        ),
        ({"app": "shop-dev", "github": {"repo": "acme/web", "branch": "main"}}, {"cpu_max": "2", "memory_max": "4Gi"}),
    ],
)
def test_every_rendered_app_spec_is_one_digitalocean_accepts(custom: dict[str, Any], resources_given: dict[str, Any]):
    given = config(custom, resources=resources_given) if resources_given else config(custom)
    chosen = options.options_for(given)
    assert chosen.is_success(), chosen

    rendered = rendering.render(Release("dep-1", given), chosen.value)

    [item] = rendered["objects"]
    assert problems("apps_update_app_request.yml", item["body"]) == []
    assert problems("app_spec.yml", item["body"]["spec"]) == []
    [service] = item["body"]["spec"]["services"]
    envs = {env["key"]: env for env in service["envs"]}
    assert envs["SHOP_API_KEY"] == {
        "key": "SHOP_API_KEY",
        "value": "<from $SHOP_API_KEY at deploy time>",
        "scope": "RUN_TIME",
        "type": "SECRET",
    }
    assert envs["UNO_DEPLOYMENT_ID"]["value"] == "dep-1"
    assert service["health_check"] == {"http_path": "/health"}


def test_autoscaling_replaces_the_instance_count():
    given = config(
        {"app": "shop-dev", "image": "ghcr.io/acme/web:2.1"},
        resources={"replicas_min": 2, "replicas_max": 6, "auto_scaling": True, "auto_scaling_cpu_threshold": 70},
    )
    service = resources.service(given, options.options_for(given).value, "dep-1", {"SHOP_API_KEY": "x"})

    assert "instance_count" not in service  # App Platform refuses both
    assert service["autoscaling"] == {
        "min_instance_count": 2,
        "max_instance_count": 6,
        "metrics": {"cpu": {"percent": 70}},
    }


def test_an_existing_apps_other_components_are_kept():
    given = config({"app_id": APP_ID, "image": "docker.io/library/nginx:1.27"})
    live = {
        "name": "shop",
        "region": "ams",
        "services": [{"name": "web"}, {"name": "admin"}],
        "workers": [{"name": "q"}],
    }

    spec = resources.app_spec(given, options.options_for(given).value, "dep-1", {"SHOP_API_KEY": "x"}, live)

    assert [item["name"] for item in spec["services"]] == ["admin", "web"]
    assert spec["workers"] == [{"name": "q"}]


def test_the_validator_bites():
    wrong = {"spec": {"name": "Shop_", "region": "mars", "services": [{"instance_count": 0, "envs": [{"key": "a-b"}]}]}}

    found = problems("apps_update_app_request.yml", wrong)

    assert any("'mars' is not one of" in problem for problem in found)
    assert any("'name' is a required property" in problem for problem in found)
    assert any("0 is less than the minimum of 1" in problem for problem in found)


@pytest.mark.parametrize(
    ("custom", "field"),
    [
        ({"image": "registry.digitalocean.com/shop/web:1"}, "custom_settings.app_id"),
        ({"app": "shop-dev", "app_id": APP_ID, "image": "docker.io/library/nginx:1"}, "custom_settings.app_id"),
        ({"app": "shop-dev"}, "custom_settings.image"),
        ({"app": "shop-dev", "image": "quay.io/acme/web:1"}, "custom_settings.image"),
        ({"app": "shop-dev", "github": {"repo": "not a repo"}}, "custom_settings.github"),
        ({"app": "shop-dev", "image": "ghcr.io/acme/web:1", "region": "mars"}, "custom_settings.region"),
    ],
)
def test_a_bad_setting_names_its_key(custom: dict[str, Any], field: str):
    refused = options.options_for(config(custom))

    assert refused.is_failure()
    assert refused.error.context["field"] == field


@pytest.mark.parametrize(
    ("text", "registry_type", "registry", "repository", "tag"),
    [
        ("registry.digitalocean.com/shop/web:1.2", "DOCR", "shop", "web", "1.2"),
        ("docker.io/nginx:1.27", "DOCKER_HUB", "library", "nginx", "1.27"),
        ("ghcr.io/acme/tools/web:3", "GHCR", "acme/tools", "web", "3"),
    ],
)
def test_an_image_reference_is_split_as_app_platform_wants_it(
    text: str, registry_type: str, registry: str, repository: str, tag: str
):
    assert options.parse_image(text) == options.Image(registry_type, registry, repository, tag)


def test_the_declaration_covers_every_platform_setting_and_names_the_keys_the_options_read():
    assert set(honoured.SETTINGS) == {setting.path for setting in settings_catalogue.PLATFORM}
    assert honoured.DECLARATION.custom_settings == options.KEYS
