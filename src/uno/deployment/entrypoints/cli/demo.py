"""``uno-deploy demo``: the example application deployed on this machine, end to end.

It stores ``hello``'s configuration for dev (``examples/hello/deployment.json``, with this
interpreter, absolute paths and its port), deploys 1.0.0, then 2.0.0 with blue-green,
asks the application which version answers after each, prints where it is served and
stays until Ctrl-C (which stops the local platform) or ``uno-deploy down`` (which it
notices). Everything is real: processes on 127.0.0.1 behind the local router.

The port is the one hello in dev is already configured on, if it is: a running
application keeps its port (a deploy that moved it would be refused); otherwise 8080,
or any free port when 8080 is taken (said, with who holds it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import sys
import urllib.request
from pathlib import Path
from typing import Any

import typer

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure, Result, Success
from uno.deployment import bootstrap
from uno.deployment.entrypoints.cli import configs, deploying, files, following, ports, running, showing
from uno.deployment.entrypoints.cli.backends import Backend, Deployment
from uno.deployment.entrypoints.cli.opening import with_backend

PREFERRED_PORT = 8080
"""The demo's router, when free and hello has no configuration yet (8000 is ``uno-deploy serve``'s)."""
APP, ENVIRONMENT = "hello", "dev"
WATCH_SECONDS = 1.0
GONE_AFTER = 3
"""Probes in a row that find nothing listening before the demo takes the platform for stopped."""
EXAMPLES = (
    Path(__file__).resolve().parents[5] / "examples" / "hello",  # the source checkout (``pip install -e``)
    Path(__file__).resolve().parents[2] / "examples" / "hello",  # the copy a wheel carries (pyproject.toml)
)
"""Where the example application may be: its ``deployment.json`` names its files as ``examples/hello/...``."""


def example_dir() -> Path | None:
    return next((example for example in EXAMPLES if (example / "deployment.json").is_file()), None)


def free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(probe.getsockname()[1])
    raise OSError("no free port on 127.0.0.1")  # pragma: no cover - port 0 always binds


def demo_values(example: Path, port: int) -> dict[str, Any]:
    """``deployment.json``, with this interpreter, absolute paths and ``port``."""
    values: dict[str, Any] = json.loads((example / "deployment.json").read_text())
    root = example.parent.parent

    def localize(argv: list[str]) -> list[str]:
        python = [sys.executable] if argv[0] == "python" else [argv[0]]
        return python + [str(root / arg) if arg.startswith("examples/") else arg for arg in argv[1:]]

    values["testing_config"]["unit_test_command"] = localize(values["testing_config"]["unit_test_command"])
    values["build_command"] = localize(values["build_command"])
    values["custom_settings"] = {
        **values["custom_settings"],
        "command": localize(values["custom_settings"]["command"]),
        "port": port,
    }
    values["description"] = "uno-deploy demo"
    return values


def answer(port: int) -> str | None:
    """The version the application says it is, or None when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            return str(json.load(response)["version"])
    except (OSError, ValueError, KeyError):
        return None


def demo(
    port: int = typer.Option(
        0, "--port", min=0, max=65535, help="The port to serve it on (0: hello's stored one, else 8080 if free)."
    ),
    exit_after_ready: bool = typer.Option(False, "--exit-after-ready", hidden=True),
) -> None:
    """Deploy the example application here (1.0.0, then 2.0.0 with blue-green) and keep it running.

    It stays until Ctrl-C (which stops the local platform) or `uno-deploy down`.

    Example: uno-deploy demo
    """
    example = example_dir()
    if example is None:
        places = " nor ".join(str(example) for example in EXAMPLES)
        message = f"the example application is neither in {places}: reinstall uno-deployment"
        running.fail(ErrorDetails.invalid_state(message))
    shown = with_backend(lambda backend: _show(backend, example, port))
    if isinstance(shown, Failure):
        deploying.failed(shown.error, None)
    ended, chosen = shown.value
    if not ended.success:
        typer.echo(showing.outcome_line(ended))
        raise typer.Exit(running.FAILED)
    url = f"http://127.0.0.1:{chosen}/"
    typer.echo(f"\nhello {ended.app_version} is served at {url}")
    typer.echo("  history:   uno-deploy history hello --env dev")
    typer.echo("  roll back: uno-deploy rollback --app hello --env dev")
    typer.echo("  stop it:   Ctrl-C here, or uno-deploy down")
    if exit_after_ready:
        return
    asyncio.run(_stay(chosen))


async def _port(backend: Backend, asked: int) -> Result[int]:
    """The port hello is served on: the stored configuration's (a deploy never moves a running
    application), else ``--port``, else 8080 if free, else any free port; said when not the one expected."""
    found = await backend.list_configs(APP, ENVIRONMENT, 1)
    if isinstance(found, Failure):
        return found
    if found.value:
        stored = found.value[0]
        custom = stored.custom_settings.get("port")
        kept = custom if isinstance(custom, int) else stored.network.port
        if asked and asked != kept:
            message = (
                f"{APP} in {ENVIRONMENT} is configured on port {kept} ({stored.id.value}): the demo keeps it; "
                f"run it without --port, or delete that configuration first (uno-deploy down, "
                f"then uno-deploy config delete {stored.id.value})"
            )
            return Failure(ErrorDetails.validation("--port", message))
        typer.echo(f"{APP} in {ENVIRONMENT} is configured on port {kept} ({stored.id.value}): the demo deploys there")
        return Success(kept)
    if asked:
        return Success(asked)
    chosen = free_port(PREFERRED_PORT)
    if chosen != PREFERRED_PORT:
        holder = ports.holder_of(PREFERRED_PORT)
        typer.echo(f"port {PREFERRED_PORT} is taken{f' by {holder}' if holder else ''}: the demo serves on {chosen}")
    return Success(chosen)


async def _show(backend: Backend, example: Path, asked: int) -> Result[tuple[Deployment, int]]:
    chosen = await _port(backend, asked)
    if isinstance(chosen, Failure):
        return chosen
    ended = await _deploy_both(backend, example, chosen.value)
    return ended if isinstance(ended, Failure) else Success((ended.value, chosen.value))


async def _deploy_both(backend: Backend, example: Path, port: int) -> Result[Deployment]:
    values = demo_values(example, port)
    for version in ("1.0.0", "2.0.0"):
        values["app_version"] = version
        applied = await configs.apply(backend, files.ConfigFile("demo", values))
        if isinstance(applied, Failure):
            return applied
        config = applied.value[0]
        typer.echo(f"\n== deploy hello {version} ({config.strategy.value}, {config.resources.replicas_min} replicas)")
        started = await backend.deploy(config.id.value, f"uno-deploy demo: {version}")
        if isinstance(started, Failure):
            return started
        view = following.view_for(False, showing.deployment_summary(started.value))
        runs_dir = deploying.runs_dir(backend)
        ended = await following.follow(backend, started.value, view, runs_dir, owns=True)
        if isinstance(ended, Failure) or not ended.value.success:
            return ended
        typer.echo(showing.outcome_line(ended.value))
        typer.echo(f"http://127.0.0.1:{port}/ answers version {await asyncio.to_thread(answer, port)}")
    return ended


async def _stay(port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    missing = 0
    while missing < GONE_AFTER and not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=WATCH_SECONDS)
        missing = 0 if await asyncio.to_thread(answer, port) else missing + 1
    if not stop.is_set():
        typer.echo("the local platform was stopped (uno-deploy down): nothing serves hello any more")
        return
    typer.echo("stopping the local platform ...")
    stopped = await bootstrap.stop_local_platform(running.cli_settings())
    if isinstance(stopped, Failure):
        running.fail(ErrorDetails(ErrorCode.UNAVAILABLE, stopped.error.message))
    typer.echo("stopped: hello and the local platform's agent")
