"""The ``kubernetes`` platform (``pip install 'uno-deployment[kubernetes]'``).

The client and the schemas are an optional extra (over 200 MB), so this package imports
neither: ``make_driver`` gives the real driver (``driver.KubernetesDriver``) when the extra
is installed, else a stand-in whose every primitive fails saying what to install. A
configuration for the platform is then refused at its first platform step, before
anything changes, instead of failing at import time for everyone.
"""

from __future__ import annotations

from collections.abc import Mapping

from uno.deployment.adapters.platforms import extras
from uno.deployment.adapters.platforms.kubernetes import honoured
from uno.deployment.ports.platforms import PlatformDriver

MODULES = frozenset({"kubernetes", "kubernetes_validate", "aiohttp", "yaml", "jsonschema", "referencing"})
EXTRA = extras.Extra("kubernetes", MODULES, honoured.DECLARATION)
INSTALL = EXTRA.install


def make_driver(environ: Mapping[str, str] | None = None) -> PlatformDriver:
    return extras.load(EXTRA, f"{__name__}.driver", "KubernetesDriver", environ)


def stand_in(module: str) -> extras.MissingExtra:
    """The driver as it is without the extra (``module`` missing)."""
    return extras.MissingExtra(EXTRA, module)
