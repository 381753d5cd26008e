"""The ``heroku`` platform: Heroku apps through the Platform API (``pip install 'uno-deployment[heroku]'``).

The driver (``driver.HerokuDriver``) speaks the Platform API with ``httpx``; ``make_driver``
imports it lazily, so a missing HTTP stack is reported as the extra to install rather
than failing at import, as the other cloud drivers do. ``render`` needs no extra
(``rendering`` is pure data), so the stand-in still renders.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from uno.core.result import Failure, Result, Success
from uno.deployment.adapters.platforms import extras
from uno.deployment.adapters.platforms.heroku import honoured, options, rendering
from uno.deployment.ports.platforms import PlatformDriver, Release


def _render(release: Release) -> Result[dict[str, Any]]:
    """What a deploy would send, without the extra (pure data)."""
    chosen = options.options_for(release.config)
    if isinstance(chosen, Failure):
        return chosen
    return Success(rendering.render(release, chosen.value))


EXTRA = extras.Extra("heroku", frozenset({"httpx", "httpcore", "h11", "anyio"}), honoured.DECLARATION, _render)
INSTALL = EXTRA.install


def make_driver(environ: Mapping[str, str] | None = None) -> PlatformDriver:
    return extras.load(EXTRA, f"{__name__}.driver", "HerokuDriver", environ)


def stand_in(module: str) -> extras.MissingExtra:
    """The driver as it is without the extra (``module`` missing)."""
    return extras.MissingExtra(EXTRA, module)
