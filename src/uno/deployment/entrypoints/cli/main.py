"""``uno-deploy``: configurations, plans, deploys, rollbacks and their history, from a terminal.

Every command works on the embedded store (the default) or, with ``--server URL``
(``UNO_DEPLOY_SERVER``) and a token (``--token``, ``UNO_DEPLOY_TOKEN``), against an API
server, with the same output. Exit codes (``running``): 0 done, 1 the deployment failed or
was rolled back, 2 bad input (usage, an invalid configuration), 3 the store or the server
cannot be reached. Each failure is one readable line on stderr; ``--debug`` shows more.
"""

from __future__ import annotations

import gc
import os
import signal
import socket
import sys

import typer

from uno.core.errors import ErrorCode, ErrorDetails
from uno.core.result import Failure
from uno.deployment.engine import output
from uno.deployment.entrypoints.cli import helping, loading, running

# Each command's module loads when the command is used (``loading``): ``--version`` or
# ``status`` does not import the HTTP API, Alembic or the Kubernetes client. The commands
# defined below import the store and the services inside their functions, for the same reason.
_COMMANDS = {
    "init": "configs:init",
    "config": "configs:app",
    "plan": "deploying:plan",
    "render": "deploying:render",
    "diff": "diffing:diff",
    "deploy": "deploying:deploy",
    "status": "tracking:status",
    "history": "tracking:history",
    "logs": "tracking:logs",
    "rollback": "deploying:rollback",
    "approve": "steering:approve",
    "reject": "steering:reject",
    "promote": "steering:promote",
    "abort": "steering:abort",
    "cancel": "steering:cancel",
    "demo": "demo:demo",
    "db": "main:db",
    "token": "tokens:app",
    "lease": "leases:app",
}
app = typer.Typer(
    cls=loading.lazy_group(_COMMANDS, base=helping.Commands, prepare=helping.tidy),
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    help="Deployment orchestrator for Python teams. Start with: uno-deploy demo",
)
db = typer.Typer(no_args_is_help=True, help="The store's schema: show it or bring it up to date.")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version as installed_version  # noqa: PLC0415

        typer.echo(f"uno-deploy {installed_version('uno-deployment')}")
        raise typer.Exit()


@app.callback()
def main(
    server: str | None = typer.Option(
        None, "--server", envvar="UNO_DEPLOY_SERVER", help="An API server (uno-deploy serve) to work on, not the store."
    ),
    token: str | None = typer.Option(
        None, "--token", envvar="UNO_DEPLOY_TOKEN", help="The API token for --server (uno-deploy token create)."
    ),
    debug: bool = typer.Option(False, "--debug", help="On errors, show their context and traceback."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Deploy applications to a platform with a strategy, verify them and roll them back.

    Example: uno-deploy init shop && uno-deploy deploy -f deployment.yaml
    """
    running.choose(running.Options(server=server or None, token=token or None, debug=debug))


@db.command("upgrade")
def db_upgrade(url: str | None = typer.Option(None, "--url", help=running.URL_HELP)) -> None:
    """Bring the store's schema to the newest revision (safe to run again: it then does nothing).

    Example: uno-deploy db upgrade --url postgresql://deployer@db.internal/uno
    """
    from uno.deployment import bootstrap  # noqa: PLC0415

    status = running.unwrap(bootstrap.upgrade_database(running.settings(url)))
    if status.changed:
        typer.echo(f"{status.database}: upgraded from {status.before or 'an empty schema'} to {status.after}")
    else:
        typer.echo(f"{status.database}: already at {status.after} (the newest)")


@db.command("current")
def db_current(url: str | None = typer.Option(None, "--url", help=running.URL_HELP)) -> None:
    """Show the store's schema revision and the newest one this version knows.

    Example: uno-deploy db current
    """
    from uno.deployment import bootstrap  # noqa: PLC0415

    status = running.unwrap(bootstrap.database_status(running.settings(url)))
    behind = "" if status.after == status.head else " (behind: run `uno-deploy db upgrade`)"
    typer.echo(f"{status.database}: at {status.after or 'an empty schema'}, newest {status.head}{behind}")


@app.command("down")
def down() -> None:
    """Stop the local platform: every app it runs, its routers and its agent.

    Example: uno-deploy down
    """
    import asyncio  # noqa: PLC0415

    from uno.deployment import bootstrap  # noqa: PLC0415

    settings = running.settings(None)
    stopped = asyncio.run(bootstrap.stop_local_platform(settings))
    if isinstance(stopped, Failure):
        running.fail(stopped.error)
    typer.echo(f"the local platform is stopped ({settings.resolved_local_dir()})")


@app.command("agent")
def agent() -> None:
    """Show the local platform's agent: its keeper, its restarts, and any background loop that failed.

    Example: uno-deploy agent
    """
    import asyncio  # noqa: PLC0415

    from uno.deployment import bootstrap  # noqa: PLC0415

    settings = running.settings(None)
    status = running.unwrap(asyncio.run(bootstrap.local_agent_status(settings)))
    if status is None:
        typer.echo(f"no local agent runs ({settings.resolved_local_dir()})")
        return
    for line in _agent_lines(status):
        typer.echo(line)


def _agent_lines(status: dict[str, object]) -> list[str]:
    from uno.deployment.entrypoints.cli import autoscaling  # noqa: PLC0415

    lines = [f"local agent {status['pid']} on {status['loop']}"]
    keeper = status.get("keeper")
    if isinstance(keeper, dict):
        last = f" (last: {keeper['last_exit']})" if keeper.get("last_exit") else ""
        lines.append(f"keeper {keeper['pid']}: restarted the agent {keeper['restarts']} time(s){last}")
    else:
        lines.append("no keeper: if the agent dies, its applications' ports close until the next deploy")
    loops = status.get("background")
    for loop in loops if isinstance(loops, list) else []:
        failed = f", failed {loop['failures']} time(s), last: {loop['last_error']}" if loop["failures"] else ""
        lines.append(f"background loop {loop['name']!r}: {loop['state']}{failed}")
    autoscaled = status.get("autoscaling")
    for version in autoscaled if isinstance(autoscaled, list) else []:
        lines.extend(autoscaling.lines(version))
    return lines


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    no_auth: bool = typer.Option(
        False, "--no-auth", help="Let every caller do everything (refused unless --host is loopback)."
    ),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request (costs about a quarter of rps)."),
    url: str | None = typer.Option(None, "--url", help=running.URL_HELP),
) -> None:
    """Serve the HTTP API (OpenAPI at /docs and /openapi.json); auth by bearer tokens.

    Example: uno-deploy serve --host 0.0.0.0 --port 8000
    """
    from uno.deployment.entrypoints.cli import serving  # noqa: PLC0415

    refused = serving.refusal(host, no_auth)
    if refused is not None:
        running.fail(refused)
    settings = running.settings(url)
    failed = serving.run(settings, host, port, auth=not no_auth, access_log=access_log)
    if failed is not None:
        running.fail(failed)


@app.command("worker")
def worker(
    concurrency: int = typer.Option(4, "--concurrency", min=1, max=64, help="Deployments run at once."),
    name: str | None = typer.Option(None, "--name", help="This worker's name (default: host:pid)."),
    url: str | None = typer.Option(None, "--url", help=running.URL_HELP),
    metrics_port: int | None = typer.Option(
        None, "--metrics-port", min=0, max=65535, help="Serve Prometheus metrics at /metrics on this port."
    ),
    metrics_host: str = typer.Option("127.0.0.1", "--metrics-host", help="The address --metrics-port listens on."),
) -> None:
    """Run queued deployments (execution = "queue"): several workers share one PostgreSQL.

    SIGTERM or Ctrl-C stops taking jobs; running deployments get worker_grace_seconds to
    finish, then are handed back to the queue for another worker to resume. With
    --metrics-port, the deployments this worker runs are counted at /metrics (the API's
    metrics, for the deployments API servers only queue).

    Example: UNO_DEPLOY_EXECUTION=queue UNO_DEPLOY_DATABASE_URL=postgresql://deploy@db/uno uno-deploy worker
    """
    import asyncio  # noqa: PLC0415

    from uno.deployment import bootstrap  # noqa: PLC0415
    from uno.deployment.ports.repositories import StorageError  # noqa: PLC0415

    settings = running.settings(url)
    if settings.execution != "queue":
        running.fail(
            ErrorDetails(
                ErrorCode.VALIDATION_ERROR,
                "a worker runs queued deployments: set UNO_DEPLOY_EXECUTION=queue with a PostgreSQL database_url",
            )
        )
    worker_name = name or f"{socket.gethostname()}:{os.getpid()}"
    metrics = None
    if metrics_port is not None:
        # prometheus_client takes ~90 ms to import: only a worker that serves metrics pays it
        from uno.deployment.entrypoints.metrics import MetricsServer  # noqa: PLC0415

        try:
            metrics = MetricsServer(metrics_host, metrics_port)
        except OSError as error:
            where = f"{metrics_host}:{metrics_port}"
            running.fail(ErrorDetails(ErrorCode.VALIDATION_ERROR, f"cannot serve metrics on {where}: {error}"))
        typer.echo(f"worker {worker_name} metrics at http://{metrics_host}:{metrics.port}/metrics", err=True)
    typer.echo(f"worker {worker_name} taking deployments (concurrency {concurrency})", err=True)

    async def serve_queue() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signal_number, stop.set)
        observers = [] if metrics is None else [metrics.observer]
        await bootstrap.run_worker(settings, name=worker_name, concurrency=concurrency, stop=stop, observers=observers)

    try:
        asyncio.run(serve_queue())
    except StorageError as failed:
        running.fail(failed.error)
    finally:
        if metrics is not None:
            metrics.close()
    typer.echo(f"worker {worker_name} stopped", err=True)


def run() -> None:
    """The ``uno-deploy`` entry point: a bug or an unreachable store is one line (``--debug``: the traceback).

    The CLI is an application: it chooses where the library's logs go (stderr).
    """
    output.configure_logging()  # structlog's routing is set where the container is built
    try:
        app(standalone_mode=True)
    except Exception as error:  # a bug: one line unless --debug
        from uno.deployment.ports.repositories import StorageError  # noqa: PLC0415

        if isinstance(error, StorageError):
            _last_words(error, error.error, running.UNREACHABLE)
        else:
            _last_words(error, ErrorDetails(ErrorCode.INTERNAL_ERROR, f"uno-deploy failed: {error!r}"), running.FAILED)
    finally:
        # Exiting, the interpreter's last garbage collections walk every object a deploy
        # loaded (SQLAlchemy, pydantic, the engine): 0.25-0.35 s of a 1 s command, for
        # memory the OS takes back anyway. Frozen objects are left out of them; files and
        # the store were closed by the command already, and stdout/stderr are flushed.
        gc.freeze()


def _last_words(raised: Exception, error: ErrorDetails, code: int) -> None:
    typer.echo(f"error: {error.message}", err=True)
    if "--debug" in sys.argv[1:]:
        raise raised
    typer.echo("(run again with --debug for the traceback)", err=True)
    sys.exit(code)
