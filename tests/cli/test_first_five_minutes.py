"""A new user's first five minutes, as they type them: init, validate, plan, deploy, status,
deploy v2, rollback, history, logs; the example application really served on 127.0.0.1.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli.support import as_json, free_port, hello_command, ok, uno_deploy, version_at

pytestmark = pytest.mark.integration

DEPLOYMENT_ID = re.compile(r"dep-[0-9a-z]{26}")


def test_init_validate_plan_deploy_status_upgrade_rollback_history_and_logs(tmp_path: Path):
    port = free_port()

    initialized = ok("init", "hello", "--command", hello_command(), "--port", str(port), cwd=tmp_path)
    assert initialized.stdout.startswith("wrote deployment.yaml: hello in dev on local with blue-green\n")
    written = (tmp_path / "deployment.yaml").read_text()
    assert written.startswith("# uno-deploy configuration: hello in dev.\n")
    assert f"port: {port}" in written

    validated = ok("config", "validate", "-f", "deployment.yaml", cwd=tmp_path)
    assert validated.stdout == "deployment.yaml: valid (hello 1.0.0 in dev)\n"

    planned = ok("plan", "-f", "deployment.yaml", cwd=tmp_path).stdout
    assert planned.startswith("plan: deploy hello 1.0.0 to dev (not stored)\n")
    assert "pipeline: 3 stages, 5 tasks" in planned
    assert "  left out: unit tests are enabled but testing.unit_test_command is not set" in planned
    assert "  1. start 2 replica(s) of 1.0.0 (green) beside the serving release (blue)" in planned
    assert f"    listen: 127.0.0.1:{port}" in planned
    assert "lease: hello/dev (free now)" in planned
    assert "rollback: nothing to restore yet (no successful deploy of hello in dev)" in planned
    assert "no configurations yet" in uno_deploy("config", "list").stderr  # a plan stores nothing

    first = ok("deploy", "-f", "deployment.yaml", "-m", "first release", cwd=tmp_path)
    assert re.search(r"configuration cfg-\S+ created \(version 1\): hello 1\.0\.0 in dev", first.stderr)
    lines = first.stdout.splitlines()
    v1 = DEPLOYMENT_ID.match(lines[0])
    assert v1 is not None
    assert lines[0].endswith(": deploy of hello 1.0.0 to dev (local, blue-green)")
    assert any(
        re.match(r"  deployment +deploy +succeeded .*hello 1\.0\.0 serves 100% with blue-green", line) for line in lines
    )
    assert any(re.search(r"- weights hello-dev-1\.0\.0-\w+=100", line) for line in lines)
    assert re.match(r"succeeded in [\d.]+s: deployed hello 1\.0\.0 in dev", lines[-1])
    assert version_at(port) == "1.0.0"

    status = ok("status", v1.group()).stdout
    assert "  status    succeeded in " in status
    assert "  about     first release" in status
    assert len(re.findall(r" succeeded +[\d.]+s", status)) == 5

    replanned = ok("plan", "-f", "deployment.yaml", "--set", "app_version=2.0.0", cwd=tmp_path).stdout
    assert f"rollback: would restore hello 1.0.0 ({v1.group()}, deployed " in replanned

    second = ok("deploy", "-f", "deployment.yaml", "--set", "app_version=2.0.0", cwd=tmp_path)
    assert re.search(r"configuration cfg-\S+ updated \(version 2\): hello 2\.0\.0 in dev", second.stderr)
    v2 = DEPLOYMENT_ID.match(second.stdout)
    assert v2 is not None
    assert re.search(r"- kept hello-dev-1\.0\.0-\w+ warm for 3600s \(the rollback window\)", second.stdout)
    assert second.stdout.splitlines()[-1].endswith(": deployed hello 2.0.0 in dev")
    assert version_at(port) == "2.0.0"

    rolled_back = ok("rollback", v2.group())
    assert "is still running: switching traffic back" in rolled_back.stdout
    assert re.search(r"succeeded in [\d.]+s: rolled back to hello 1\.0\.0 in dev\n$", rolled_back.stdout)
    assert version_at(port) == "1.0.0"

    history = ok("history", "hello", "--env", "dev").stdout.splitlines()
    assert history[0].split() == ["ID", "KIND", "VERSION", "STATUS", "CREATED", "TOOK", "MESSAGE"]
    assert [row.split()[1:4] for row in history[1:]] == [
        ["rollback", "1.0.0", "succeeded"],
        ["deploy", "2.0.0", "rolled-back"],
        ["deploy", "1.0.0", "succeeded"],
    ]
    assert [item["id"] for item in as_json("history", "hello")][1:] == [v2.group(), v1.group()]

    logs = ok("logs", v2.group(), "--tail", "5").stdout
    assert "deployment/deploy: succeeded in " in logs
    assert "replica logs (stdout and stderr of each replica):" in logs
    assert re.search(r"local/processes/logs/hello-dev-2\.0\.0-\w+/replica-0\.log\n    \| ", logs)
    assert "    | serving on http://127.0.0.1:" in logs
