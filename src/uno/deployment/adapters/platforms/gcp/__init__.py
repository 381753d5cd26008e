"""The ``gcp`` platform: Google Cloud Run revisions with traffic percents (``pip install 'uno-deployment[gcp]'``).

google-cloud-run is an optional extra, so this package imports none of it: ``make_driver`` gives the
real driver (``driver.GcpDriver``) when the extra is installed, else a stand-in whose every
primitive fails saying what to install. A configuration for the platform is then refused
at its first platform step, before anything changes. ``render`` needs no extra (it is pure
data: ``rendering``), so the stand-in still renders.
"""

from __future__ import annotations

from collections.abc import Mapping

from uno.deployment.adapters.platforms import extras
from uno.deployment.adapters.platforms.gcp import honoured, options, rendering
from uno.deployment.ports.platforms import PlatformDriver

RENDER = extras.pure_render(options.options_for, rendering.render)
EXTRA = extras.Extra("gcp", frozenset({"google", "proto", "grpc", "requests"}), honoured.DECLARATION, RENDER)
INSTALL = EXTRA.install


def make_driver(environ: Mapping[str, str] | None = None) -> PlatformDriver:
    return extras.load(EXTRA, f"{__name__}.driver", "GcpDriver", environ)


def stand_in(module: str) -> extras.MissingExtra:
    """The driver as it is without the extra (``module`` missing)."""
    return extras.MissingExtra(EXTRA, module)
