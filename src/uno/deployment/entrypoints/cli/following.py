"""Following a deployment to its end: live in a terminal, line by line in a pipe, or quietly.

The deployment and its pipeline are polled through the backend (the same for the
embedded store and an API server), and each view is given what changed:

- ``LiveView`` (stdout is a terminal): a table of stages and tasks redrawn in place by
  rich, with each task's status, duration and message (a canary's weight and analysis
  while it runs), and the strategy's steps once the platform step ends;
- ``LineView`` (a pipe, a CI log): one line per change of a task, then its steps;
- ``QuietView`` (``--json``): nothing until the end.

Ctrl-C (or SIGTERM, or ``uno-deploy cancel`` from elsewhere) while a deployment runs in
this process cancels it and reports how it ended; following one that runs on a server
only stops the watching.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import typer

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.enums import TaskStatus
from uno.deployment.domain.pipelines import Pipeline, Stage, Task
from uno.deployment.entrypoints.cli import runs, showing
from uno.deployment.entrypoints.cli.backends import Backend, Deployment

if TYPE_CHECKING:  # rich loads for a terminal only: a pipe (CI, scripts) gets plain lines
    from rich.console import Console, Group

POLL_SECONDS = 0.25
_MARKS = {
    TaskStatus.PENDING: ("·", "dim"),
    TaskStatus.RUNNING: ("▶", "bold cyan"),
    TaskStatus.SUCCEEDED: ("✓", "green"),
    TaskStatus.FAILED: ("✗", "bold red"),
    TaskStatus.SKIPPED: ("-", "dim"),
    TaskStatus.CANCELED: ("⊘", "yellow"),
}


class View(Protocol):
    def show(self, deployment: Deployment, pipeline: Pipeline | None) -> None: ...

    def close(self) -> None: ...


class QuietView:
    def show(self, deployment: Deployment, pipeline: Pipeline | None) -> None:
        return None

    def close(self) -> None:
        return None


class LineView:
    """One line per change: a task's status or message, the deployment's status."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, str]] = {}
        self._steps: dict[str, int] = {}
        self._status: str | None = None

    def show(self, deployment: Deployment, pipeline: Pipeline | None) -> None:
        if pipeline is not None:
            for stage, task in pipeline.tasks():
                self._show_task(stage, task)
        if deployment.status.value != self._status:
            if self._status is not None and not deployment.status.is_complete:
                typer.echo(f"  {deployment.id} is {deployment.status.value}")
            self._status = deployment.status.value

    def _show_task(self, stage: Stage, task: Task) -> None:
        """Its line when its status or message changed, then the strategy's steps not shown yet."""
        state = (task.status.value, task.message)
        if task.status is not TaskStatus.PENDING and self._seen.get(task.id.value) != state:
            self._seen[task.id.value] = state
            typer.echo(showing.task_line(stage, task))
        steps = showing.step_lines(task)
        for line in steps[self._steps.get(task.id.value, 0) :]:
            typer.echo(line)
        self._steps[task.id.value] = len(steps)

    def close(self) -> None:
        return None


class LiveView:
    """A table redrawn in place (rich), for a person watching a terminal."""

    def __init__(self, console: Console, title: str) -> None:
        from rich.live import Live  # noqa: PLC0415

        self._title = title
        self._live = Live(console=console, refresh_per_second=8, transient=False)
        self._live.start()

    def show(self, deployment: Deployment, pipeline: Pipeline | None) -> None:
        self._live.update(self._render(deployment, pipeline), refresh=True)

    def _render(self, deployment: Deployment, pipeline: Pipeline | None) -> Group:
        from rich.console import Group  # noqa: PLC0415
        from rich.table import Table  # noqa: PLC0415
        from rich.text import Text  # noqa: PLC0415

        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        for column in ("", "stage", "task", "time", "detail"):
            table.add_column(column, no_wrap=column != "detail", overflow="fold")
        now = datetime.now(UTC)
        if pipeline is not None:
            for stage, task in pipeline.tasks():
                mark, style = _MARKS.get(task.status, ("?", ""))
                table.add_row(
                    Text(mark, style=style),
                    stage.name,
                    Text(task.name, style=style if task.status is TaskStatus.RUNNING else ""),
                    showing.seconds(showing.task_duration(task, now)),
                    task.message,
                )
                for step in task.outputs.get("steps", []):
                    table.add_row("", "", "", "", Text(f"- {step}", style="dim"))
        if deployment.status.is_complete:
            return Group(Text(self._title, style="bold"), table)
        return Group(Text(self._title, style="bold"), table, Text(f"{deployment.status.value} ...", style="bold"))

    def close(self) -> None:
        self._live.stop()


def view_for(json_output: bool, title: str) -> View:
    if json_output:
        return QuietView()
    if _may_be_a_terminal():
        from rich.console import Console  # noqa: PLC0415

        console = Console()
        if console.is_terminal:
            return LiveView(console, title)
    typer.echo(title)
    return LineView()


def _may_be_a_terminal() -> bool:
    """False where rich's ``Console().is_terminal`` is surely False: stdout no tty, and nothing forcing it."""
    return sys.stdout.isatty() or os.environ.get("TTY_COMPATIBLE") == "1" or bool(os.environ.get("FORCE_COLOR"))


async def follow(
    backend: Backend,
    started: Deployment,
    view: View,
    runs_dir: Path | None,
    *,
    owns: bool,
    interrupted: asyncio.Event | None = None,
) -> Result[Deployment]:
    """Poll the deployment until it has settled, showing each state.

    Ctrl-C cancels a deployment this process runs (``owns``, ``runs_dir`` set), or stops
    watching one that runs elsewhere. ``interrupted``: set by ``interrupts``, which the
    caller entered before it started the deployment (a Ctrl-C then is not lost).
    """
    auto_rollback = await _auto_rollback(backend, started)
    canceling = False
    with _catching(interrupted) as caught, _registered(runs_dir, started.id):
        try:
            while True:
                found = await _state(backend, started.id)
                if isinstance(found, Failure):
                    return found
                deployment, pipeline = found.value
                view.show(deployment, pipeline)
                if deployment.is_settled(pipeline, auto_rollback):
                    return Success(deployment)
                if caught.is_set() and not canceling:
                    if not (owns and backend.runs_here):
                        return Failure(_stopped_watching(backend, deployment))
                    canceling = True
                    by = runs.stop_requested_by(runs_dir, started.id) if runs_dir else None
                    await backend.cancel(started.id, "interrupted", by=by)
                await _pause(backend, started.id, caught)
        finally:
            view.close()


async def _pause(backend: Backend, deployment_id: str, caught: asyncio.Event) -> None:
    """Until the next look: ``POLL_SECONDS``, or sooner when Ctrl-C is pressed or the run here ends.

    Waking when a deployment this process runs ends saves a user up to a poll per
    deploy; one that runs elsewhere is looked at every ``POLL_SECONDS``.
    """
    waits = {
        asyncio.ensure_future(caught.wait()),
        asyncio.ensure_future(backend.wait_ended(deployment_id, POLL_SECONDS)),
    }
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)


async def _state(backend: Backend, deployment_id: str) -> Result[tuple[Deployment, Pipeline | None]]:
    found = await backend.deployment(deployment_id)
    if isinstance(found, Failure):
        return found
    deployment = found.value
    if deployment.pipeline_id is None:
        return Success((deployment, None))
    pipeline = await backend.pipeline(deployment.pipeline_id)
    return Success((deployment, pipeline.value if isinstance(pipeline, Success) else None))


async def _auto_rollback(backend: Backend, deployment: Deployment) -> bool:
    """Whether a failed deploy will be rolled back automatically (then the command waits for that too)."""
    if deployment.kind != "deploy":
        return False
    config = await backend.get_config(deployment.config_id)
    return config.value.auto_rollback if isinstance(config, Success) else False


def _stopped_watching(backend: Backend, deployment: Deployment) -> ErrorDetails:
    message = (
        f"stopped watching: {deployment.id} goes on on {backend.where} "
        f"(follow it: uno-deploy status {deployment.id} --wait; stop it: uno-deploy cancel {deployment.id})"
    )
    return ErrorDetails(ErrorCode.UNAVAILABLE, message, {"interrupted": True})


@contextlib.contextmanager
def interrupts() -> Iterator[asyncio.Event]:
    """An event that Ctrl-C (SIGINT) and SIGTERM set, instead of stopping the process, while inside.

    A command that starts a deployment here enters it first: a Ctrl-C while the deployment
    starts is then a cancel (``follow``) that undoes it, not an interrupt that leaves it half-done.
    """
    interrupted = asyncio.Event()
    with _signals(interrupted):
        yield interrupted


@contextlib.contextmanager
def _catching(interrupted: asyncio.Event | None) -> Iterator[asyncio.Event]:
    if interrupted is not None:
        yield interrupted
        return
    with interrupts() as caught:
        yield caught


@contextlib.contextmanager
def _signals(interrupted: asyncio.Event) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    caught = (signal.SIGINT, signal.SIGTERM)
    for number in caught:
        loop.add_signal_handler(number, interrupted.set)
    try:
        yield
    finally:
        for number in caught:
            loop.remove_signal_handler(number)


@contextlib.contextmanager
def _registered(runs_dir: Path | None, deployment_id: str) -> Iterator[None]:
    if runs_dir is None:
        yield
        return
    with runs.registered(runs_dir, deployment_id):
        yield
