"""The router's limits and timeouts, in one value so a driver can set them from its settings.

Why these defaults: heads of 64 KiB cover any browser's cookies with room to spare;
timeouts of a minute match common proxies, so slow but healthy requests are not cut.
Pooled upstream connections are closed after 15 s idle; a server that closes its side
sooner (uvicorn after 5 s, gunicorn after 2 s) is noticed when its close arrives, and a
request sent at that very moment is what the retry of idempotent requests covers.
An upgraded connection (WebSocket) may stay quiet for a while between messages; client
libraries ping every 20 to 60 s, so five minutes of silence both ways means it is dead.

Invariant: every limit is positive (checked when the value is made).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Sizes in bytes, times in seconds."""

    max_header_bytes: int = 64 * 1024  # request head larger -> 431
    max_request_line: int = 8 * 1024  # request line longer -> 414
    keep_alive_timeout: float = 60.0  # an idle client connection is closed after this
    client_timeout: float = 60.0  # silence while a request's head or body is arriving -> 408
    connect_timeout: float = 5.0  # connecting to an upstream -> 504
    read_timeout: float = 60.0  # upstream silence while a response is awaited or arriving -> 504
    upstream_idle_timeout: float = 15.0  # a pooled upstream connection is closed after this
    max_idle_per_backend: int = 256  # pooled connections kept per upstream address
    max_backlog: int = 64 * 1024  # client bytes held while a request waits for its upstream
    tunnel_idle_timeout: float = 300.0  # an upgraded (WebSocket) connection silent both ways is closed after this

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


def rearm(
    timer: asyncio.TimerHandle | None, loop: asyncio.AbstractEventLoop, deadline: float, check: Callable[[], None]
) -> asyncio.TimerHandle:
    """A watchdog that fires ``check`` by ``deadline``: the running timer if it fires in time, else a new one.

    Connections call this on every burst of activity; keeping a timer that fires early (the
    check then re-arms it for the real deadline) saves a cancel and a new handle each time.
    """
    if timer is not None and timer.when() <= deadline:
        return timer
    if timer is not None:
        timer.cancel()
    return loop.call_at(deadline, check)
