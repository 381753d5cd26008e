"""A release whose program exits at once fails fast, saying why; a misspelt program is refused before deploying.

Real processes on the embedded store and the local platform. The health deadline is set
far beyond the command's own timeout, so a deploy that ends at all ended because the
rollout saw its replicas keep exiting, not because the deadline passed.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from tests.cli.support import as_json, environment, free_port, hello_command, ok, uno_deploy, version_at

pytestmark = pytest.mark.integration

SECRET = "tok-s3cr3t-4242"
EXITS_AT_ONCE = [
    "custom_settings.command=[/bin/sh, -c, 'echo starting with token $APP_TOKEN; exit 0']",
    "secrets=[APP_TOKEN]",
    "custom_settings.health_deadline_seconds=3600",
]


def _sets(values: list[str]) -> list[str]:
    return [argument for value in values for argument in ("--set", value)]


def _init(tmp_path: Path) -> int:
    port = free_port()
    ok("init", "hello", "--command", hello_command(), "--port", str(port), cwd=tmp_path)
    return port


def test_a_program_that_exits_at_once_fails_the_deploy_fast_with_why_and_its_last_lines(tmp_path: Path):
    port = _init(tmp_path)
    ok("deploy", "-f", "deployment.yaml", cwd=tmp_path)

    failed = uno_deploy(
        "deploy",
        "-f",
        "deployment.yaml",
        *_sets(["app_version=2.0.0", *EXITS_AT_ONCE]),
        cwd=tmp_path,
        env=environment(APP_TOKEN=SECRET),
    )

    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert re.search(r"hello-dev-2\.0\.0-\w+ is failing: its replicas keep failing before", failed.stdout)
    assert "replica 0 exited with status 0" in failed.stdout
    assert "not healthy after" not in failed.stdout
    log = failed.stdout[failed.stdout.index("last lines of a replica's log") :]
    assert "  | starting with token ***" in log
    assert re.search(r"  \| --- uno-deploy: exited with status 0; restarting in", log)
    deployment_id = as_json("history")[0]["id"]
    assert f"see more: uno-deploy logs {deployment_id}" in log
    assert SECRET not in failed.stdout + failed.stderr
    shown = as_json("status", deployment_id)["deployment"]
    assert shown["status"] == "failed"
    assert "exited with status 0" in shown["message"]
    status = ok("status", deployment_id).stdout
    assert "  | starting with token ***" in status[status.index("last lines of a replica's log") :]
    assert SECRET not in status
    assert "replica_log" not in ok("logs", deployment_id, "--tail", "0").stdout  # the replica logs follow instead
    logs = ok("logs", deployment_id, env=environment(APP_TOKEN=SECRET)).stdout
    replica_logs = logs[logs.index("replica logs (stdout and stderr of each replica):") :]
    assert "    | starting with token ***" in replica_logs  # the replica's own log, its secret hidden
    assert SECRET not in logs
    assert version_at(port) == "1.0.0"  # blue-green: the release before served throughout


def test_check_dependencies_refuses_a_replica_program_that_is_not_installed(tmp_path: Path):
    _init(tmp_path)

    misspelt = uno_deploy(
        "deploy", "-f", "deployment.yaml", *_sets(["custom_settings.command=[pyton3, app.py]"]), cwd=tmp_path
    )

    assert misspelt.returncode == 1, misspelt.stdout + misspelt.stderr
    assert re.search(
        r"check-dependencies +failed .*program 'pyton3' \(custom_settings\.command\) is not found on the replicas' "
        r"PATH",
        misspelt.stdout,
    ), misspelt.stdout
    assert re.search(r"deployment +deploy +skipped", misspelt.stdout), misspelt.stdout


def test_check_dependencies_judges_a_path_from_the_workdir(tmp_path: Path):
    _init(tmp_path)
    script = tmp_path / "serve.sh"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} {hello_command().split()[-1]}\n")

    not_executable = uno_deploy(
        "deploy", "-f", "deployment.yaml", *_sets(["custom_settings.command=[./serve.sh]"]), cwd=tmp_path
    )
    script.chmod(0o755)
    executable = ok("deploy", "-f", "deployment.yaml", *_sets(["custom_settings.command=[./serve.sh]"]), cwd=tmp_path)

    assert not_executable.returncode == 1
    assert "program './serve.sh' (custom_settings.command) is not executable" in not_executable.stdout
    assert "secrets are set and programs are installed" in executable.stdout
