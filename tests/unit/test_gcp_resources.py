"""The gcp platform's settings, sizes, names and declaration: pure data, no SDK, no network."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from uno.deployment.adapters.platforms.extras import MissingExtra
from uno.deployment.adapters.platforms.gcp import honoured, make_driver, options, resources, stand_in
from uno.deployment.domain import configuring, settings_catalogue
from uno.deployment.domain.ids import DeploymentId
from uno.deployment.ports.platforms import Release

SETTINGS = {"project": "shop-project-1", "region": "europe-west1", "image": "europe-west1-docker.pkg.dev/p/a/shop:1"}


def config(custom: dict[str, Any] | None = None, **values: Any):
    given = {
        "app_name": "shop",
        "app_version": "1.2.0",
        "environment": "staging",
        "platform": "gcp",
        "strategy": "blue-green",
        "custom_settings": SETTINGS if custom is None else custom,
        **values,
    }
    built = configuring.build(DeploymentId("cfg-gcp"), given, datetime(2026, 1, 1, tzinfo=UTC))
    assert built.is_success(), built
    return built.value


@pytest.mark.parametrize(
    ("custom", "field", "says"),
    [
        ({**SETTINGS, "project": None}, "custom_settings.project", "needs 'project'"),
        ({**SETTINGS, "region": "Europe West"}, "custom_settings.region", "a Cloud Run region"),
        ({**SETTINGS, "container_port": 0}, "custom_settings.container_port", "from 1 to 65535"),
        ({**SETTINGS, "service_account": "me"}, "custom_settings.service_account", "service account e-mail"),
        ({**SETTINGS, "ingress": "public"}, "custom_settings.ingress", "must be one of all"),
        ({**SETTINGS, "gcp_key": "x"}, "custom_settings.gcp_key", "Application Default Credentials"),
        ({**SETTINGS, "secret_refs": {"A": "a value"}}, "custom_settings.secret_refs.A", "Secret Manager secret"),
    ],
)
def test_a_bad_setting_is_refused_with_its_field_path(custom, field, says):
    custom = {key: value for key, value in custom.items() if value is not None}

    found = options.options_for(config(custom))

    assert found.is_failure()
    assert found.error.context["field"] == field
    assert says in found.error.message


def test_every_secret_needs_a_secret_manager_reference_never_a_value():
    found = options.options_for(config(secrets=["API_KEY"]))

    assert found.is_failure()
    assert found.error.context["field"] == "custom_settings.secret_refs.API_KEY"


@pytest.mark.parametrize(
    ("cpu", "memory", "wanted"),
    [
        ("500m", "256Mi", ("1", "256Mi")),
        ("3", "1Gi", ("4", "2048Mi")),  # 4 CPUs need 2Gi at least
        ("1", "10Gi", ("4", "10240Mi")),  # above 8Gi needs 4 CPUs
        ("1", "20Gi", ("6", "20480Mi")),
        ("100m", "64Mi", ("1", "128Mi")),  # Cloud Run's least memory
    ],
)
def test_sizes_are_the_smallest_cloud_run_pair_holding_the_limits(cpu, memory, wanted):
    chosen = config(resources={"cpu_min": "100m", "cpu_max": cpu, "memory_min": "64Mi", "memory_max": memory})

    assert resources.size(chosen) == wanted


@pytest.mark.parametrize(("cpu", "memory", "says"), [("9", "1Gi", "8 CPUs"), ("1", "40Gi", "32Gi")])
def test_sizes_cloud_run_has_not_are_refused(cpu, memory, says):
    chosen = config(resources={"cpu_min": "100m", "cpu_max": cpu, "memory_min": "64Mi", "memory_max": memory})

    with pytest.raises(resources.SizeError, match=says):
        resources.size(chosen)


def test_names_follow_cloud_runs_rules():
    chosen = options.options_for(config()).value
    long = config(app_version="2026.12.8-rc.1.build.777777777777777777777777777777")

    assert chosen.service == "shop-staging"
    assert resources.revision_name(chosen, config(), "dep-0123abcd") == "shop-staging-1-2-0-0123abcd"
    name = resources.revision_name(chosen, long, "dep-0123abcd")
    assert len(name) <= 63
    assert name.startswith("shop-staging-")
    assert name.endswith("-0123abcd")
    assert resources.tag(config(), "dep-0123abcd", "shop-staging") == "v1-2-0-0123abcd"
    assert resources.tag(long, "dep-0123abcd", "s" * 30) == "v2026-1-0123abcd"  # 16 + 30 = 46: Cloud Run's most
    assert resources.tag(long, "dep-0123abcd", "s" * 40) is None  # no room left: no tag


def test_weights_are_made_to_add_up_to_100():
    assert resources.normalised({"a": 1, "b": 1, "c": 1}) == {"a": 33, "b": 33, "c": 34}
    assert resources.normalised({"a": 0, "b": 50}) == {"b": 100}
    assert resources.normalised({"a": 0}) == {}


def test_port_is_left_to_cloud_run_and_the_version_is_given_to_the_app():
    chosen = options.options_for(config(environment_variables={"PORT": "1", "MODE": "x"})).value

    env = resources.template(config(environment_variables={"PORT": "1", "MODE": "x"}), chosen, "dep-1")["containers"]

    names = [item["name"] for item in env[0]["env"]]
    assert "PORT" not in names
    assert {"MODE", "APP_VERSION"} <= set(names)


def test_the_declaration_covers_every_platform_setting():
    assert set(honoured.SETTINGS) == {setting.path for setting in settings_catalogue.PLATFORM}
    assert honoured.DECLARATION.custom_settings == options.KEYS


async def test_without_the_extra_every_primitive_says_what_to_install_and_render_still_works():
    driver = stand_in("google")
    release = Release("dep-1", config())

    assert "pip install 'uno-deployment[gcp]'" in driver.check(release.config).error.message
    rendered = await driver.render(release)
    assert rendered.value["objects"][0]["kind"] == "Service"


def test_importing_the_package_and_the_platform_imports_no_google_sdk():
    probe = (
        "import sys, uno.deployment\n"
        "from uno.deployment.adapters.platforms import gcp\n"
        "from uno.deployment.adapters.platforms.gcp import honoured, options, rendering, resources\n"
        "print(sorted(name for name in sys.modules if name.startswith(('google', 'proto', 'grpc'))))\n"
    )

    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)

    assert done.stdout.strip() == "[]"


def test_without_the_sdk_make_driver_gives_the_stand_in(monkeypatch):
    monkeypatch.delitem(sys.modules, "uno.deployment.adapters.platforms.gcp.driver", raising=False)
    monkeypatch.delitem(sys.modules, "uno.deployment.adapters.platforms.gcp.client", raising=False)
    monkeypatch.setitem(sys.modules, "google.cloud.run_v2", None)
    cloud = sys.modules.get("google.cloud")
    if cloud is not None:  # an earlier test imported it: ``from google.cloud import run_v2`` would find it there
        monkeypatch.delattr(cloud, "run_v2", raising=False)

    made = make_driver({})

    assert isinstance(made, MissingExtra)
    assert made.capabilities.traffic_weights is False
