"""A blue-green rollout on Kubernetes (the FAKE API server), handed back after its switch and carried on.

The colour Deployment the interrupted attempt applied is adopted (a second apply would
pick the other colour and replace the release that served before), and that release is
kept warm for the rollback window.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.test_resumed_rollouts import Holding, deploy_outputs, handed_back_then_carried_on
from tests.kube_support import Kube
from uno.deployment import bootstrap
from uno.deployment.adapters.platforms.kubernetes.driver import KubernetesDriver
from uno.deployment.adapters.platforms.registry import DriverRegistry
from uno.deployment.settings import Settings

pytestmark = pytest.mark.integration


class HeldKubernetes(Holding, KubernetesDriver):
    """The kubernetes driver, held where a test says."""


@pytest.fixture
async def kube_worker(postgres_url: str, kube: Kube) -> AsyncIterator[tuple[bootstrap.Container, HeldKubernetes]]:
    settings = Settings(database_url=postgres_url, execution="queue", lease_ttl_seconds=2, worker_poll_seconds=0.2)
    driver = HeldKubernetes(kube.environ, poll_seconds=0.01)
    registry = DriverRegistry()
    registry.register("kubernetes", driver)
    container = bootstrap.build(settings, environ=kube.environ, platforms=registry)
    yield container, driver
    await container.aclose()


async def test_blue_green_on_kubernetes_handed_back_after_the_switch_adopts_green_and_keeps_blue(
    kube_worker, kube: Kube
):
    worker, driver = kube_worker
    custom = kube.settings(health_deadline_seconds=5)

    record = await handed_back_then_carried_on(
        worker, driver, "blue-green", ("set_traffic", 1), platform_kind="kubernetes", custom=custom
    )

    listed = (await driver.list_versions(kube.app, "staging")).value
    assert {version.id: (version.version, version.weight) for version in listed} == {
        f"{kube.app}-blue": ("1.0.0", 0),
        f"{kube.app}-green": ("2.0.0", 100),
    }
    steps = (await deploy_outputs(worker, record))["steps"]
    assert f"adopted {kube.app}-green with 2 replica(s), left by the interrupted attempt" in steps
    assert any(step.startswith(f"kept {kube.app}-blue warm") for step in steps)
    if kube.fake is not None:
        applies = [r.name for r in kube.fake.requests if r.method == "PATCH" and r.kind == "Deployment"]
        assert applies.count(f"{kube.app}-green") == 1  # applied once, by the first attempt
