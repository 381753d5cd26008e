"""Whether a replica's program can be started here, judged before a deploy (``check-dependencies``).

A replica is started with ``execve`` semantics: a program with a ``/`` in it is a path
(relative ones from the replica's ``workdir``), any other name is looked up on the ``PATH``
of the replica's environment (the configuration's ``env`` may set it, else the agent's,
which is the deployer's). So a misspelt ``pyton3`` is refused before anything changes, not
found out by a version set that never becomes healthy.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def missing(program: str, workdir: str | None, path: str) -> str | None:
    """Why ``program`` cannot be started (one line), or None when it can."""
    if "/" in program:
        where = Path(workdir or ".") / program if not os.path.isabs(program) else Path(program)
        if not where.is_file():
            return f"program {program!r} (custom_settings.command) does not exist{_from(program, workdir)}"
        if not os.access(where, os.X_OK):
            return f"program {program!r} (custom_settings.command) is not executable"
        return None
    if shutil.which(program, path=path) is None:
        return f"program {program!r} (custom_settings.command) is not found on the replicas' PATH"
    return None


def _from(program: str, workdir: str | None) -> str:
    return f" (from workdir {workdir})" if workdir and not os.path.isabs(program) else ""
