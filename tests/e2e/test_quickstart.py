"""The README's main job: the quickstart runs end to end as a user would start it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quickstart_runs_real_checks_and_reports_the_deploy_honestly():
    completed = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )

    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert "pipeline hello-checks: succeeded" in lines
    assert any(line.split()[:3] == ["testing", "run-unit-tests", "succeeded"] for line in lines)
    assert "no platform driver is installed for 'local'" in completed.stdout
