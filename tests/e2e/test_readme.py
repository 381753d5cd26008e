"""The README's Python example runs as written and prints what it says."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    [example] = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
    return str(example)


def test_the_readme_example_runs_as_written_and_the_library_prints_no_log_of_its_own():
    completed = subprocess.run(
        [sys.executable, "-c", readme_example()], capture_output=True, text=True, timeout=120, check=False
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "succeeded\n"
    assert completed.stderr == ""  # where logs go is the application's choice


def test_the_library_logs_through_logging_where_the_application_chooses():
    chosen = (
        "import logging, sys\n"
        "logging.basicConfig(stream=sys.stdout, level=logging.INFO, format='%(name)s %(message)s')\n"
    )

    completed = subprocess.run(
        [sys.executable, "-c", chosen + readme_example()], capture_output=True, text=True, timeout=120, check=False
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    lines = completed.stdout.splitlines()
    assert lines[-1] == "succeeded"
    assert any(re.match(r"uno\.deployment\.runs task\.succeeded .*task='say-hello'", line) for line in lines), lines
