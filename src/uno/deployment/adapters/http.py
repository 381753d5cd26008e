"""HTTP probes with the standard library, run in a worker thread.

Health checks are infrequent and small, so ``urllib`` in a thread is enough and adds no
dependency; HTTPS, redirects and proxies behave as users expect from Python. Only the
first bytes of a body are read.
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from collections.abc import Mapping

from uno.deployment.ports.http import HttpResponse

BODY_HEAD_BYTES = 64 * 1024


class UrllibProber:
    async def probe(
        self, url: str, *, method: str = "GET", headers: Mapping[str, str] | None = None, timeout: float
    ) -> HttpResponse:
        return await asyncio.to_thread(_probe, url, method, dict(headers or {}), timeout)


def _probe(url: str, method: str, headers: dict[str, str], timeout: float) -> HttpResponse:
    started = time.monotonic()
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read(BODY_HEAD_BYTES)
            return HttpResponse(response.status, _text(body), time.monotonic() - started)
    except urllib.error.HTTPError as error:
        body = error.read(BODY_HEAD_BYTES) if error.fp is not None else b""
        return HttpResponse(error.code, _text(body), time.monotonic() - started)
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return HttpResponse(None, "", time.monotonic() - started, error=str(reason))


def _text(body: bytes) -> str:
    return body.decode("utf-8", errors="replace")
