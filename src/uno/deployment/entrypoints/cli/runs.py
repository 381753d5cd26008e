"""Deployments that ``uno-deploy`` processes on this machine are running on the embedded store.

On the embedded store a deployment runs in the process that started it (``uno-deploy
deploy`` following it, or the detached process of ``--no-wait``). Such a process records
its pid under ``<data dir>/runs/<deployment id>.pid`` while it runs, so that ``uno-deploy
cancel`` from another terminal can ask it to stop: it writes who asks in
``<id>.stop`` and sends SIGTERM; the running process cancels the deployment through the
service, which records who stopped it, and ends.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from uno.deployment.settings import Settings


def directory(settings: Settings) -> Path:
    """Beside the local platform's directory (by default both are in the user's data directory)."""
    return settings.resolved_local_dir().parent / "runs"


@contextlib.contextmanager
def registered(runs: Path, deployment_id: str) -> Iterator[None]:
    """Record this process as the one running ``deployment_id`` while the block runs."""
    runs.mkdir(parents=True, exist_ok=True)
    pid_file = runs / f"{deployment_id}.pid"
    pid_file.write_text(str(os.getpid()))
    try:
        yield
    finally:
        pid_file.unlink(missing_ok=True)
        (runs / f"{deployment_id}.stop").unlink(missing_ok=True)


def request_stop(runs: Path, deployment_id: str, by: str) -> bool:
    """Ask the process running ``deployment_id`` to cancel it; False when no live process runs it."""
    try:
        pid = int((runs / f"{deployment_id}.pid").read_text().strip())
    except (OSError, ValueError):
        return False
    (runs / f"{deployment_id}.stop").write_text(by)
    try:
        os.kill(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop_requested_by(runs: Path, deployment_id: str) -> str | None:
    try:
        return (runs / f"{deployment_id}.stop").read_text().strip() or None
    except OSError:
        return None
