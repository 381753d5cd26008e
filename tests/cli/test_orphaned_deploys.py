"""``kill -9`` of ``uno-deploy deploy`` half-way through a canary: the next command ends or supersedes it.

Real processes on the embedded store: the local platform serves the example application,
a canary of 2.0.0 pauses at 50% (so half the traffic goes to each release), and the
deploying process is killed with SIGKILL there. Its record says ``running`` and its lease
is unexpired, but its process is gone: the next ``status``, ``cancel`` or ``deploy``
notices at once (no waiting out the lease's TTL), ends it with the reason, and leaves the
platform serving one release: the one before (rolled back) or the newer one (superseded).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cli.support import UNO_DEPLOY, as_json, eventually, free_port, hello_command, ok, version_at

pytestmark = pytest.mark.integration

CANARY = [
    "strategy=canary",
    "custom_settings.canary={steps: [50, 100], analysis_seconds: 0.5, min_requests: 0, pause_after: [50]}",
]
_SETS = [argument for value in CANARY for argument in ("--set", value)]


def _killed_half_way(tmp_path: Path) -> tuple[int, str]:
    """1.0.0 serving, then a deploy of 2.0.0 killed with SIGKILL while its canary takes 50%."""
    port = free_port()
    ok("init", "hello", "--command", hello_command(), "--port", str(port), cwd=tmp_path)
    ok("deploy", "-f", "deployment.yaml", *_SETS, cwd=tmp_path)
    upgrade = [*UNO_DEPLOY, "deploy", "-f", "deployment.yaml", *_SETS, "--set", "app_version=2.0.0"]
    with subprocess.Popen(upgrade, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as deploying:
        try:
            deployment_id = eventually(_running, what="the upgrade running")
            eventually(
                lambda: "paused at 50% until promoted" in ok("status", deployment_id).stdout, what="the canary paused"
            )
            eventually(lambda: version_at(port) == "2.0.0", what="the canary answering")
        finally:
            deploying.kill()
            deploying.wait()
    return port, deployment_id


def _running() -> str | None:
    return next((item["id"] for item in as_json("history") if item["status"] == "running"), None)


def _served(port: int, requests: int = 20) -> set[str | None]:
    return {version_at(port) for _ in range(requests)}


def test_status_ends_a_killed_deploy_at_once_and_puts_the_release_before_back(tmp_path: Path):
    port, deployment_id = _killed_half_way(tmp_path)

    shown = as_json("status", deployment_id)["deployment"]

    assert shown["status"] == "rolled-back", shown
    assert shown["message"].startswith("its runner (pid ")
    assert "stopped before it finished; ended by a status check; rolled back automatically to 1.0.0" in shown["message"]
    assert _served(port) == {"1.0.0"}
    assert not [item for item in as_json("history") if item["status"] in ("running", "pending", "rolling-back")]


def test_a_new_deploy_supersedes_a_killed_one_without_waiting_for_its_lease(tmp_path: Path):
    port, deployment_id = _killed_half_way(tmp_path)

    ok("deploy", "-f", "deployment.yaml", "--set", "app_version=3.0.0", cwd=tmp_path)

    assert _served(port) == {"3.0.0"}
    killed = as_json("status", deployment_id)["deployment"]
    assert killed["status"] == "canceled"
    assert killed["message"].startswith("superseded by dep-")
    assert killed["message"].endswith("(deploy of 3.0.0); its runner had stopped")


def test_cancel_ends_a_killed_deploy_and_undoes_its_canary(tmp_path: Path):
    port, deployment_id = _killed_half_way(tmp_path)

    canceled = ok("cancel", deployment_id, "--reason", "the laptop died")

    assert canceled.stdout.startswith(f"{deployment_id}: ")
    shown = as_json("status", deployment_id)["deployment"]
    assert shown["status"] == "rolled-back"
    assert "the laptop died" in shown["message"]
    assert "its runner had stopped; rolled back automatically to 1.0.0" in shown["message"]
    assert _served(port) == {"1.0.0"}
