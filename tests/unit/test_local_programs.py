"""A replica's program judged before a deploy: on the PATH its environment would have, or a path from its workdir."""

from __future__ import annotations

import os
from pathlib import Path

from uno.deployment.adapters.platforms.local import programs, tails


def test_a_name_is_looked_up_on_the_path_given(tmp_path: Path):
    (tmp_path / "serve").write_text("#!/bin/sh\n")
    (tmp_path / "serve").chmod(0o755)

    assert programs.missing("serve", None, str(tmp_path)) is None
    assert programs.missing("serve", None, os.defpath) == (
        "program 'serve' (custom_settings.command) is not found on the replicas' PATH"
    )


def test_a_path_is_judged_from_the_workdir(tmp_path: Path):
    script = tmp_path / "bin" / "serve"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")

    assert programs.missing("bin/serve", str(tmp_path), "") == (
        "program 'bin/serve' (custom_settings.command) is not executable"
    )
    script.chmod(0o755)
    assert programs.missing("bin/serve", str(tmp_path), "") is None
    assert programs.missing(str(script), None, "") is None
    assert programs.missing("bin/nope", str(tmp_path), "") == (
        f"program 'bin/nope' (custom_settings.command) does not exist (from workdir {tmp_path})"
    )


def test_the_last_lines_of_a_large_log_cost_its_end_only(tmp_path: Path):
    log = tmp_path / "replica-0.log"
    log.write_text("".join(f"line {number}\n" for number in range(100_000)))

    assert tails.last_lines(log, 3) == ("line 99997", "line 99998", "line 99999")
    assert tails.last_lines(tmp_path / "missing.log", 3) == ()
