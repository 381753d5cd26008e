"""``uno-deploy render`` as a user pipes it: the native stream, ``--out DIR`` for a GitOps repository, the wrapper.

The Kubernetes output is fed to ``kubernetes-validate --strict`` as it is (``kubectl`` is not
installed here, so ``kubectl apply --dry-run=client -f -`` is not run).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.cli.support import ok, uno_deploy

pytestmark = pytest.mark.integration

VALIDATE = Path(sys.executable).parent / "kubernetes-validate"
CONFIG = """\
app_name: shop
app_version: 1.4.2
environment: production
platform: kubernetes
strategy: canary
custom_settings:
  image: ghcr.io/acme/shop:1.4.2
secrets: [DB_PASSWORD]
network:
  domain: shop.example.com
  use_https: true
"""


def validated(*paths: Path) -> str:
    checked = subprocess.run(
        [str(VALIDATE), "--strict", *map(str, paths)], capture_output=True, text=True, timeout=300, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return checked.stdout


def test_render_prints_a_stream_kubernetes_validate_accepts_and_writes_a_directory(tmp_path: Path):
    (tmp_path / "deployment.yaml").write_text(CONFIG)

    stream = ok("render", "deployment.yaml", cwd=tmp_path).stdout
    (tmp_path / "stream.yaml").write_text(stream)
    said = validated(tmp_path / "stream.yaml")
    assert "deployment/shop-blue against version 1.37" in said
    assert [document["kind"] for document in yaml.safe_load_all(stream)] == [
        "Service",
        "NetworkPolicy",
        "Ingress",
        "Deployment",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
    ]
    assert "secretKeyRef:\n              name: shop-secrets\n              key: DB_PASSWORD\n" in stream  # no value

    repo = tmp_path / "repo"
    written = ok("render", "deployment.yaml", "--out", str(repo), cwd=tmp_path).stdout.split()
    assert sorted(Path(path).name for path in written) == [
        "deployment-shop-blue.yaml",
        "horizontalpodautoscaler-shop-blue.yaml",
        "ingress-shop.yaml",
        "networkpolicy-shop.yaml",
        "poddisruptionbudget-shop-blue.yaml",
        "service-shop.yaml",
    ]
    validated(*sorted(repo.glob("*.yaml")))

    fewer = ["--set", "resources.replicas_min=1", "--set", "resources.auto_scaling=false"]
    ok("render", "deployment.yaml", *fewer, "--out", str(repo), cwd=tmp_path)
    assert not (repo / "poddisruptionbudget-shop-blue.yaml").exists()  # ours, and no longer rendered
    assert not (repo / "horizontalpodautoscaler-shop-blue.yaml").exists()

    wrapper = json.loads(ok("render", "deployment.yaml", "--json", cwd=tmp_path).stdout)
    assert (wrapper["platform"], wrapper["namespace"]) == ("kubernetes", "default")
    assert [item["kind"] for item in wrapper["objects"]][:2] == ["Service", "NetworkPolicy"]
    assert yaml.safe_load(ok("render", "deployment.yaml", "--format", "uno", cwd=tmp_path).stdout) == wrapper


def test_render_refuses_to_overwrite_a_file_it_did_not_write(tmp_path: Path):
    (tmp_path / "deployment.yaml").write_text(CONFIG)
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "service-shop.yaml").write_text("# written by hand\n")

    refused = uno_deploy("render", "deployment.yaml", "--out", str(repo), cwd=tmp_path)

    assert refused.returncode == 2
    assert refused.stderr == (
        f"error: --out: {repo} has files uno-deploy did not write: service-shop.yaml (--force overwrites them)\n"
    )
    assert (repo / "service-shop.yaml").read_text() == "# written by hand\n"
    ok("render", "deployment.yaml", "--out", str(repo), "--force", cwd=tmp_path)
    assert yaml.safe_load((repo / "service-shop.yaml").read_text())["kind"] == "Service"
