"""``python -m uno.deployment.entrypoints.cli``: the same as ``uno-deploy``."""

from uno.deployment.entrypoints.cli.main import run

run()
