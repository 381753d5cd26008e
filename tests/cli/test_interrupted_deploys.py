"""Ctrl-C during ``uno-deploy deploy`` on the embedded store: the deploy is canceled and its rollout undone.

Real processes: the local platform serves the example application at 1.0.0, then a deploy
of 2.0.0 whose replicas run but never answer their health check is interrupted (SIGINT)
while it waits for them. Checked from outside: the application's port answers 1.0.0, the
local agent runs only 1.0.0's version set, and ``status`` says the deploy was canceled and
what serves. A first deploy interrupted the same way leaves nothing running.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.cli.support import UNO_DEPLOY, as_json, eventually, free_port, hello_command, ok, version_at
from uno.core.result import Success
from uno.deployment.adapters.platforms.local import wire

pytestmark = pytest.mark.integration

NEVER_HEALTHY = "custom_settings.command=[sleep, '300']"  # runs, never listens
STRATEGIES = {
    "blue-green": [],
    "canary": ["custom_settings.canary={steps: [50, 100], analysis_seconds: 0.5, min_requests: 0}"],
    "rolling": [],
    "recreate": [],
}


def _sets(values: list[str]) -> list[str]:
    return [argument for value in values for argument in ("--set", value)]


def _version_sets(tmp_path: Path) -> list[dict[str, Any]]:
    """What the local agent itself says it runs for hello in dev (asked over its socket)."""
    request = {"op": "list_versions", "app": "hello", "environment": "dev"}
    answered = asyncio.run(wire.call(tmp_path / "local" / "agent.sock", request, timeout=10))
    assert isinstance(answered, Success), answered
    return list(answered.value)


def _interrupted(tmp_path: Path, arguments: list[str]) -> tuple[str, str]:
    """Run ``deploy ARGUMENTS``, send it SIGINT once its new version set waits for health; its id and stdout."""
    deploying = subprocess.Popen(
        [*UNO_DEPLOY, "deploy", "-f", "deployment.yaml", *arguments],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deployment_id = eventually(_running, what="the deploy running")
        eventually(
            lambda: any(item["deployment_id"] == deployment_id for item in _version_sets(tmp_path)),
            what="its version set created",
        )
        deploying.send_signal(signal.SIGINT)
        stdout, stderr = deploying.communicate(timeout=120)
    finally:
        if deploying.poll() is None:
            deploying.kill()
            deploying.wait()
    assert deploying.returncode == 1, f"stdout:\n{stdout}\nstderr:\n{stderr}"
    return deployment_id, stdout


def _running() -> str | None:
    return next((item["id"] for item in as_json("history") if item["status"] == "running"), None)


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_ctrl_c_puts_the_release_before_back_and_removes_the_new_version_set(tmp_path: Path, strategy: str):
    port = free_port()
    ok("init", "hello", "--command", hello_command(), "--port", str(port), cwd=tmp_path)
    chosen = _sets([f"strategy={strategy}", *STRATEGIES[strategy]])
    ok("deploy", "-f", "deployment.yaml", *chosen, cwd=tmp_path)
    assert version_at(port) == "1.0.0"
    before = [item["id"] for item in _version_sets(tmp_path)]

    deployment_id, stdout = _interrupted(tmp_path, [*chosen, *_sets(["app_version=2.0.0", NEVER_HEALTHY])])

    assert re.search(r"canceled by .*interrupted", stdout), stdout
    assert "rolled back automatically to 1.0.0" in stdout, stdout
    assert {version_at(port) for _ in range(10)} == {"1.0.0"}
    running = _version_sets(tmp_path)
    assert [item["version"] for item in running] == ["1.0.0"], running
    assert [item["weight"] for item in running] == [100]
    if strategy != "recreate":  # recreate stopped it: the rollback started 1.0.0 again
        assert [item["id"] for item in running] == before
    shown = as_json("status", deployment_id)["deployment"]
    assert shown["status"] == "rolled-back", shown
    assert re.search(r"canceled by .*interrupted; rolled back automatically to 1\.0\.0", shown["message"]), shown
    assert not [item for item in as_json("history") if item["status"] in ("running", "pending", "rolling-back")]


def test_ctrl_c_of_a_first_deploy_leaves_nothing_running(tmp_path: Path):
    port = free_port()
    ok("init", "hello", "--command", hello_command(), "--port", str(port), cwd=tmp_path)

    deployment_id, stdout = _interrupted(tmp_path, _sets([NEVER_HEALTHY]))

    assert _version_sets(tmp_path) == []
    assert version_at(port) is None
    shown = as_json("status", deployment_id)["deployment"]
    assert shown["status"] == "canceled", shown
    assert "interrupted" in shown["message"], shown
    assert "nothing served before it: removed " in shown["message"], shown
    assert "nothing served before it: removed " in stdout, stdout
