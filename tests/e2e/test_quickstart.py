"""The README's main job: the quickstart runs end to end as a user would start it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quickstart_deploys_upgrades_and_rolls_back_for_real():
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
    answers = [line.rsplit(" ", 1)[-1] for line in lines if "answers version" in line]
    assert answers == ["1.0.0", "2.0.0", "1.0.0"]
    assert any(line.startswith("deploy 2.0.0: succeeded") for line in lines)
