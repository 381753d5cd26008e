"""Actions: what a task does. A registry maps an action kind to its implementation.

An action checks its parameters when the task is added (so a bad pipeline is refused
before it runs) and, when run, returns an ``ActionOutcome``; it never pretends. Tasks
added by a well-known name only (``validate-config``) resolve to a built-in kind.
Custom kinds register through the ``uno.deployment.actions`` entry point group.

Every action says whether it is *free-form*: whether its parameters choose what runs
(``command``'s argv), what is reached (``http_check``'s URL) or what is read
(``db_restore``'s file). A free-form task may only be defined by an admin (the service
checks it, see ``services.authority``); the other actions run what an admin already
defined (a configuration's commands, its database, its platform) or an installed
plugin's own code. An action that does not say is free-form: a plugin is trusted to run
its own code, not to know that its parameters cannot be turned against the server.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from uno.core.errors import ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.domain.pipelines import Pipeline, Stage, Task
from uno.deployment.ports.approvals import DecisionRepository
from uno.deployment.ports.backups import DatabaseBackups
from uno.deployment.ports.clock import Clock
from uno.deployment.ports.commands import CommandOutcome, CommandRunner
from uno.deployment.ports.http import HttpProber
from uno.deployment.ports.platforms import PlatformDrivers


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    succeeded: bool
    message: str = ""
    outputs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def ok(cls, message: str = "", **outputs: Any) -> ActionOutcome:
        return cls(True, message, outputs)

    @classmethod
    def failed(cls, message: str, **outputs: Any) -> ActionOutcome:
        return cls(False, message, outputs)

    @classmethod
    def of_command(cls, label: str, outcome: CommandOutcome) -> ActionOutcome:
        """A program's run as an outcome: its exit, and the tails of its output."""
        outputs = {
            "argv": list(outcome.argv),
            "returncode": outcome.returncode,
            "stdout_tail": outcome.stdout_tail,
            "stderr_tail": outcome.stderr_tail,
            "duration": round(outcome.duration, 3),
        }
        if outcome.start_error:
            return cls.failed(f"{label} could not start: {outcome.start_error}", **outputs)
        if outcome.timed_out:
            return cls.failed(f"{label} timed out and was killed", **outputs)
        if outcome.returncode != 0:
            return cls.failed(f"{label} exited with code {outcome.returncode}", **outputs)
        return cls.ok(f"{label} succeeded", **outputs)


@dataclass(frozen=True, slots=True)
class Tools:
    """The outside world as actions reach it: each one a port, faked in tests."""

    clock: Clock
    commands: CommandRunner
    environ: Mapping[str, str]
    http: HttpProber
    decisions: DecisionRepository
    backups: DatabaseBackups
    platforms: PlatformDrivers
    known_secrets: frozenset[str] = frozenset()
    """Values hidden from every record besides those ``environ`` holds (the store's URL from a file)."""


Progress = Callable[[str, dict[str, Any]], Awaitable[None]]


async def _unreported(message: str, outputs: dict[str, Any]) -> None:
    """Progress of an action run outside a pipeline runner: nobody is watching."""


@dataclass(frozen=True, slots=True)
class ActionContext:
    """What a running action may see and use."""

    pipeline: Pipeline
    stage: Stage
    task: Task
    config: DeploymentConfig | None
    tools: Tools
    progress: Progress = _unreported

    async def report(self, message: str, **outputs: Any) -> None:
        """Store what the task is doing now (its message, these outputs) while it runs.

        For actions that wait a long time on something outside (a person, a deadline): the
        pipeline's readers, in any process, see why it has not finished yet.
        """
        await self.progress(message, outputs)

    @property
    def params(self) -> dict[str, Any]:
        return self.task.params

    @property
    def clock(self) -> Clock:
        return self.tools.clock

    @property
    def commands(self) -> CommandRunner:
        return self.tools.commands

    @property
    def environ(self) -> Mapping[str, str]:
        return self.tools.environ


def no_params(kind: str, params: dict[str, Any]) -> str | None:
    """The ``check`` of an action that takes no parameters."""
    return f"{kind} takes no parameters (got {', '.join(sorted(params))})" if params else None


class Action(Protocol):
    kind: str
    free_form: bool
    """Whether the task's parameters choose what runs, is reached or is read (admin only)."""

    def check(self, params: dict[str, Any]) -> str | None:
        """Why ``params`` are unusable for this action, or None when they are fine."""
        ...

    async def run(self, context: ActionContext) -> ActionOutcome: ...


def is_free_form(action: Action) -> bool:
    """Whether ``action`` lets its task's author choose what runs; undeclared counts as yes."""
    return getattr(action, "free_form", True) is not False


# Task names that stand for a built-in action (the spec adds tasks by name only).
NAMED_TASKS: dict[str, tuple[str, dict[str, Any]]] = {
    "validate-config": ("validate_config", {}),
    "check-dependencies": ("check_dependencies", {}),
    "run-unit-tests": ("run_tests", {"suite": "unit"}),
    "run-integration-tests": ("run_tests", {"suite": "integration"}),
    "run-performance-tests": ("run_tests", {"suite": "performance"}),
    "run-security-tests": ("run_tests", {"suite": "security"}),
    "build": ("build", {}),
    "scan-images": ("scan_images", {}),
    "backup-database": ("db_backup", {}),
    "restore-database": ("db_restore", {}),
    "approval": ("approval", {}),
    "apply-migrations": ("db_migrate", {}),
    "deploy": ("deploy", {}),
    "verify-deployment": ("verify", {}),
    "health-check": ("health_check", {}),
}


class ActionRegistry:
    def __init__(self, actions: list[Action] | None = None) -> None:
        self._actions: dict[str, Action] = {}
        for action in actions or []:
            self.register(action)

    def register(self, action: Action) -> None:
        self._actions[action.kind] = action

    def get(self, kind: str) -> Action | None:
        return self._actions.get(kind)

    def free_form(self, kind: str) -> bool:
        """Whether tasks of ``kind`` need an admin to define them (an unknown kind does)."""
        action = self._actions.get(kind)
        return action is None or is_free_form(action)

    @property
    def kinds(self) -> list[str]:
        return sorted(self._actions)

    def resolve(self, name: str, kind: str | None, params: Any) -> Result[tuple[str, dict[str, Any]]]:
        """The action kind and parameters for a new task, checked; a ``Failure`` names the problem."""
        if params is not None and not isinstance(params, dict):
            return Failure(ErrorDetails.validation("params", "must be a mapping of parameter names to values"))
        if kind is None:
            if name not in NAMED_TASKS:
                known = ", ".join(sorted(NAMED_TASKS))
                return Failure(
                    ErrorDetails.validation(
                        "action",
                        f"task {name!r} names no built-in action; give an action (one of "
                        f"{', '.join(self.kinds)}) or use a built-in task name ({known})",
                    )
                )
            kind, defaults = NAMED_TASKS[name]
            params = {**defaults, **(params or {})}
        action = self._actions.get(kind)
        if action is None:
            return Failure(
                ErrorDetails.validation("action", f"unknown action {kind!r} (known: {', '.join(self.kinds)})")
            )
        params = dict(params or {})
        problem = action.check(params)
        if problem:
            return Failure(ErrorDetails.validation("params", problem, action=kind))
        return Success((kind, params))
