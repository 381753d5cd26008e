"""``diff`` on Kubernetes: each manifest's server-side dry run against the live object, on the FAKE API server.

The fake answers ``dryRun=All`` applies as the real API server does (the object it would
store, storing nothing). Against a real cluster (kube_support) the same tests run, with
the server's defaulting on both sides.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.kube_support import Kube
from uno.core.errors import ErrorCode
from uno.core.result import Result, Success
from uno.deployment.adapters.platforms.kubernetes.driver import KubernetesDriver
from uno.deployment.domain import configuring
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.ids import DeploymentId
from uno.deployment.ports.platforms import PlatformDriver, Release
from uno.deployment.services import diffing

pytestmark = pytest.mark.integration


class OneDriver:
    def __init__(self, driver: PlatformDriver) -> None:
        self.driver = driver

    def driver_for(self, config: DeploymentConfig) -> Result[PlatformDriver]:
        return Success(self.driver)

    def declaration_for(self, platform: str) -> Any:
        raise AssertionError("not used by diff")


def config(kube: Kube, version: str = "1.0.0", replicas: int = 2, **extra: Any) -> DeploymentConfig:
    values = {
        "app_name": kube.app,
        "app_version": version,
        "environment": "staging",
        "platform": "kubernetes",
        "strategy": "blue-green",
        "resources": {"replicas_min": replicas, "replicas_max": max(replicas, 4), "auto_scaling": False},
        "custom_settings": kube.settings(image=f"{kube.image.rsplit(':', 1)[0]}:{version}"),
        "environment_variables": {"LOG_LEVEL": "info"},
        **extra,
    }
    built = configuring.build(DeploymentId("cfg-kube"), values, datetime(2026, 1, 1, tzinfo=UTC))
    assert built.is_success(), built
    return built.value


async def deployed(driver: KubernetesDriver, made: DeploymentConfig) -> None:
    """What a blue-green deploy leaves: the release on a colour, all traffic to it."""
    created = await driver.create_version(Release("dep-1", made), made.resources.replicas_min)
    assert created.is_success(), created
    assert (await driver.set_traffic(made.app_name, "staging", {created.value.id: 100})).is_success()


@pytest.fixture
def driver(kube: Kube) -> KubernetesDriver:
    return KubernetesDriver(kube.environ, poll_seconds=0.01)


async def test_nothing_deployed_yet_every_object_would_be_added_and_nothing_is_stored(kube: Kube, driver):
    found = await diffing.diff(config(kube), OneDriver(driver))

    assert found.is_success(), found
    assert found.value.changed
    assert [(item.kind, item.name, item.change) for item in found.value.objects] == [
        ("Service", kube.app, "added"),
        ("NetworkPolicy", kube.app, "added"),
        ("Deployment", f"{kube.app}-blue", "added"),
        ("PodDisruptionBudget", f"{kube.app}-blue", "added"),
    ]
    if kube.fake is not None:
        assert kube.fake.objects == {}  # a dry run stores nothing
        applies = [r for r in kube.fake.requests if r.method == "PATCH"]
        assert {r.query["dryRun"][0] for r in applies} == {"All"}


async def test_the_deployed_configuration_again_changes_nothing(kube: Kube, driver):
    await deployed(driver, config(kube))

    found = await diffing.diff(config(kube), OneDriver(driver))

    assert found.is_success(), found
    assert not found.value.changed, [item.to_document() for item in found.value.objects if item.fields]
    assert {item.change for item in found.value.objects} == {"unchanged"}
    assert found.value.objects[2].note == "compared with the blue colour (serving now)"


async def test_a_new_version_replicas_and_environment_are_changes_of_the_serving_deployment(kube: Kube, driver):
    await deployed(driver, config(kube))
    before = dict(kube.fake.objects) if kube.fake is not None else None

    changed = config(kube, "1.1.0", 3, environment_variables={"LOG_LEVEL": "debug"})
    found = await diffing.diff(changed, OneDriver(driver))

    assert found.is_success(), found
    assert found.value.changed
    by_name = {(item.kind, item.name): item for item in found.value.objects}
    deployment = by_name[("Deployment", f"{kube.app}-blue")]
    assert deployment.change == "changed"
    fields = {item.path: (item.before, item.after) for item in deployment.fields}
    container = f"spec.template.spec.containers[name={kube.app}]"
    assert fields["spec.replicas"] == (2, 3)
    assert fields[f"{container}.env[name=LOG_LEVEL].value"] == ("info", "debug")
    assert fields[f"{container}.image"][1].endswith(":1.1.0")
    assert "+spec.replicas: 3" in deployment.unified()
    assert by_name[("Service", kube.app)].change == "unchanged"  # it selects the serving colour either way
    if before is not None:
        assert kube.fake.objects == before  # nothing changed in the cluster


async def test_one_replica_would_remove_the_disruption_budget(kube: Kube, driver):
    await deployed(driver, config(kube))

    found = await diffing.diff(config(kube, replicas=1), OneDriver(driver))

    assert found.is_success(), found
    budget = next(item for item in found.value.objects if item.kind == "PodDisruptionBudget")
    assert (budget.name, budget.change, budget.note) == (f"{kube.app}-blue", "removed", "a deploy deletes it")


async def test_a_cluster_that_cannot_be_reached_is_unavailable(kube: Kube, tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(kube.kubeconfig.read_text().replace(kube.api.url, "http://127.0.0.1:9"))
    unreachable = KubernetesDriver({"KUBECONFIG": str(kubeconfig)}, request_timeout=5)

    found = await diffing.diff(config(kube), OneDriver(unreachable))

    assert found.is_failure()
    assert found.error.code is ErrorCode.UNAVAILABLE
    assert found.error.message.startswith("cannot reach the Kubernetes API at http://127.0.0.1:9")
