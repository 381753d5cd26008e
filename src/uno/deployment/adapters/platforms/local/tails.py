"""The last lines of a replica's log, read from its end: what a failing rollout shows of why.

A log may be large (rotation lets it reach ``rotating.DEFAULT_MAX_BYTES``); only its last
``TAIL_BYTES`` are read, so asking costs the same whatever its size. Lines are decoded with
replacement (a program may write anything) and a cut first line is dropped.
"""

from __future__ import annotations

from pathlib import Path

TAIL_BYTES = 16 * 1024


def last_lines(path: Path, count: int) -> tuple[str, ...]:
    """Up to ``count`` last lines of ``path`` (none when it cannot be read)."""
    try:
        with path.open("rb") as log:
            size = log.seek(0, 2)
            log.seek(max(0, size - TAIL_BYTES))
            data = log.read(TAIL_BYTES)
    except OSError:
        return ()
    lines = data.decode("utf-8", errors="replace").splitlines()
    if size > TAIL_BYTES and lines:
        lines = lines[1:]  # it starts mid-line
    return tuple(lines[-count:]) if count > 0 else ()
