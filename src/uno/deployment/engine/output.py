"""Where the library's logs go when ``uno-deploy`` is the application: stderr, one line each.

The library itself installs no handler (an application chooses); the CLI, and so ``serve``
and ``worker``, call ``configure_logging`` first thing. It only installs a handler: what
renders a line (structlog's JSON or console renderer) is imported when the first line is
written, so ``uno-deploy --version`` imports no logging machinery at all.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

STRUCTURED = "structured"
"""The ``LogRecord`` attribute that holds a line's structured fields (``engine.logs.STRUCTURED``)."""


def configure_logging() -> None:
    """The ``uno.deployment`` logs on stderr: JSON lines when not a terminal, readable columns when one.

    Once per process; the library's own loggers filter by level themselves (a run's logger at
    its configuration's ``monitoring.log_level``).
    """
    package = logging.getLogger("uno.deployment")
    if any(isinstance(handler, StructuredHandler) for handler in package.handlers):
        return
    handler = StructuredHandler(sys.stderr)
    handler.setFormatter(StructuredFormatter(console=sys.stderr.isatty()))
    package.addHandler(handler)
    package.setLevel(logging.DEBUG)
    package.propagate = False


class StructuredHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler ``configure_logging`` installs (so that it installs one only)."""


class StructuredFormatter(logging.Formatter):
    """A record as structlog would have rendered it: its structured fields, else its message."""

    def __init__(self, *, console: bool) -> None:
        super().__init__()
        self._console = console
        self._render: Any = None

    def format(self, record: logging.LogRecord) -> str:
        if self._render is None:
            import structlog  # noqa: PLC0415 (only once a line is written)

            self._render = structlog.dev.ConsoleRenderer() if self._console else structlog.processors.JSONRenderer()
        fields = getattr(record, STRUCTURED, None)
        if not isinstance(fields, dict):
            fields = {"event": record.getMessage(), "logger": record.name, "level": record.levelname.lower()}
        if record.exc_info:
            fields = {**fields, "exception": self.formatException(record.exc_info)}
        return str(self._render(None, record.levelname.lower(), dict(fields)))
