"""The ``aws`` platform: ECS services behind an Application Load Balancer (``pip install 'uno-deployment[aws]'``).

boto3 is an optional extra, so this package imports none of it: ``make_driver`` gives the
real driver (``driver.AwsDriver``) when the extra is installed, else a stand-in whose every
primitive fails saying what to install. A configuration for the platform is then refused
at its first platform step, before anything changes. ``render`` needs no extra (it is pure
data: ``rendering``), so the stand-in still renders.
"""

from __future__ import annotations

from collections.abc import Mapping

from uno.deployment.adapters.platforms import extras
from uno.deployment.adapters.platforms.aws import honoured, options, rendering
from uno.deployment.ports.platforms import PlatformDriver

RENDER = extras.pure_render(options.options_for, rendering.render)
EXTRA = extras.Extra("aws", frozenset({"boto3", "botocore", "s3transfer", "jmespath"}), honoured.DECLARATION, RENDER)
INSTALL = EXTRA.install


def make_driver(environ: Mapping[str, str] | None = None) -> PlatformDriver:
    return extras.load(EXTRA, f"{__name__}.driver", "AwsDriver", environ)


def stand_in(module: str) -> extras.MissingExtra:
    """The driver as it is without the extra (``module`` missing)."""
    return extras.MissingExtra(EXTRA, module)
