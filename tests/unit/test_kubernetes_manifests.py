"""Kubernetes manifests: golden files per environment profile and strategy, validated, and what is refused.

The golden files are the rendered manifests as YAML, one per environment and strategy, each
checked against the schemas of two Kubernetes versions. After a deliberate change to the
manifests, regenerate them with ``UNO_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_kubernetes_manifests.py``
and review the diff.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from uno.core.errors import ErrorCode
from uno.deployment.adapters.platforms import kubernetes
from uno.deployment.adapters.platforms.kubernetes import driver, manifests, reading, validating
from uno.deployment.domain import configuring
from uno.deployment.domain.ids import DeploymentId
from uno.deployment.ports.platforms import Release

GOLDEN = Path(__file__).parent / "golden" / "kubernetes"
ENVIRONMENTS = ("dev", "test", "staging", "production")
STRATEGIES = ("recreate", "rolling", "blue-green", "canary")
VERSIONS = ("1.25", "1.37")  # the oldest and the newest schemas kubernetes-validate carries


def config(environment: str = "production", strategy: str = "blue-green", **given: Any):
    values: dict[str, Any] = {
        "app_name": "shop",
        "app_version": "1.4.2",
        "environment": environment,
        "platform": "kubernetes",
        "strategy": strategy,
        "custom_settings": {"image": "ghcr.io/acme/shop:1.4.2"},
        "environment_variables": {"FEATURE_CHECKOUT": "on"},
        "secrets": ["DB_PASSWORD"],
    }
    if environment == "production":
        values["network"] = {"domain": "shop.example.com", "use_https": True}
    values.update(given)
    built = configuring.build(DeploymentId("cfg-golden"), values, datetime(2026, 1, 1, tzinfo=UTC))
    assert built.is_success(), built
    return built.value


def bodies(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The manifests of a rendered release (each object's body)."""
    return [item["body"] for item in plan["objects"]]


async def rendered(made) -> dict[str, Any]:
    result = await driver.KubernetesDriver({}).render(Release("dep-golden", made))
    assert result.is_success(), result
    return result.value


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("environment", ENVIRONMENTS)
async def test_the_manifests_match_their_golden_file_and_both_schemas(environment: str, strategy: str):
    plan = await rendered(config(environment, strategy))
    golden = GOLDEN / f"{environment}-{strategy}.yaml"
    if os.environ.get("UNO_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(yaml.safe_dump(plan, sort_keys=False, width=120))

    assert plan == yaml.safe_load(golden.read_text())
    for version in VERSIONS:
        assert validating.validate(bodies(plan), version).is_success(), version


async def test_each_profile_renders_what_it_asks_for():
    kinds = {
        environment: [item["kind"] for item in bodies(await rendered(config(environment)))]
        for environment in ENVIRONMENTS
    }

    assert kinds["dev"] == ["Service", "Deployment"]
    assert kinds["production"] == [
        "Service",
        "NetworkPolicy",
        "Ingress",
        "Deployment",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
    ]


async def test_secrets_are_referenced_by_name_and_never_inlined():
    plan = await rendered(config())

    deployment = next(item for item in bodies(plan) if item["kind"] == "Deployment")
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "shop-secrets", "key": "DB_PASSWORD"}}} in env
    assert "s3cret" not in json.dumps(plan)
    assert any("shop-secrets must hold the keys DB_PASSWORD" in note for note in plan["notes"])


async def test_the_database_reaches_the_container_with_its_password_put_in_by_kubernetes():
    database = {"host": "db.internal", "name": "shop", "user": "shop", "password_env_var": "SHOP_DB_PASSWORD"}
    made = config(database={**database, "connection_pool_min": 2, "connection_pool_max": 7, "ssl_mode": "require"})

    plan = await rendered(made)

    deployment = next(item for item in bodies(plan) if item["kind"] == "Deployment")
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    names = [item["name"] for item in env]
    assert {"name": "DATABASE_POOL_MIN", "value": "2"} in env
    assert {"name": "DATABASE_POOL_MAX", "value": "7"} in env
    password = {
        "name": "SHOP_DB_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "shop-secrets", "key": "SHOP_DB_PASSWORD"}},
    }
    assert password in env
    url = {
        "name": "DATABASE_URL",
        "value": "postgresql://shop:$(SHOP_DB_PASSWORD)@db.internal:5432/shop?sslmode=require",
    }
    assert url in env
    assert names.index("SHOP_DB_PASSWORD") < names.index("DATABASE_URL")  # $(NAME) is only expanded from before
    assert any("shop-secrets must hold the keys DB_PASSWORD, SHOP_DB_PASSWORD" in note for note in plan["notes"])
    assert validating.validate(bodies(plan), VERSIONS[-1]).is_success()


async def test_recreate_and_rolling_map_to_the_deployment_update_strategies():
    recreate = await rendered(config(strategy="recreate"))
    rolling = await rendered(
        config(strategy="rolling", custom_settings={"image": "shop:1", "rolling": {"max_surge": 2}})
    )

    assert _deployment(recreate)["spec"]["strategy"] == {"type": "Recreate"}
    assert _deployment(rolling)["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 2, "maxUnavailable": 0},
    }


def test_a_config_without_an_image_is_refused_naming_the_setting():
    checked = driver.KubernetesDriver({}).check(config(custom_settings={}))

    assert checked.error.code is ErrorCode.VALIDATION_ERROR
    assert checked.error.context["field"] == "custom_settings.image"


def test_a_kubernetes_version_without_schemas_is_refused_saying_which_exist():
    checked = driver.KubernetesDriver({}).check(
        config(custom_settings={"image": "shop:1", "kubernetes_version": "1.19"})
    )

    assert checked.error.context["field"] == "custom_settings.kubernetes_version"
    assert "1.25" in checked.error.message
    assert "1.37" in checked.error.message


def test_an_unknown_field_is_caught_by_the_strict_schema_naming_object_and_field():
    plan = manifests.release(config(), _options(), slot="blue", replicas=2, deployment_id="dep-1")
    _container(plan)["imagePullPolicyy"] = "Always"

    checked = validating.validate(plan, "1.37")

    assert checked.error.code is ErrorCode.VALIDATION_ERROR
    assert checked.error.context["object"] == "Deployment/shop-blue"
    assert checked.error.context["field"] == "spec.template.spec.containers[0]"
    assert "imagePullPolicyy" in checked.error.message


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda c: c.update(image=" "), "spec.template.spec.containers[0].image", "no image"),
        (
            lambda c: c["resources"]["limits"].update(cpu="lots"),
            "spec.template.spec.containers[0].resources.limits.cpu",
            "not a quantity",
        ),
        (
            lambda c: c["resources"]["requests"].update(memory="64Gi"),
            "spec.template.spec.containers[0].resources.requests.memory",
            "above its limit",
        ),
        (lambda c: c["ports"][0].update(containerPort=70000), "spec.template.spec.containers[0]", "70000"),
    ],
)
def test_what_the_schemas_miss_is_caught_naming_the_field(change, field, words):
    plan = manifests.release(config(), _options(), slot="blue", replicas=2, deployment_id="dep-1")
    change(_container(plan))

    checked = validating.validate(plan, "1.37")

    assert checked.error.context["field"].startswith(field), checked.error
    assert words in checked.error.message


def test_a_deployment_whose_selector_misses_its_pods_is_refused():
    plan = manifests.release(config(), _options(), slot="blue", replicas=2, deployment_id="dep-1")
    next(item for item in plan if item["kind"] == "Deployment")["spec"]["selector"]["matchLabels"][manifests.SLOT] = (
        "red"
    )

    checked = validating.validate(plan, "1.37")

    assert checked.error.context == {
        "field": "spec.selector.matchLabels",
        "object": "Deployment/shop-blue",
    }
    assert "uno-deploy.io/slot=red" in checked.error.message


def test_an_application_name_that_cannot_name_a_service_is_refused():
    checked = driver.KubernetesDriver({}).check(config(app_name="1shop"))

    assert checked.error.context == {"field": "metadata.name", "object": "Service/1shop"}
    assert "DNS-1035" in checked.error.message


def test_a_split_follows_the_weights_as_finely_as_the_replicas_allow():
    assert reading.split({"canary": 10, "stable": 90}, {"canary": 1, "stable": 4}) == {"canary": 1, "stable": 4}
    assert reading.split({"canary": 25, "stable": 75}, {"canary": 1, "stable": 4}) == {"canary": 1, "stable": 3}
    assert reading.split({"canary": 50, "stable": 50}, {"canary": 2, "stable": 4}) == {"canary": 2, "stable": 2}
    assert reading.split({"new": 33, "old": 67}, {"new": 1, "old": 2}) == {"new": 1, "old": 2}


def test_a_passed_progress_deadline_stops_the_wait():
    deployment = {
        "metadata": {"generation": 2},
        "spec": {"replicas": 3, "progressDeadlineSeconds": 600},
        "status": {
            "observedGeneration": 2,
            "replicas": 3,
            "updatedReplicas": 3,
            "readyReplicas": 1,
            "availableReplicas": 1,
            "conditions": [
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "timed out"}
            ],
        },
    }

    state = reading.rollout(deployment)

    assert state.stuck == "made no progress within its progressDeadlineSeconds (600s): timed out"
    assert (state.health.ready, state.health.total) == (1, 3)


def test_pods_of_the_previous_template_keep_a_rollout_unfinished():
    deployment = {
        "metadata": {"generation": 1},
        "spec": {"replicas": 2},
        "status": {
            "observedGeneration": 1,
            "replicas": 3,
            "updatedReplicas": 2,
            "readyReplicas": 3,
            "availableReplicas": 3,
        },
    }

    health = reading.rollout(deployment).health

    assert (health.ready, health.total, health.healthy) == (2, 3, False)
    assert "previous template" in health.message


def test_without_the_extra_the_platform_says_what_to_install(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delitem(sys.modules, "uno.deployment.adapters.platforms.kubernetes.driver")
    monkeypatch.delitem(sys.modules, "uno.deployment.adapters.platforms.kubernetes.cluster")
    monkeypatch.setitem(sys.modules, "kubernetes.aio", None)

    stand_in = kubernetes.make_driver({})
    checked = stand_in.check(config())

    assert checked.error.code is ErrorCode.PLATFORM_ERROR
    assert "pip install 'uno-deployment[kubernetes]'" in checked.error.message


def _options():
    made = kubernetes.options.options_for(config())
    assert made.is_success()
    return made.value


def _deployment(plan: dict[str, Any]) -> dict[str, Any]:
    return next(item for item in bodies(plan) if item["kind"] == "Deployment")


def _container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    deployment = next(item for item in objects if item["kind"] == "Deployment")
    container: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


INGRESS_NGINX = {"image": "ghcr.io/acme/shop:1.4.2", "traffic": "ingress-nginx", "ingress_class": "nginx"}


@pytest.mark.parametrize("strategy", ["blue-green", "canary"])
async def test_ingress_nginx_manifests_match_their_golden_file_and_both_schemas(strategy: str):
    plan = await rendered(config("production", strategy, custom_settings=INGRESS_NGINX))
    golden = GOLDEN / f"production-{strategy}-ingress-nginx.yaml"
    if os.environ.get("UNO_UPDATE_GOLDEN") == "1":
        golden.write_text(yaml.safe_dump(plan, sort_keys=False, width=120))

    assert plan == yaml.safe_load(golden.read_text())
    for version in VERSIONS:
        assert validating.validate(bodies(plan), version).is_success(), version


async def test_ingress_nginx_renders_a_service_per_colour_and_a_canary_ingress_beside_the_main_one():
    plan = await rendered(config("production", "canary", custom_settings=INGRESS_NGINX))

    named = [(item["kind"], item["metadata"]["name"]) for item in bodies(plan)]
    assert named == [
        ("Service", "shop"),
        ("NetworkPolicy", "shop"),
        ("Ingress", "shop"),
        ("Deployment", "shop-blue"),
        ("PodDisruptionBudget", "shop-blue"),
        ("Service", "shop-blue"),
        ("Ingress", "shop-canary"),
        ("HorizontalPodAutoscaler", "shop-blue"),
    ]
    main, canary = (item for item in bodies(plan) if item["kind"] == "Ingress")
    colour = bodies(plan)[5]
    assert manifests.ingress_backend(main) == "shop-blue"
    assert manifests.ingress_backend(canary) == "shop-green"
    assert colour["spec"]["selector"]["uno-deploy.io/slot"] == "blue"
    assert canary["metadata"]["annotations"] == {
        "nginx.ingress.kubernetes.io/canary": "true",
        "nginx.ingress.kubernetes.io/canary-weight": "0",
    }
    assert canary["spec"]["rules"][0]["host"] == main["spec"]["rules"][0]["host"] == "shop.example.com"
    assert canary["spec"]["tls"] == main["spec"]["tls"]
    assert canary["spec"]["ingressClassName"] == "nginx"
    assert "metadata" not in json.dumps(canary["spec"])


def test_the_default_traffic_mode_renders_no_colour_service():
    plan = manifests.release(config(), _options(), slot="blue", replicas=2, deployment_id="dep-1")

    assert [item["metadata"]["name"] for item in plan if item["kind"] == "Service"] == ["shop"]
    assert manifests.ingress_backend(next(item for item in plan if item["kind"] == "Ingress")) == "shop"


@pytest.mark.parametrize(
    ("settings", "network", "words"),
    [
        ({"traffic": "istio"}, {"domain": "shop.example.com"}, '"replicas" (the default) or "ingress-nginx"'),
        ({"traffic": ["ingress-nginx"]}, {"domain": "shop.example.com"}, '"replicas" (the default)'),
        ({"traffic": "ingress-nginx"}, {}, "set network.domain"),
    ],
)
def test_a_traffic_mode_that_cannot_work_is_refused_naming_the_setting(settings, network, words):
    made = config("staging", custom_settings={"image": "shop:1", **settings}, network=network)

    checked = driver.KubernetesDriver({}).check(made)

    assert checked.error.code is ErrorCode.VALIDATION_ERROR
    assert checked.error.context["field"] == "custom_settings.traffic"
    assert words in checked.error.message


def test_a_canary_ingress_follows_the_main_one_read_from_the_cluster():
    main = manifests.ingress(config(), _options(), backend="shop-blue")
    main["metadata"].update(uid="1234", resourceVersion="7", annotations={"kubectl.kubernetes.io/x": "y"})
    main["status"] = {"loadBalancer": {}}

    canary = manifests.canary_ingress(main, "shop-green", 25)

    assert canary["metadata"]["name"] == "shop-canary"
    assert canary["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "25"
    assert "uid" not in canary["metadata"]
    assert "status" not in canary
    assert validating.validate([canary], "1.37").is_success()
