"""Where the kubernetes driver's tests deploy: the FAKE API server, or a real cluster when asked.

By default every test gets its own ``tests.fake_kube_api`` server on 127.0.0.1 and a
kubeconfig pointing at it. With ``UNO_DEPLOY_TEST_KUBECONFIG`` set, the same tests run
against that cluster instead (see docs/how-to/test-against-a-real-cluster.md):

- ``UNO_DEPLOY_TEST_CONTEXT``: the context to use (default: the kubeconfig's current one);
- ``UNO_DEPLOY_TEST_NAMESPACE``: an existing namespace to deploy into (default ``uno-deploy-test``);
- ``UNO_DEPLOY_TEST_IMAGE`` and ``UNO_DEPLOY_TEST_HEALTH_PATH``: an image that answers the health
  path on port 8080 (default ``nginxinc/nginx-unprivileged:1.27-alpine`` and ``/``).

Each test then uses an application name of its own and deletes what it created. Tests that
need the fake's knobs (a broken image, a refused request) are skipped on a real cluster.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fake_kube_api import FakeKubeApi, serve

REAL_KUBECONFIG = os.environ.get("UNO_DEPLOY_TEST_KUBECONFIG")


@dataclass
class Kube:
    kubeconfig: Path
    fake: FakeKubeApi | None
    app: str
    namespace: str = "default"
    context: str | None = None
    image: str = "ghcr.io/acme/shop:1.0.0"
    health_path: str = "/health"
    deadline: float = 5.0

    @property
    def environ(self) -> dict[str, str]:
        return {"KUBECONFIG": str(self.kubeconfig), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}

    def settings(self, image: str | None = None, **extra: Any) -> dict[str, Any]:
        """``custom_settings`` for a configuration deployed here."""
        chosen: dict[str, Any] = {
            "image": self.image if image is None else image,
            "namespace": self.namespace,
            "health_path": self.health_path,
            "health_deadline_seconds": self.deadline,
            "drain_seconds": 0,
        }
        if self.context:
            chosen["kube_context"] = self.context
        return {**chosen, **extra}

    @property
    def api(self) -> FakeKubeApi:
        if self.fake is None:
            pytest.skip("needs the fake API server's knobs: not run against a real cluster")
        return self.fake


@pytest.fixture
async def kube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Kube]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # the client honours proxy variables
    if REAL_KUBECONFIG:
        real = Kube(
            Path(REAL_KUBECONFIG),
            None,
            f"uno-test-{secrets.token_hex(3)}",
            namespace=os.environ.get("UNO_DEPLOY_TEST_NAMESPACE", "uno-deploy-test"),
            context=os.environ.get("UNO_DEPLOY_TEST_CONTEXT"),
            image=os.environ.get("UNO_DEPLOY_TEST_IMAGE", "nginxinc/nginx-unprivileged:1.27-alpine"),
            health_path=os.environ.get("UNO_DEPLOY_TEST_HEALTH_PATH", "/"),
            deadline=300.0,
        )
        try:
            yield real
        finally:
            await _clean(real)
        return
    with serve() as api:
        yield Kube(api.kubeconfig(tmp_path / "kubeconfig"), api, "shop")


async def _clean(kube: Kube) -> None:
    """Delete what a test created on a real cluster (best effort)."""
    from uno.deployment.adapters.platforms.kubernetes.cluster import Cluster, ClusterError

    cluster = await Cluster.connect(kube.kubeconfig, kube.context)
    try:
        for name in (kube.app, f"{kube.app}-blue", f"{kube.app}-green", f"{kube.app}-canary"):
            for kind in ("Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Deployment", "Service"):
                with contextlib.suppress(ClusterError):
                    await cluster.delete(kind, kube.namespace, name)
    finally:
        await cluster.close()
