"""The ``digitalocean`` platform: App Platform apps (``pip install 'uno-deployment[digitalocean]'``).

The driver (``driver.DigitalOceanDriver``) uses the official ``pydo`` client, an optional
extra, so this package imports none of it: ``make_driver`` gives the real driver when the
extra is installed, else a stand-in whose every primitive fails saying what to install
(a configuration for the platform is refused at its first platform step, before anything
changes). ``render`` needs no extra (``rendering`` is pure data), so the stand-in still renders.
"""

from __future__ import annotations

from collections.abc import Mapping

from uno.deployment.adapters.platforms import extras
from uno.deployment.adapters.platforms.digitalocean import honoured, options, rendering
from uno.deployment.ports.platforms import PlatformDriver

RENDER = extras.pure_render(options.options_for, rendering.render)
EXTRA = extras.Extra("digitalocean", frozenset({"pydo", "azure", "msrest", "isodate"}), honoured.DECLARATION, RENDER)
INSTALL = EXTRA.install


def make_driver(environ: Mapping[str, str] | None = None) -> PlatformDriver:
    return extras.load(EXTRA, f"{__name__}.driver", "DigitalOceanDriver", environ)


def stand_in(module: str) -> extras.MissingExtra:
    """The driver as it is without the extra (``module`` missing)."""
    return extras.MissingExtra(EXTRA, module)
