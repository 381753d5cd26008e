"""``traffic: ingress-nginx``: splits through an ingress-nginx canary Ingress, against the FAKE API server.

The weights are exact (no replica is rescaled): the main Ingress sends traffic to the
serving colour's Service, a canary Ingress beside it sends the other colour its
``canary-weight``; all traffic to one colour switches the main Ingress and removes the canary.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.kube_support import Kube
from uno.core.errors import ErrorCode
from uno.deployment.adapters.platforms.kubernetes.driver import KubernetesDriver
from uno.deployment.domain import configuring
from uno.deployment.domain.ids import DeploymentId
from uno.deployment.ports.platforms import Release

pytestmark = pytest.mark.integration

CANARY = "nginx.ingress.kubernetes.io/canary"
WEIGHT = "nginx.ingress.kubernetes.io/canary-weight"


def release(kube: Kube, version: str, deployment_id: str, replicas: int = 4, **settings: Any) -> Release:
    values = {
        "app_name": kube.app,
        "app_version": version,
        "environment": "staging",
        "platform": "kubernetes",
        "strategy": "canary",
        "network": {"domain": f"{kube.app}.example.com", "use_https": True},
        "resources": {"replicas_min": replicas, "replicas_max": replicas, "auto_scaling": False},
        "custom_settings": kube.settings(**{"traffic": "ingress-nginx", **settings}),
    }
    built = configuring.build(DeploymentId("cfg-kube"), values, datetime(2026, 1, 1, tzinfo=UTC))
    assert built.is_success(), built
    return Release(deployment_id, built.value)


def backend(ingress: dict[str, Any] | None) -> str:
    assert ingress is not None
    return str(ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"])


@pytest.fixture
def driver(kube: Kube) -> KubernetesDriver:
    return KubernetesDriver(kube.environ, poll_seconds=0.01)


async def weights(driver: KubernetesDriver, kube: Kube) -> dict[str, int]:
    listed = (await driver.list_versions(kube.app, "staging")).value
    return {version.id: version.weight for version in listed}


async def test_a_new_colour_gets_its_own_service_and_the_ingress_serves_nothing_until_told(kube: Kube, driver):
    created = await driver.create_version(release(kube, "1.0.0", "dep-1"), 4)

    assert created.is_success(), created
    assert await weights(driver, kube) == {f"{kube.app}-blue": 0}
    fake = kube.api
    assert backend(fake.ingress(kube.app)) == kube.app  # the Service <app>, which selects no pod yet
    assert fake.service(kube.app)["spec"]["selector"]["uno-deploy.io/slot"] == "none"
    assert fake.service(f"{kube.app}-blue")["spec"]["selector"]["uno-deploy.io/slot"] == "blue"
    assert fake.ingress(f"{kube.app}-canary") is None


async def test_canary_steps_set_exact_weights_then_switch_the_main_ingress_and_a_rollback_switches_back(
    kube: Kube, driver
):
    blue, green = f"{kube.app}-blue", f"{kube.app}-green"
    stable = (await driver.create_version(release(kube, "1.0.0", "dep-1"), 4)).value
    assert (await driver.set_traffic(kube.app, "staging", {stable.id: 100})).is_success()
    canary = (await driver.create_version(release(kube, "2.0.0", "dep-2"), 1)).value
    fake = kube.api
    assert backend(fake.ingress(kube.app)) == blue  # a release changes no routing

    seen = []
    for step in (10, 25, 50):
        routed = await driver.set_traffic(kube.app, "staging", {canary.id: step, stable.id: 100 - step})
        assert routed.is_success(), routed
        split = fake.ingress(f"{kube.app}-canary")
        seen.append((split["metadata"]["annotations"][CANARY], split["metadata"]["annotations"][WEIGHT]))
        assert backend(split) == green
        assert backend(fake.ingress(kube.app)) == blue
        assert split["spec"]["rules"][0]["host"] == f"{kube.app}.example.com"
        assert split["spec"]["tls"] == fake.ingress(kube.app)["spec"]["tls"]
        assert await weights(driver, kube) == {green: step, blue: 100 - step}
        assert fake.service(kube.app)["spec"]["selector"]["uno-deploy.io/slot"] == "blue"  # in-cluster: stable

    assert seen == [("true", "10"), ("true", "25"), ("true", "50")]
    assert fake.deployment(blue)["spec"]["replicas"] == 4  # no replica ratio: the stable colour keeps its size
    assert fake.deployment(green)["spec"]["replicas"] == 1

    assert (await driver.set_traffic(kube.app, "staging", {canary.id: 100, stable.id: 0})).is_success()

    assert backend(fake.ingress(kube.app)) == green
    assert fake.ingress(f"{kube.app}-canary") is None
    assert fake.service(kube.app)["spec"]["selector"]["uno-deploy.io/slot"] == "green"
    assert await weights(driver, kube) == {green: 100, blue: 0}
    ingress_changes = [
        (request.method, request.name, request.body)
        for request in fake.requests
        if request.kind == "Ingress" and request.method in ("PATCH", "DELETE")
    ][-3:]
    assert [(method, name) for method, name, _ in ingress_changes] == [
        ("PATCH", f"{kube.app}-canary"),  # the canary takes everything first,
        ("PATCH", kube.app),  # then the main Ingress switches,
        ("DELETE", f"{kube.app}-canary"),  # then the canary Ingress goes
    ]
    assert ingress_changes[0][2] == {"metadata": {"annotations": {WEIGHT: "100"}}}

    rolled_back = await driver.set_traffic(kube.app, "staging", {stable.id: 100})

    assert rolled_back.is_success(), rolled_back
    assert backend(fake.ingress(kube.app)) == blue
    assert fake.ingress(f"{kube.app}-canary") is None
    assert await weights(driver, kube) == {blue: 100, green: 0}


async def test_an_abandoned_split_goes_back_to_the_stable_colour_and_removes_the_canary(kube: Kube, driver):
    blue = f"{kube.app}-blue"
    stable = (await driver.create_version(release(kube, "1.0.0", "dep-1"), 4)).value
    await driver.set_traffic(kube.app, "staging", {stable.id: 100})
    canary = (await driver.create_version(release(kube, "2.0.0", "dep-2"), 1)).value
    await driver.set_traffic(kube.app, "staging", {canary.id: 25, stable.id: 75})

    assert (await driver.set_traffic(kube.app, "staging", {stable.id: 100})).is_success()
    assert (await driver.destroy_version(canary, drain_timeout=0)).is_success()

    fake = kube.api
    assert backend(fake.ingress(kube.app)) == blue
    assert fake.names("Ingress") == [kube.app]
    assert fake.names("Service") == [kube.app, blue]  # the canary colour's Service went with it
    assert await weights(driver, kube) == {blue: 100}


async def test_a_release_while_a_split_runs_is_refused(kube: Kube, driver):
    stable = (await driver.create_version(release(kube, "1.0.0", "dep-1"), 4)).value
    await driver.set_traffic(kube.app, "staging", {stable.id: 100})
    canary = (await driver.create_version(release(kube, "2.0.0", "dep-2"), 1)).value
    await driver.set_traffic(kube.app, "staging", {canary.id: 50, stable.id: 50})

    third = await driver.create_version(release(kube, "3.0.0", "dep-3"), 1)

    assert third.error.code is ErrorCode.PLATFORM_ERROR
    assert "both colours take traffic" in third.error.message


async def test_a_canary_ingress_name_taken_by_another_application_stops_the_split_before_any_change(kube: Kube, driver):
    stable = (await driver.create_version(release(kube, "1.0.0", "dep-1"), 4)).value
    assert (await driver.set_traffic(kube.app, "staging", {stable.id: 100})).is_success()
    canary = (await driver.create_version(release(kube, "2.0.0", "dep-2"), 1)).value
    fake = kube.api
    # another uno-deploy application, literally named "<app>-canary", has its main Ingress under that name
    labels = {
        "app.kubernetes.io/managed-by": "uno-deploy",
        "app.kubernetes.io/name": f"{kube.app}-canary",
        "uno-deploy.io/environment": "staging",
    }
    theirs = {
        "kind": "Ingress",
        "metadata": {"name": f"{kube.app}-canary", "namespace": "default", "labels": labels, "generation": 1},
        "spec": {"rules": [{"host": "other.example.com"}]},
    }
    fake.objects[("Ingress", "default", f"{kube.app}-canary")] = theirs
    changes_before = [r for r in fake.requests if r.method in ("PATCH", "DELETE")]

    routed = await driver.set_traffic(kube.app, "staging", {canary.id: 10, stable.id: 90})

    assert routed.error.code is ErrorCode.CONFLICT
    assert f"Ingress {kube.app}-canary in namespace default belongs to another application" in routed.error.message
    assert fake.ingress(f"{kube.app}-canary") == theirs
    assert [r for r in fake.requests if r.method in ("PATCH", "DELETE")] == changes_before
    assert backend(fake.ingress(kube.app)) == f"{kube.app}-blue"
