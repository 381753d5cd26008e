"""A replica over its memory limit, as a user meets it: plan names the mechanism, deploy and status say why."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

from tests.cli.support import free_port, ok, uno_deploy

DEPLOYMENT_ID = re.compile(r"dep-[0-9a-z]{26}")
# a Python every user may run (the test's own may live under /root)
PYTHON = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin") or sys.executable
HOG = "import time; data = b'x' * (200 * 2**20); time.sleep(3600)"


def test_a_replica_over_memory_max_fails_the_deploy_and_status_says_why(tmp_path: Path):
    command = json.dumps([PYTHON, "-c", HOG])
    (tmp_path / "hog.yaml").write_text(f"""\
app_name: hog
app_version: 1.0.0
environment: dev
platform: local
strategy: recreate
resource_requirements:
  memory_max: 64Mi
testing_config:
  run_unit_tests: false
custom_settings:
  command: {command}
  port: {free_port()}
  health_path: /
  health_deadline_seconds: 10
""")

    planned = ok("plan", "-f", "hog.yaml", cwd=tmp_path).stdout
    assert "memory_max: 67108864" in planned
    assert re.search(r"limits: '?memory: (cgroup v[12]|RLIMIT_AS)", planned), planned

    deployed = uno_deploy("deploy", "-f", "hog.yaml", cwd=tmp_path)
    assert deployed.returncode == 1, deployed.stdout + deployed.stderr
    assert "replica 0 " in deployed.stdout
    assert "it exceeded its memory limit (64 MiB" in deployed.stdout
    found = DEPLOYMENT_ID.search(deployed.stdout)
    assert found is not None
    status = ok("status", found.group(), cwd=tmp_path).stdout
    assert "it exceeded its memory limit (64 MiB" in status
