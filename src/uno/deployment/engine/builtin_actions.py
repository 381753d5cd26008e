"""The built-in actions: commands, waits, configuration checks, tests, builds, migrations.

Each does the real thing or fails saying why. The platform steps live in
``platform_steps``. There is no ``promote`` step: a paused canary is promoted (or aborted)
by a decision to its running ``deploy`` step (``DeploymentService.promote``), as an
approval gate is approved; a step that promoted would only do what leaving the pause out does.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import ValidationError

from uno.core.result import Failure
from uno.deployment.domain import validation
from uno.deployment.domain.configs import TEST_SUITES, DeploymentConfig
from uno.deployment.domain.enums import DeploymentEnvironment
from uno.deployment.engine import database_steps, platform_steps, scanning, secrecy, waiting
from uno.deployment.engine.actions import Action, ActionContext, ActionOutcome, no_params


def _is_argv(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(arg, str) for arg in value) and bool(value[0])


def _is_str_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


class CommandAction:
    """Run a program: ``{"argv": [...], "env": {...}, "cwd": "..."}``; non-zero exit fails.

    Free-form: its author chooses the program, so only an admin may define one. The program
    sees the baseline environment and the task's ``env``, nothing of the server's.
    """

    kind = "command"
    free_form = True

    @staticmethod
    def idempotent(params: dict[str, Any]) -> bool:
        """Only the task's author knows: ``{"idempotent": true}`` lets a resumed run repeat it."""
        return params.get("idempotent") is True

    def check(self, params: dict[str, Any]) -> str | None:
        if not isinstance(params.get("idempotent", False), bool):
            return "'idempotent' must be true or false"
        unknown = set(params) - {"argv", "env", "cwd", "idempotent"}
        if unknown:
            return f"unknown parameter(s) for command: {', '.join(sorted(unknown))}"
        if not _is_argv(params.get("argv")):
            return "command needs 'argv': a non-empty list of strings, program first (no shell line)"
        if "env" in params and not _is_str_map(params["env"]):
            return "'env' must map names to string values"
        if "cwd" in params and not isinstance(params["cwd"], str):
            return "'cwd' must be a directory path"
        return None

    async def run(self, context: ActionContext) -> ActionOutcome:
        params = context.params
        outcome = await context.commands.run(
            params["argv"], env=params.get("env"), cwd=params.get("cwd"), timeout=context.task.timeout
        )
        return ActionOutcome.of_command(f"command {params['argv'][0]!r}", outcome)


class WaitAction:
    """Wait ``{"seconds": n}``, on the engine's clock."""

    kind = "wait"
    free_form = False

    idempotent = True

    def check(self, params: dict[str, Any]) -> str | None:
        seconds = params.get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not 0 <= seconds < math.inf:
            return "wait needs 'seconds': a number >= 0"
        return None

    async def run(self, context: ActionContext) -> ActionOutcome:
        await context.clock.sleep(float(context.params["seconds"]))
        return ActionOutcome.ok(f"waited {context.params['seconds']}s")


class ValidateConfigAction:
    """Validate the pipeline's configuration as a whole, and warn about risky choices."""

    kind = "validate_config"
    free_form = False

    idempotent = True

    def check(self, params: dict[str, Any]) -> str | None:
        return no_params(self.kind, params)

    async def run(self, context: ActionContext) -> ActionOutcome:
        config = context.config
        if config is None:
            return ActionOutcome.failed("this pipeline has no deployment configuration to validate")
        try:
            DeploymentConfig.model_validate(config.to_document())
        except ValidationError as error:
            return ActionOutcome.failed(validation.details_from(error).message)
        warnings = _warnings(config)
        return ActionOutcome.ok(
            f"configuration {config.id.value} is valid" + (f" ({len(warnings)} warning(s))" if warnings else ""),
            warnings=warnings,
        )


def _warnings(config: DeploymentConfig) -> list[str]:
    warnings = []
    critical = config.environment in (DeploymentEnvironment.STAGING, DeploymentEnvironment.PRODUCTION)
    if config.environment is DeploymentEnvironment.PRODUCTION and config.resources.replicas_min < 2:
        warnings.append("production runs fewer than 2 replicas: a single failure takes it down")
    if critical and config.strategy.value == "recreate":
        warnings.append(f"recreate in {config.environment.value} means downtime during every deploy")
    if critical and config.database is not None and not config.database.backup_before_deploy:
        warnings.append("the database is not backed up before deploying")
    return warnings


class CheckDependenciesAction:
    """Check what the deploy needs from this machine: secrets set, programs installed."""

    kind = "check_dependencies"
    free_form = False

    idempotent = True

    def check(self, params: dict[str, Any]) -> str | None:
        return no_params(self.kind, params)

    async def run(self, context: ActionContext) -> ActionOutcome:
        config = context.config
        if config is None:
            return ActionOutcome.failed("this pipeline has no deployment configuration to check")
        problems = [
            f"environment variable {name} is not set"
            for name in secrecy.named_variables(config)
            if not context.environ.get(name)
        ]
        for argv in required_commands(config):
            if context.commands.which(argv[0]) is None:
                problems.append(f"program {argv[0]!r} is not installed (needed for {' '.join(argv)})")
        problems += _scanner_problems(config, context)
        problems += _replica_programs(config, context)
        if problems:
            return ActionOutcome.failed("; ".join(problems), problems=problems)
        return ActionOutcome.ok("secrets are set and programs are installed")


def _replica_programs(config: DeploymentConfig, context: ActionContext) -> list[str]:
    """What the replicas would run that this machine lacks (a platform that starts them here says)."""
    driver = context.tools.platforms.driver_for(config)
    return [] if isinstance(driver, Failure) else driver.value.missing_programs(config)


def _scanner_problems(config: DeploymentConfig, context: ActionContext) -> list[str]:
    """Why the scan ``security.scan_images`` asks for cannot run here (no scanner, or not installed)."""
    if not config.security.scan_images:
        return []
    scanner = scanning.scanner_for(config, context.tools.platforms)
    if isinstance(scanner, Failure):
        return []  # left out of the pipeline, and reported as not honoured
    problem = scanning.missing(scanner.value, context.commands)
    return [problem] if problem else []


def required_commands(config: DeploymentConfig) -> list[list[str]]:
    commands = [config.testing.command_for(suite) for suite in config.testing.enabled_suites()]
    commands.append(config.build_command)
    if config.database is not None and config.database.apply_migrations:
        commands.append(config.database.migration_command or database_steps.DEFAULT_MIGRATION_COMMAND)
    return [command for command in commands if command]


class RunTestsAction:
    """Run the configured command of a test suite: ``{"suite": "unit"}``."""

    kind = "run_tests"
    free_form = False

    idempotent = True

    def check(self, params: dict[str, Any]) -> str | None:
        if params.get("suite") not in TEST_SUITES or set(params) != {"suite"}:
            return f"run_tests needs 'suite': one of {', '.join(TEST_SUITES)}"
        return None

    async def run(self, context: ActionContext) -> ActionOutcome:
        config, suite = context.config, context.params["suite"]
        command = config.testing.command_for(suite) if config else None
        if config is None or command is None:
            return ActionOutcome.failed(f"no command is configured for {suite} tests (testing.{suite}_test_command)")
        outcome = await context.commands.run(
            command,
            env=secrecy.configured_environment(config, context.environ),
            timeout=min(context.task.timeout, config.testing.test_timeout),
        )
        result = ActionOutcome.of_command(f"{suite} tests", outcome)
        if not result.succeeded and not config.testing.fail_on_test_failure:
            return ActionOutcome.ok(f"{result.message} (not blocking: fail_on_test_failure is off)", **result.outputs)
        return result


class BuildAction:
    """Run the configuration's ``build_command``."""

    kind = "build"
    free_form = False

    idempotent = True

    def check(self, params: dict[str, Any]) -> str | None:
        return no_params(self.kind, params)

    async def run(self, context: ActionContext) -> ActionOutcome:
        config = context.config
        if config is None or not config.build_command:
            return ActionOutcome.failed("no build_command is configured")
        outcome = await context.commands.run(
            config.build_command,
            env=secrecy.configured_environment(config, context.environ),
            timeout=context.task.timeout,
        )
        return ActionOutcome.of_command("build", outcome)


def builtin_actions() -> list[Action]:
    return [
        CommandAction(),
        WaitAction(),
        ValidateConfigAction(),
        CheckDependenciesAction(),
        RunTestsAction(),
        BuildAction(),
        scanning.ScanAction(),
        database_steps.MigrateAction(),
        database_steps.BackupAction(),
        database_steps.RestoreAction(),
        waiting.HttpCheckAction(),
        waiting.ApprovalAction(),
        *platform_steps.platform_steps(),
    ]
