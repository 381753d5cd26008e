"""The tutorial's Part 2 runs as written, after the README's examples, and again.

A new user follows the README (its Python example and the curl that creates ``shop`` in
``dev``), then the tutorial, in the same store, maybe twice. Each block of Part 2 runs in
order, as one script (the tutorial's own advice for running it outside the asyncio REPL),
and prints what the tutorial shows, up to ids, timestamps and paths. Nothing appears on
stderr: the library logs through ``logging`` and the tutorial configures none.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.e2e.test_readme import readme_example

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "tutorial.md"
ID = re.compile(r"\b(cfg|dep|pipe|stg|task)-[0-9a-z]{26}\b")


def part_two() -> tuple[str, list[str]]:
    """Part 2's Python blocks as one script, and the lines its output blocks show."""
    text = TUTORIAL.read_text(encoding="utf-8").split("# Part 2", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    outputs = re.findall(r"```text\n(.*?)```", text, flags=re.DOTALL)
    script = "import asyncio\n\nasync def main():\n" + textwrap.indent("\n".join(blocks), "    ")
    script += "\n\nasyncio.run(main())\n"
    return script, [line for block in outputs for line in block.splitlines()]


def comparable(line: str) -> str:
    """A line without what differs from run to run: ids, and the Python that ran a command."""
    return re.sub(r"command '[^']*' ", "command 'PYTHON' ", ID.sub("ID", line)).rstrip()


def run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180, check=False)


def test_part_two_prints_what_the_tutorial_shows_after_the_readme_and_on_a_second_run():
    readme = run(readme_example())
    assert readme.returncode == 0, readme.stderr
    script, shown = part_two()

    for _ in range(2):
        completed = run(script)

        assert completed.returncode == 0, completed.stderr
        assert completed.stderr == ""  # the library prints no log of its own
        printed = [comparable(line) for line in completed.stdout.splitlines()]
        concurrent = {"task     lint", "task     unit-tests", "task     audit", "task     report"}
        for line in map(comparable, shown):
            if any(line.startswith(prefix) for prefix in concurrent):
                assert line in printed, line  # concurrent tasks: their events' order varies
            else:
                assert line in printed, (line, printed)
