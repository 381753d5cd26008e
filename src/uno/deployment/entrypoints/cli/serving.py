"""``uno-deploy serve``: the HTTP API on uvicorn.

Auth is on unless ``--no-auth`` is given, and ``--no-auth`` is refused on any address
but loopback: an API that deploys software must never be open to a network by accident.
"""

from __future__ import annotations

import ipaddress

from uno.core.errors import ErrorCode, ErrorDetails
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


def run(settings: Settings, host: str, port: int, *, auth: bool, access_log: bool) -> None:
    # The web stack is imported here, so that other commands start without it.
    import uvicorn  # noqa: PLC0415

    from uno.deployment.entrypoints.http import create_app  # noqa: PLC0415

    uvicorn.run(
        create_app(settings=settings, auth=auth),
        host=host,
        port=port,
        access_log=access_log,
        log_level="info",
        server_header=False,
    )
