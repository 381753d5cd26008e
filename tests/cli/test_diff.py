"""``uno-deploy diff`` as a user runs it: before a deploy, after it, after a config change; and ``plan`` with it.

Exit codes as ``kubectl diff``'s: 0 nothing would change, 1 something would, 2 bad input,
3 the platform cannot be reached.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.cli.support import free_port, hello_command, ok, uno_deploy

pytestmark = pytest.mark.integration


def init_hello(directory: Path, port: int) -> None:
    ok("init", "hello", "--env", "dev", "--command", hello_command(), "--port", str(port), cwd=directory)


def test_diff_on_local_before_and_after_a_deploy_and_after_a_config_change(tmp_path: Path):
    port = free_port()
    init_hello(tmp_path, port)

    before = uno_deploy("diff", "deployment.yaml", cwd=tmp_path)
    assert before.returncode == 1, before.stderr
    assert "Router/hello-dev: added\n" in before.stdout
    assert f'+listen: "127.0.0.1:{port}"\n' in before.stdout
    assert before.stdout.endswith("a deploy would change hello in dev on local: 2 added\n")

    ok("deploy", "deployment.yaml", cwd=tmp_path)
    same = uno_deploy("diff", "deployment.yaml", cwd=tmp_path)
    assert (same.returncode, same.stdout) == (
        0,
        "no changes: hello in dev on local is live as configured (2 unchanged)\n",
    )

    changed = ["--set", "resources.replicas_min=1", "--set", "environment_variables.GREETING=hi"]
    after = uno_deploy("diff", "deployment.yaml", *changed, cwd=tmp_path)
    assert after.returncode == 1, after.stderr
    assert "Processes/hello-dev: changed (compared with version set hello-dev-1.0.0-" in after.stdout
    assert "\n-replicas: 2\n+replicas: 1\n" in after.stdout
    assert '\n+env.GREETING: "hi"\n' in after.stdout
    assert after.stdout.endswith("a deploy would change hello in dev on local: 1 changed, 1 unchanged\n")

    as_json = uno_deploy("diff", "deployment.yaml", *changed, "--json", cwd=tmp_path)
    document = json.loads(as_json.stdout)
    assert (as_json.returncode, document["changed"]) == (1, True)
    processes = next(item for item in document["objects"] if item["kind"] == "Processes")
    assert processes["fields"] == [
        {"path": "replicas", "change": "changed", "before": 2, "after": 1},
        {"path": "env.GREETING", "change": "added", "before": None, "after": "hi"},
    ]

    planned = ok("plan", "deployment.yaml", "--set", "app_version=1.1.0", cwd=tmp_path).stdout
    assert "\nagainst what is live on local:\n  Processes/hello-dev: changed" in planned
    assert '  -env.APP_VERSION: "1.0.0"\n  +env.APP_VERSION: "1.1.0"\n' in planned


def test_diff_on_kubernetes_without_a_cluster_is_exit_3_in_one_line_and_plan_says_so(tmp_path: Path):
    (tmp_path / "deployment.yaml").write_text(
        "app_name: shop\napp_version: 1.0.0\nenvironment: dev\nplatform: kubernetes\n"
        "custom_settings:\n  image: ghcr.io/acme/shop:1.0.0\n"
    )
    own = {**os.environ, "KUBECONFIG": str(tmp_path / "missing-kubeconfig")}

    refused = uno_deploy("diff", "deployment.yaml", cwd=tmp_path, env=own)
    assert refused.returncode == 3
    assert refused.stderr.splitlines()[-1].startswith(f"error: cannot use the kubeconfig {tmp_path}/missing-kubeconfig")

    planned = ok("plan", "deployment.yaml", cwd=tmp_path, env=own).stdout
    assert "\nagainst what is live on kubernetes:\n  what is live is not known: cannot use the kubeconfig" in planned


def test_diff_of_an_invalid_configuration_is_exit_2(tmp_path: Path):
    init_hello(tmp_path, free_port())
    refused = uno_deploy("diff", "deployment.yaml", "--set", "resources.replicas_min=0", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: ")
