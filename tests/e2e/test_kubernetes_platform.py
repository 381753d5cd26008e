"""The kubernetes platform end to end: DeploymentService.deploy against the FAKE API server.

The container is built by the real composition root, which registers the kubernetes driver;
the driver reaches the fake through a kubeconfig, with the official client, as it would a
cluster (set UNO_DEPLOY_TEST_KUBECONFIG to run these against one: see kube_support).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.kube_support import Kube
from uno.deployment import DeploymentStatus, Settings, bootstrap

pytestmark = pytest.mark.integration


NOT_SCANNED = {"scan_images": False}  # not about the scan: trivy, kubernetes' default scanner, is not installed here


@pytest.fixture
async def deployer(kube: Kube) -> AsyncIterator[bootstrap.Container]:
    container = bootstrap.build(Settings(database_url="memory://", log_level="WARNING"), environ=kube.environ)
    try:
        yield container
    finally:
        await container.aclose()


async def deploy(
    deployer: bootstrap.Container, kube: Kube, version: str, strategy: str, replicas: int = 2, **settings: Any
):
    service = deployer.config_service
    custom = kube.settings(**settings)
    found = (await service.list_configs(app_name=kube.app)).value
    if found:
        config = (
            await service.update_config(found[0].id, app_version=version, strategy=strategy, custom_settings=custom)
        ).value
    else:
        config = (
            await service.create_config(
                app_name=kube.app,
                app_version=version,
                environment="staging",
                platform="kubernetes",
                strategy=strategy,
                resource_requirements={"replicas_min": replicas, "replicas_max": max(replicas, 4)},
                security_config=NOT_SCANNED,
                custom_settings=custom,
            )
        ).value
    return (await deployer.deployment_service.deploy(config.id)).value


async def serving(deployer: bootstrap.Container, kube: Kube) -> dict[str, int]:
    """App version -> weight, as the platform reports it."""
    config = (await deployer.config_service.list_configs(app_name=kube.app)).value[0]
    driver = deployer.runner.tools.platforms.driver_for(config).value  # the driver the engine uses
    listed = (await driver.list_versions(kube.app, "staging")).value
    return {version.version: version.weight for version in listed if version.weight}


async def outputs(deployer: bootstrap.Container, record, name: str) -> dict[str, Any]:
    pipeline = (await deployer.pipeline_service.get_pipeline(record.pipeline_id)).value
    return pipeline.task_named(name).outputs


async def test_blue_green_switches_the_service_and_rolls_back_by_switching_again(deployer, kube: Kube):
    first = await deploy(deployer, kube, "1.0.0", "blue-green")
    assert first.status is DeploymentStatus.SUCCEEDED, first.message

    second = await deploy(deployer, kube, "2.0.0", "blue-green")

    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    assert await serving(deployer, kube) == {"2.0.0": 100}
    steps = (await outputs(deployer, second, "deploy"))["steps"]
    assert f"weights {kube.app}-green=100" in steps
    assert any(f"kept {kube.app}-blue warm" in step for step in steps)
    if kube.fake is not None:
        assert kube.fake.service(kube.app)["spec"]["selector"]["uno-deploy.io/slot"] == "green"
        assert "uno-deploy.io/retire-at" in kube.fake.deployment(f"{kube.app}-blue")["metadata"]["annotations"]
        assert kube.fake.names("HorizontalPodAutoscaler") == [f"{kube.app}-green"]  # staging autoscales what serves

    rollback = (await deployer.deployment_service.rollback(second.id)).value

    assert rollback.status is DeploymentStatus.SUCCEEDED, rollback.message
    assert await serving(deployer, kube) == {"1.0.0": 100}
    steps = (await outputs(deployer, rollback, "rollback"))["steps"]
    assert f"{kube.app}-blue is still running: switching traffic back" in steps
    if kube.fake is not None:
        assert kube.fake.names("Deployment") == [f"{kube.app}-blue"]
        assert kube.fake.names("HorizontalPodAutoscaler") == [f"{kube.app}-blue"]
        annotations = kube.fake.deployment(f"{kube.app}-blue")["metadata"]["annotations"]
        assert "uno-deploy.io/retire-at" not in annotations


async def test_a_canary_steps_through_replica_ratio_weights_judged_on_health(deployer, kube: Kube):
    await deploy(deployer, kube, "1.0.0", "blue-green", replicas=4)
    canary = {"steps": [25, 50, 100], "analysis": "health", "analysis_seconds": 0.01}

    second = await deploy(deployer, kube, "2.0.0", "canary", replicas=4, canary=canary)

    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    assert await serving(deployer, kube) == {"2.0.0": 100}
    deploy_outputs = await outputs(deployer, second, "deploy")
    weights = [step for step in deploy_outputs["steps"] if step.startswith("weights")]
    blue, green = f"{kube.app}-blue", f"{kube.app}-green"
    assert weights == [f"weights {green}=25 {blue}=75", f"weights {green}=50 {blue}=50", f"weights {green}=100"]
    assert [(item["step"], item["analysis"], item["passed"]) for item in deploy_outputs["analyses"]] == [
        (25, "health", True),
        (50, "health", True),
    ]
    if kube.fake is not None:
        stable_sizes = [
            request.body["spec"]["replicas"]
            for request in kube.fake.requests
            if request.kind == "Deployment"
            and request.name == blue
            and request.content_type == "application/merge-patch+json"
            and "replicas" in request.body.get("spec", {})
        ]
        assert stable_sizes == [3, 2, 4]  # 1 of 4 pods is 25%, 2 of 4 is 50%, then back to its own size


@pytest.mark.parametrize("strategy", ["rolling", "recreate"])
async def test_rolling_and_recreate_end_with_one_colour_serving(deployer, kube: Kube, strategy: str):
    await deploy(deployer, kube, "1.0.0", strategy, replicas=3)

    second = await deploy(deployer, kube, "2.0.0", strategy, replicas=3)

    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    assert await serving(deployer, kube) == {"2.0.0": 100}
    config = (await deployer.config_service.list_configs(app_name=kube.app)).value[0]
    driver = deployer.runner.tools.platforms.driver_for(config).value
    listed = (await driver.list_versions(kube.app, "staging")).value
    assert [(version.version, version.replicas) for version in listed] == [("2.0.0", 3)]
    if kube.fake is not None:
        expected = {"type": "Recreate"} if strategy == "recreate" else {"type": "RollingUpdate"}
        strategy_of = kube.fake.deployment(listed[0].id)["spec"]["strategy"]
        assert {key: strategy_of[key] for key in expected} == expected


async def test_a_canary_is_refused_on_kubernetes_unless_judged_on_health(deployer, kube: Kube):
    await deploy(deployer, kube, "1.0.0", "blue-green")

    second = await deploy(deployer, kube, "2.0.0", "canary")

    assert second.status is DeploymentStatus.FAILED
    assert 'set custom_settings.canary.analysis to "health"' in second.message
    assert await serving(deployer, kube) == {"1.0.0": 100}


async def test_a_release_that_never_becomes_ready_leaves_the_serving_colour_alone(deployer, kube: Kube):
    kube.api.broken_images.add("ghcr.io/acme/shop:broken")
    kube.api.deadline_reads = 2
    await deploy(deployer, kube, "1.0.0", "blue-green")

    second = await deploy(deployer, kube, "2.0.0", "blue-green", image="ghcr.io/acme/shop:broken")

    assert second.status in (DeploymentStatus.FAILED, DeploymentStatus.ROLLED_BACK)
    assert f"Deployment {kube.app}-green in namespace default made no progress" in second.message
    assert await serving(deployer, kube) == {"1.0.0": 100}
    assert kube.api.names("Deployment") == [f"{kube.app}-blue"]


async def test_a_crash_looping_release_fails_fast_and_the_serving_colour_serves_on(deployer, kube: Kube):
    kube.api.failing_images["ghcr.io/acme/shop:crash"] = "CrashLoopBackOff"
    kube.api.pod_logs["ghcr.io/acme/shop:crash"] = ["starting", "RuntimeError: no DATABASE_URL"]
    await deploy(deployer, kube, "1.0.0", "blue-green")

    second = await deploy(deployer, kube, "2.0.0", "blue-green", image="ghcr.io/acme/shop:crash")

    assert second.status in (DeploymentStatus.FAILED, DeploymentStatus.ROLLED_BACK)
    assert f"{kube.app}-green is failing: its replicas keep failing before they become healthy" in second.message
    assert "CrashLoopBackOff" in second.message
    assert (await outputs(deployer, second, "deploy"))["replica_log"] == ["starting", "RuntimeError: no DATABASE_URL"]
    assert await serving(deployer, kube) == {"1.0.0": 100}
    assert kube.api.names("Deployment") == [f"{kube.app}-blue"]


async def test_a_config_without_an_image_fails_before_the_cluster_is_touched(deployer, kube: Kube):
    record = await deploy(deployer, kube, "1.0.0", "blue-green", image="")

    assert record.status is DeploymentStatus.FAILED
    assert "custom_settings.image" in record.message
    assert record.reached_platform is False
    assert kube.api.requests == []


async def test_a_canary_through_ingress_nginx_sets_exact_weights_switches_and_rolls_back(deployer, kube: Kube):
    created = await deployer.config_service.create_config(
        app_name=kube.app,
        app_version="1.0.0",
        environment="staging",
        platform="kubernetes",
        strategy="blue-green",
        resource_requirements={"replicas_min": 4, "replicas_max": 4},
        network_config={"domain": f"{kube.app}.example.com"},
        security_config=NOT_SCANNED,
        custom_settings=kube.settings(traffic="ingress-nginx"),
    )
    first = (await deployer.deployment_service.deploy(created.value.id)).value
    assert first.status is DeploymentStatus.SUCCEEDED, first.message
    canary = {"steps": [10, 25, 50, 100], "analysis": "health", "analysis_seconds": 0.01}

    second = await deploy(deployer, kube, "2.0.0", "canary", replicas=4, canary=canary, traffic="ingress-nginx")

    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    assert await serving(deployer, kube) == {"2.0.0": 100}
    blue, green = f"{kube.app}-blue", f"{kube.app}-green"
    steps = [step for step in (await outputs(deployer, second, "deploy"))["steps"] if step.startswith("weights")]
    assert steps == [
        f"weights {green}=10 {blue}=90",
        f"weights {green}=25 {blue}=75",
        f"weights {green}=50 {blue}=50",
        f"weights {green}=100",
    ]
    if kube.fake is not None:
        canary_weights = [
            request.body["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"]
            for request in kube.fake.requests
            if request.kind == "Ingress" and request.name == f"{kube.app}-canary" and request.method == "PATCH"
        ]
        assert canary_weights == ["10", "25", "50", "100"]  # 100: the canary takes all before the switch
        main = kube.fake.ingress(kube.app)["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
        assert main == green
        assert kube.fake.ingress(f"{kube.app}-canary") is None
        stable_rescaled = [
            request
            for request in kube.fake.requests
            if request.kind == "Deployment"
            and request.name == blue
            and request.content_type == "application/merge-patch+json"
            and "replicas" in request.body.get("spec", {})
        ]
        assert stable_rescaled == []  # exact weights: the stable colour is never scaled for the split

    rollback = (await deployer.deployment_service.rollback(second.id)).value

    assert rollback.status is DeploymentStatus.SUCCEEDED, rollback.message
    assert await serving(deployer, kube) == {"1.0.0": 100}
    if kube.fake is not None:
        main = kube.fake.ingress(kube.app)["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"]
        assert main == blue
        assert kube.fake.names("Ingress") == [kube.app]
