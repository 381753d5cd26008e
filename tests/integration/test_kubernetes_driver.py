"""The kubernetes driver's primitives against the FAKE API server (or a real cluster, see kube_support).

Apply (server-side, field manager uno-deploy), rollout watching through the Deployment's
status, traffic by Service selector and replica ratio, the rollback window, and the API's
refusals turned into ErrorDetails that name the object.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.kube_support import Kube
from uno.core.errors import ErrorCode
from uno.deployment.adapters.platforms.kubernetes.driver import KubernetesDriver
from uno.deployment.domain import configuring
from uno.deployment.domain.ids import DeploymentId
from uno.deployment.ports.platforms import Release

pytestmark = pytest.mark.integration


def release(kube: Kube, version: str, deployment_id: str, replicas: int = 2, **settings: Any) -> Release:
    values = {
        "app_name": kube.app,
        "app_version": version,
        "environment": "staging",
        "platform": "kubernetes",
        "strategy": "blue-green",
        "resources": {"replicas_min": replicas, "replicas_max": max(replicas, 4), "auto_scaling": False},
        "custom_settings": kube.settings(**settings),
    }
    built = configuring.build(DeploymentId("cfg-kube"), values, datetime(2026, 1, 1, tzinfo=UTC))
    assert built.is_success(), built
    return Release(deployment_id, built.value)


async def healthy(driver: KubernetesDriver, version, kube: Kube) -> None:
    """Poll the version set's health until it is ready, failing at the deadline."""
    loop = asyncio.get_running_loop()
    until = loop.time() + kube.deadline
    while True:
        health = await driver.version_health(version)
        assert health.is_success(), health
        if health.value.healthy:
            return
        assert loop.time() < until, health.value
        await asyncio.sleep(0.01 if kube.fake else 1.0)


@pytest.fixture
def driver(kube: Kube) -> KubernetesDriver:
    return KubernetesDriver(kube.environ, poll_seconds=0.01)


async def test_a_version_set_is_applied_server_side_and_gets_no_traffic_until_told(kube: Kube, driver):
    first = release(kube, "1.0.0", "dep-1")
    assert driver.check(first.config).is_success()

    created = await driver.create_version(first, 2)

    assert created.is_success(), created
    assert (created.value.id, created.value.weight, created.value.replicas) == (f"{kube.app}-blue", 0, 2)
    listed = (await driver.list_versions(kube.app, "staging")).value
    assert [(v.id, v.version, v.deployment_id, v.weight) for v in listed] == [(f"{kube.app}-blue", "1.0.0", "dep-1", 0)]
    if kube.fake is not None:
        applies = [
            r for r in kube.fake.requests if r.method == "PATCH" and r.content_type.startswith("application/apply")
        ]
        assert {(r.kind, r.query["fieldManager"][0], r.query["force"][0]) for r in applies} == {
            ("Service", "uno-deploy", "true"),
            ("NetworkPolicy", "uno-deploy", "true"),  # the staging profile asks for one
            ("Deployment", "uno-deploy", "true"),
            ("PodDisruptionBudget", "uno-deploy", "true"),
        }
        assert kube.fake.service(kube.app)["spec"]["selector"]["uno-deploy.io/slot"] == "none"


async def test_the_rollout_is_followed_until_the_pods_are_ready(kube: Kube, driver):
    if kube.fake is not None:
        kube.fake.ready_after_reads = 2
    version = (await driver.create_version(release(kube, "1.0.0", "dep-1"), 2)).value

    first = (await driver.version_health(version)).value
    await healthy(driver, version, kube)

    if kube.fake is not None:
        assert (first.ready, first.total, first.healthy) == (0, 2, False)


async def test_all_traffic_switches_the_service_selector_and_back(kube: Kube, driver):
    blue = (await driver.create_version(release(kube, "1.0.0", "dep-1"), 2)).value
    await healthy(driver, blue, kube)
    assert (await driver.set_traffic(kube.app, "staging", {blue.id: 100})).is_success()
    green = (await driver.create_version(release(kube, "2.0.0", "dep-2"), 2)).value
    await healthy(driver, green, kube)

    switched = await driver.set_traffic(kube.app, "staging", {green.id: 100})

    assert switched.is_success(), switched
    listed = (await driver.list_versions(kube.app, "staging")).value
    assert {(v.version, v.weight) for v in listed} == {("1.0.0", 0), ("2.0.0", 100)}
    assert green.id == f"{kube.app}-green"
    assert (await driver.set_traffic(kube.app, "staging", {blue.id: 100})).is_success()
    listed = (await driver.list_versions(kube.app, "staging")).value
    assert {(v.version, v.weight) for v in listed} == {("1.0.0", 100), ("2.0.0", 0)}


async def test_a_split_is_realised_by_replica_ratio_and_undone_after(kube: Kube, driver):
    stable = (await driver.create_version(release(kube, "1.0.0", "dep-1", replicas=4), 4)).value
    await driver.set_traffic(kube.app, "staging", {stable.id: 100})
    canary = (await driver.create_version(release(kube, "2.0.0", "dep-2", replicas=4), 1)).value

    split = await driver.set_traffic(kube.app, "staging", {canary.id: 25, stable.id: 75})

    assert split.is_success(), split
    listed = {v.id: v for v in (await driver.list_versions(kube.app, "staging")).value}
    assert (listed[canary.id].weight, listed[stable.id].weight) == (25, 75)
    assert listed[stable.id].replicas == 4  # its own size, which the split only borrows from
    if kube.fake is not None:
        assert "uno-deploy.io/slot" not in kube.fake.service(kube.app)["spec"]["selector"]
        assert kube.fake.deployment(stable.id)["spec"]["replicas"] == 3  # 1 canary pod beside 3 stable: 25%
    await driver.set_traffic(kube.app, "staging", {stable.id: 100})
    if kube.fake is not None:
        assert kube.fake.deployment(stable.id)["spec"]["replicas"] == 4
        assert kube.fake.service(kube.app)["spec"]["selector"]["uno-deploy.io/slot"] == "blue"


async def test_a_rollout_past_its_progress_deadline_fails_naming_the_deployment(kube: Kube, driver):
    kube.api.broken_images.add("ghcr.io/acme/shop:broken")
    kube.api.deadline_reads = 2
    version = (await driver.create_version(release(kube, "1.0.0", "dep-1", image="ghcr.io/acme/shop:broken"), 2)).value

    first = await driver.version_health(version)
    stuck = await driver.version_health(version)

    assert first.is_success()
    assert not first.value.healthy
    assert stuck.error.code is ErrorCode.PLATFORM_ERROR
    assert f"Deployment {kube.app}-blue in namespace default made no progress" in stuck.error.message
    assert "progressDeadlineSeconds (600s)" in stuck.error.message


async def test_a_release_whose_pods_crash_loop_is_failing_with_its_last_log_lines(kube: Kube, driver):
    kube.api.failing_images["ghcr.io/acme/shop:crash"] = "CrashLoopBackOff"
    kube.api.pod_logs["ghcr.io/acme/shop:crash"] = [f"line {n}" for n in range(30)] + ["KeyError: 'DATABASE_URL'"]
    version = (await driver.create_version(release(kube, "1.0.0", "dep-1", image="ghcr.io/acme/shop:crash"), 2)).value

    health = await driver.version_health(version)

    assert health.is_success(), health
    assert health.value.failing
    crashed = f"pod {kube.app}-blue-7d9f-0: container {kube.app} CrashLoopBackOff: exited with code 1"
    assert crashed in health.value.message
    assert health.value.log_tail[-1] == "KeyError: 'DATABASE_URL'"
    assert len(health.value.log_tail) == 20
    logs = [r for r in kube.api.requests if r.kind == "Pod" and r.subresource == "log"]
    assert logs[0].query["previous"] == ["true"]


async def test_an_image_that_cannot_be_pulled_is_failing_without_a_log(kube: Kube, driver):
    kube.api.failing_images["ghcr.io/acme/shop:typo"] = "ImagePullBackOff"
    version = (await driver.create_version(release(kube, "1.0.0", "dep-1", image="ghcr.io/acme/shop:typo"), 2)).value

    health = (await driver.version_health(version)).value

    assert health.failing
    assert 'ImagePullBackOff: Back-off pulling image "ghcr.io/acme/shop:typo"' in health.message
    assert health.log_tail == ()


async def test_pods_still_starting_or_unreadable_are_waited_for(kube: Kube, driver):
    kube.api.ready_after_reads = 5  # the Deployment is not ready yet; its pods are not failing
    version = (await driver.create_version(release(kube, "1.0.0", "dep-1"), 2)).value
    starting = (await driver.version_health(version)).value
    kube.api.failing_images["ghcr.io/acme/shop:crash"] = "CrashLoopBackOff"
    crashing = (await driver.create_version(release(kube, "2.0.0", "dep-2", image="ghcr.io/acme/shop:crash"), 2)).value
    kube.api.refuse[("GET", "Pod")] = (403, "Forbidden", 'pods is forbidden: cannot list resource "pods"')
    unreadable = await driver.version_health(crashing)

    assert not starting.healthy
    assert not starting.failing
    assert unreadable.is_success(), unreadable  # judged by its progress deadline, as without the permission
    assert not unreadable.value.failing


async def test_a_destroyed_version_set_is_gone_with_its_budget(kube: Kube, driver):
    version = (await driver.create_version(release(kube, "1.0.0", "dep-1"), 2)).value

    removed = await driver.destroy_version(version, drain_timeout=0)

    assert removed.is_success(), removed
    assert (await driver.list_versions(kube.app, "staging")).value == []
    if kube.fake is not None:
        assert kube.fake.names("PodDisruptionBudget") == []
        deletes = [r.body for r in kube.fake.requests if r.method == "DELETE" and r.kind == "Deployment"]
        assert deletes[0]["propagationPolicy"] == "Foreground"


async def test_destroying_a_colour_that_now_runs_a_later_release_leaves_it_alone(kube: Kube, driver):
    old = (await driver.create_version(release(kube, "1.0.0", "dep-1"), 2)).value
    await driver.destroy_version(old, drain_timeout=0)
    newer = (await driver.create_version(release(kube, "2.0.0", "dep-2"), 2)).value
    assert newer.id == old.id  # the same colour, now another release

    assert (await driver.destroy_version(old, drain_timeout=0)).is_success()

    assert [v.deployment_id for v in (await driver.list_versions(kube.app, "staging")).value] == ["dep-2"]


async def test_a_retired_version_set_goes_after_its_window_unless_traffic_comes_back(kube: Kube):
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    driver = KubernetesDriver(kube.environ, now=lambda: now[0], poll_seconds=0.01)
    blue = (await driver.create_version(release(kube, "1.0.0", "dep-1"), 2)).value
    await driver.set_traffic(kube.app, "staging", {blue.id: 100})
    green = (await driver.create_version(release(kube, "2.0.0", "dep-2"), 2)).value
    await driver.set_traffic(kube.app, "staging", {green.id: 100})
    assert (await driver.retire_version(blue, after=60, drain_timeout=0)).is_success()

    still = [v.version for v in (await driver.list_versions(kube.app, "staging")).value]
    now[0] += timedelta(seconds=61)
    after = [v.version for v in (await driver.list_versions(kube.app, "staging")).value]

    assert still == ["1.0.0", "2.0.0"]
    assert after == ["2.0.0"]


@pytest.mark.parametrize(
    ("status", "reason", "words"),
    [
        (403, "Forbidden", "forbidden"),
        (409, "Conflict", "conflict"),
        (422, "Invalid", "invalid"),
    ],
)
async def test_a_refused_apply_names_the_object_and_the_reason(kube: Kube, driver, status, reason, words):
    kube.api.refuse[("PATCH", "Deployment")] = (status, reason, f'deployments.apps "{kube.app}-blue" is {reason}')

    created = await driver.create_version(release(kube, "1.0.0", "dep-1"), 2)

    assert created.error.code is ErrorCode.PLATFORM_ERROR
    assert created.error.context == {"object": f"Deployment {kube.app}-blue in namespace default", "status": status}
    assert f"cannot change Deployment {kube.app}-blue in namespace default: {words}" in created.error.message
    assert reason in created.error.message


async def test_an_api_that_does_not_answer_in_time_is_a_timeout(kube: Kube):
    driver = KubernetesDriver(kube.environ, request_timeout=0.2)
    version = (await driver.create_version(release(kube, "1.0.0", "dep-1"), 2)).value
    kube.api.stall.add(("GET", "Deployment"))

    health = await driver.version_health(version)

    assert health.error.code is ErrorCode.TIMEOUT
    assert "did not answer within 0.2s" in health.error.message
    assert f"read Deployment {kube.app}-blue in namespace default" in health.error.message


async def test_an_api_that_refuses_connections_is_unavailable(kube: Kube, tmp_path):
    kube.api  # noqa: B018 - only with the fake: a real cluster is reachable
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    config = tmp_path / "closed-kubeconfig"
    config.write_text(kube.kubeconfig.read_text().replace(kube.api.url, f"http://127.0.0.1:{closed}"))
    driver = KubernetesDriver({"KUBECONFIG": str(config)})

    created = await driver.create_version(release(kube, "1.0.0", "dep-1"), 2)

    assert created.error.code is ErrorCode.UNAVAILABLE
    assert f"cannot reach the Kubernetes API at http://127.0.0.1:{closed}" in created.error.message
    assert f"Service {kube.app} in namespace default" in created.error.message


async def test_an_unknown_kube_context_is_refused_saying_which(kube: Kube, driver):
    created = await driver.create_version(release(kube, "1.0.0", "dep-1", kube_context="nowhere"), 2)

    assert created.error.code is ErrorCode.PLATFORM_ERROR
    assert "context 'nowhere'" in created.error.message


async def test_a_service_of_another_environment_in_the_namespace_is_not_taken_over(kube: Kube, driver):
    staging = release(kube, "1.0.0", "dep-1")
    await driver.create_version(staging, 2)
    values = {**staging.config.model_dump(), "environment": "production"}
    production = Release("dep-2", type(staging.config).model_validate(values))

    created = await driver.create_version(production, 2)

    assert created.error.code is ErrorCode.CONFLICT
    assert "belongs to the staging environment" in created.error.message
    assert "custom_settings.namespace" in created.error.message


def foreign(kind: str, name: str, labels: dict[str, str]) -> dict[str, Any]:
    """An object somebody else put in the namespace."""
    spec: dict[str, Any] = {"minAvailable": 1}
    if kind == "Deployment":
        containers = [{"name": "legacy", "image": "registry.example/legacy:7"}]
        spec = {"replicas": 1, "template": {"metadata": {"labels": labels}, "spec": {"containers": containers}}}
    metadata = {"name": name, "namespace": "default", "labels": labels, "generation": 1}
    return {"kind": kind, "metadata": metadata, "spec": spec}


async def test_a_colour_deployment_somebody_else_owns_is_not_taken_over(kube: Kube, driver):
    theirs = foreign("Deployment", f"{kube.app}-blue", {"app": "legacy"})
    kube.api.objects[("Deployment", "default", f"{kube.app}-blue")] = theirs

    created = await driver.create_version(release(kube, "1.0.0", "dep-1"), 2)

    assert created.error.code is ErrorCode.CONFLICT
    assert created.error.message == (
        f"Deployment {kube.app}-blue in namespace default is not managed by uno-deploy: "
        "give the application another name or namespace (custom_settings.namespace)"
    )
    assert created.error.context == {"object": f"Deployment/{kube.app}-blue"}
    assert kube.api.deployment(f"{kube.app}-blue")["spec"] == theirs["spec"]  # untouched
    assert kube.api.deployment(f"{kube.app}-blue")["metadata"]["labels"] == {"app": "legacy"}
    assert not [r for r in kube.api.requests if r.method == "PATCH" and r.kind == "Deployment"]


async def test_an_object_of_another_uno_deploy_application_is_neither_changed_nor_deleted(kube: Kube, driver):
    # an application named "<app>-blue" elsewhere owns the PodDisruptionBudget a one-replica release would delete
    labels = {
        "app.kubernetes.io/managed-by": "uno-deploy",
        "app.kubernetes.io/name": f"{kube.app}-blue",
        "uno-deploy.io/environment": "staging",
    }
    theirs = foreign("PodDisruptionBudget", f"{kube.app}-blue", labels)
    kube.api.objects[("PodDisruptionBudget", "default", f"{kube.app}-blue")] = theirs

    created = await driver.create_version(release(kube, "1.0.0", "dep-1", replicas=1), 1)

    assert created.error.code is ErrorCode.CONFLICT
    assert created.error.message.startswith(
        f"PodDisruptionBudget {kube.app}-blue in namespace default belongs to another application or environment "
        f"(app.kubernetes.io/name={kube.app}-blue, uno-deploy.io/environment=staging)"
    )
    assert kube.api.objects[("PodDisruptionBudget", "default", f"{kube.app}-blue")] == theirs
    assert not [r for r in kube.api.requests if r.method == "DELETE"]
