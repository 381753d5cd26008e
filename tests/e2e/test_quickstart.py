"""The README's main job: the quickstart runs end to end as a user would start it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def quickstart() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )


def test_quickstart_run_twice_keeps_one_configuration_per_environment():
    first, second = quickstart(), quickstart()

    assert (first.returncode, second.returncode) == (0, 0), second.stdout + second.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "uno.deployment.entrypoints.cli", "config", "list", "--app", "hello", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert sorted(item["environment"] for item in json.loads(listed.stdout)) == ["dev", "production"]


def test_quickstart_deploys_upgrades_and_rolls_back_for_real():
    completed = quickstart()

    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert "pipeline hello-checks: succeeded" in lines
    assert any(line.split()[:3] == ["testing", "run-unit-tests", "succeeded"] for line in lines)
    answers = [line.rsplit(" ", 1)[-1] for line in lines if "answers version" in line]
    assert answers == ["1.0.0", "2.0.0", "1.0.0"]
    assert any(line.startswith("deploy 2.0.0: succeeded") for line in lines)
