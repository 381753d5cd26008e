"""security.scan_images as a user meets it: plan names the scanner, a finding stops the deploy, a clean one not."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.cli.support import free_port, hello_command, ok, uno_deploy, version_at

SCANNER = """\
import sys
if sys.argv[1] == "fail":
    print("CVE-2026-0001 HIGH in requests 2.0.0 (fixed in 2.32.0)", file=sys.stderr)
    sys.exit(1)
print("No known vulnerabilities found")
"""


def write(folder: Path, port: int, outcome: str) -> Path:
    scanner = folder / "scanner.py"
    scanner.write_text(SCANNER)
    command = json.dumps(hello_command().split())
    text = f"""\
app_name: hello
app_version: 1.0.0
environment: dev
platform: local
strategy: recreate
security_config:
  scan_images: true
  scan_command: {json.dumps([sys.executable, str(scanner), outcome])}
testing_config:
  run_unit_tests: false
custom_settings:
  command: {command}
  port: {port}
  health_path: /health
"""
    path = folder / "dev.yaml"
    path.write_text(text)
    return path


def test_a_finding_stops_the_deploy_before_anything_runs_and_says_what_was_found(tmp_path: Path):
    port = free_port()
    write(tmp_path, port, "fail")

    planned = ok("plan", "-f", "dev.yaml", cwd=tmp_path).stdout
    deployed = uno_deploy("deploy", "-f", "dev.yaml", cwd=tmp_path)

    assert "scan-images" in planned
    assert "scanner.py fail" in planned  # the command the scan runs
    assert deployed.returncode == 1
    assert "CVE-2026-0001 HIGH in requests 2.0.0 (fixed in 2.32.0)" in deployed.stdout + deployed.stderr
    assert version_at(port) is None  # nothing was started


def test_a_clean_scan_lets_the_deploy_go_on(tmp_path: Path):
    port = free_port()
    write(tmp_path, port, "pass")

    deployed = ok("deploy", "-f", "dev.yaml", cwd=tmp_path)

    assert version_at(port) == "1.0.0"
    assert "scan-images" in deployed.stdout + deployed.stderr
