"""The event loop the local agent runs on: uvloop where it is installed, asyncio's own otherwise.

Why uvloop: the agent's hot path is the router, and much of a relayed request's cost is
the event loop's own work (reads, writes, callbacks, timers), which uvloop does in C on
libuv. Measured on one machine the same day: 54k instead of 75k instructions per proxied
request (``benchmarks/router_instructions.py``), and a median 66 instead of 72 us of CPU
per request with the kernel's share, which neither loop changes (``benchmarks/router.py``,
runs alternating). On two cores that CPU goes back to the applications; the router's
throughput ratio did not move measurably. uvloop is a base dependency (uvicorn uses it
too) except on Windows, where the local platform does not run anyway.

``UNO_DEPLOY_LOCAL_LOOP=asyncio`` makes the agent run on asyncio's loop instead (a way out
should uvloop misbehave somewhere); ``uvloop`` insists on it. The agent logs which loop runs.
"""

from __future__ import annotations

import asyncio
import importlib
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

ENVIRONMENT_VARIABLE = "UNO_DEPLOY_LOCAL_LOOP"
LOOPS = ("uvloop", "asyncio")

T = TypeVar("T")


def chosen(environment: dict[str, str] | None = None) -> str:
    """The loop to run: the environment's choice, else uvloop when it can be imported.

    Raises ValueError for a choice that is not one of ``LOOPS``, or for ``uvloop`` where it
    is not installed: the agent then refuses to start rather than run on a loop nobody chose.
    """
    choice = (os.environ if environment is None else environment).get(ENVIRONMENT_VARIABLE, "").strip().lower()
    if choice and choice not in LOOPS:
        raise ValueError(f"{ENVIRONMENT_VARIABLE}={choice!r}: expected one of {', '.join(LOOPS)}")
    if choice == "asyncio":
        return "asyncio"
    if _uvloop_factory() is not None:
        return "uvloop"
    if choice == "uvloop":
        raise ValueError(f"{ENVIRONMENT_VARIABLE}=uvloop but uvloop is not installed")
    return "asyncio"


def factory(loop: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """What makes a new loop of that name (None: asyncio's default)."""
    return _uvloop_factory() if loop == "uvloop" else None


def run(main: Coroutine[Any, Any, T], loop: str | None = None) -> T:
    """Run ``main`` to completion on a new loop of the chosen kind, then close the loop."""
    with asyncio.Runner(loop_factory=factory(loop or chosen())) as runner:
        return runner.run(main)


def _uvloop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        uvloop = importlib.import_module("uvloop")  # imported on demand: it is not there on Windows
    except ImportError:
        return None
    new_event_loop: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return new_event_loop
