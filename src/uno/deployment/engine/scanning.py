"""``security.scan_images``: a real vulnerability scanner runs before the deploy step.

The scanner is ``security.scan_command`` when the configuration names one, else the
default its platform declares (``SettingsDeclaration.scanner``: ``trivy image`` on the
configured image for ``kubernetes``, ``pip-audit`` of the workdir's requirements on
``local``). Either runs where the platform's default would (the local workdir), with the
configuration's environment and secrets as its tests get them, and fails the deploy
before the platform changes: a non-zero exit, or a missing program (one line naming it
and how to get it). When no scanner can be chosen (a platform without a default, no
``scan_command``) the scan is left out of the pipeline and reported as not honoured,
refused under strict mode, as an enabled test suite without its command is.

Not free-form: the command comes from the configuration, which only an admin writes, as
the test suites' commands do (``services.authority``).
"""

from __future__ import annotations

from typing import Any

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment.domain.configs import DeploymentConfig
from uno.deployment.engine import secrecy
from uno.deployment.engine.actions import ActionContext, ActionOutcome, no_params
from uno.deployment.ports.commands import CommandRunner
from uno.deployment.ports.platforms import PlatformDrivers, ScanCommand

FIELD = "security.scan_command"


def scanner_for(config: DeploymentConfig, drivers: PlatformDrivers) -> Result[ScanCommand]:
    """The scanner a deploy of ``config`` runs, or the ``VALIDATION_ERROR`` saying none can be chosen."""
    platform = config.platform.value
    default_of = drivers.declaration_for(platform).scanner
    default = default_of(config) if default_of is not None else None
    given = config.security.scan_command
    if given:
        cwd = default.cwd if default is not None else None
        return Success(ScanCommand(tuple(given), cwd))
    if default is None:
        message = (
            f"security.scan_images is on but the {platform} platform has no default scanner and {FIELD} "
            "is not set: nothing is scanned"
        )
        return Failure(ErrorDetails(ErrorCode.VALIDATION_ERROR, message, {"field": FIELD}))
    return Success(default)


def missing(scanner: ScanCommand, commands: CommandRunner) -> str | None:
    """The one line saying the scanner's program is not installed, or None when it is."""
    program = scanner.argv[0]
    if commands.which(program) is not None:
        return None
    how = (
        f"{scanner.install}, or set {FIELD} to another scanner" if scanner.install else f"install it, or change {FIELD}"
    )
    return f"the scanner {program!r} is not installed ({how})"


class ScanAction:
    """Run the configuration's vulnerability scanner; a non-zero exit fails the deploy."""

    kind = "scan_images"
    free_form = False

    idempotent = True

    def check(self, params: dict[str, Any]) -> str | None:
        return no_params(self.kind, params)

    async def run(self, context: ActionContext) -> ActionOutcome:
        config = context.config
        if config is None:
            return ActionOutcome.failed("this pipeline has no deployment configuration to scan")
        scanner = scanner_for(config, context.tools.platforms)
        if isinstance(scanner, Failure):
            return ActionOutcome.failed(scanner.error.message)
        if problem := missing(scanner.value, context.commands):
            return ActionOutcome.failed(problem, argv=list(scanner.value.argv))
        outcome = await context.commands.run(
            scanner.value.argv,
            env=secrecy.configured_environment(config, context.environ),
            cwd=scanner.value.cwd,
            timeout=context.task.timeout,
        )
        result = ActionOutcome.of_command(f"scanner {scanner.value.argv[0]!r}", outcome)
        if result.succeeded:
            return result
        said = _last_line(outcome.stderr_tail) or _last_line(outcome.stdout_tail)
        message = f"{result.message}{f': {said}' if said else ''}; nothing was deployed"
        return ActionOutcome.failed(message, **result.outputs)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""
