"""The ``heroku`` platform: Heroku apps through the Platform API (``pip install 'uno-deployment[heroku]'``).

The driver (``driver.HerokuDriver``) speaks the Platform API with ``httpx``; ``make_driver``
imports it lazily, so a missing HTTP stack is reported as the extra to install rather
than failing at import, as the other cloud drivers do. ``render`` needs no extra
(``rendering`` is pure data), so the stand-in still renders.
"""

from __future__ import annotations

from collections.abc import Mapping

from uno.deployment.adapters.platforms import extras
from uno.deployment.adapters.platforms.heroku import honoured, options, rendering
from uno.deployment.ports.platforms import PlatformDriver

RENDER = extras.pure_render(options.options_for, rendering.render)
EXTRA = extras.Extra("heroku", frozenset({"httpx", "httpcore", "h11", "anyio"}), honoured.DECLARATION, RENDER)
INSTALL = EXTRA.install


def make_driver(environ: Mapping[str, str] | None = None) -> PlatformDriver:
    return extras.load(EXTRA, f"{__name__}.driver", "HerokuDriver", environ)


def stand_in(module: str) -> extras.MissingExtra:
    """The driver as it is without the extra (``module`` missing)."""
    return extras.MissingExtra(EXTRA, module)
