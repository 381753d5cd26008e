"""``uno-deploy serve``: the HTTP API on uvicorn.

Auth is on unless ``--no-auth`` is given, and ``--no-auth`` is refused on any address
but loopback: an API that deploys software must never be open to a network by accident.
"""

from __future__ import annotations

import ipaddress

import typer

from uno.core.errors import ErrorCode, ErrorDetails
from uno.deployment import bootstrap
from uno.deployment.entrypoints.cli import ports
from uno.deployment.ports.repositories import StorageError
from uno.deployment.settings import Settings

LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def refusal(host: str, no_auth: bool) -> ErrorDetails | None:
    if no_auth and not is_loopback(host):
        message = (
            f"--no-auth is only allowed on a loopback address, not {host!r}: "
            "create a token with `uno-deploy token create` instead"
        )
        return ErrorDetails(ErrorCode.VALIDATION_ERROR, message)
    return None


GRACEFUL_SHUTDOWN_SECONDS = 10
"""How long a stopping server waits for open requests (a live event stream never ends by
itself) before it cancels them; then running deployments are stopped in order."""


def run(settings: Settings, host: str, port: int, *, auth: bool, access_log: bool) -> ErrorDetails | None:
    """Serve until stopped. The port is bound first (a taken one is one line naming its holder), then
    the store opened (an unusable one is one error, not a traceback); only then does it say it serves."""
    # The web stack is imported here, so that other commands start without it.
    import uvicorn  # noqa: PLC0415

    from uno.deployment.entrypoints.http import create_app, wire  # noqa: PLC0415

    try:
        listener = ports.bind(host, port)
    except OSError as error:
        return ErrorDetails(ErrorCode.UNAVAILABLE, ports.refusal(host, port, error), {"port": port})
    try:
        container = bootstrap.build(settings)
    except StorageError as failed:
        listener.close()
        return failed.error
    config = uvicorn.Config(
        create_app(container, auth=auth, close_container=True),
        host=host,
        port=port,
        access_log=access_log,
        log_level="info",
        server_header=False,
        http=wire.ProblemH11Protocol,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    typer.echo(f"serving the uno-deployment API on http://{host}:{port} (auth {'on' if auth else 'off'})", err=True)
    with listener:
        uvicorn.Server(config).run(sockets=[listener])
    return None
