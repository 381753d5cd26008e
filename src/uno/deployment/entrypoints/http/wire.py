"""What the server answers to a request too malformed to reach the app.

uvicorn's HTTP/1.1 parser (h11) answers a request it cannot parse (a broken request
line, a header with a forbidden character, a header section over 16 KiB, a bad chunk)
itself, with a ``text/plain`` 400, before any ASGI app sees it. ``ProblemH11Protocol``
is that protocol with one change: the 400 is a problem document like every other error
of this API (``application/problem+json``, code ``VALIDATION_ERROR``), still followed by
closing the connection, since the rest of the stream cannot be trusted.

A failure below HTTP (TLS, a reset connection) has no response at all; nothing here
changes that.
"""

from __future__ import annotations

import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from uno.deployment.entrypoints.http import problems


def malformed_request_body(reason: str) -> bytes:
    return json.dumps(
        {
            "type": problems.TYPE_BASE + "malformed-request",
            "title": "Bad Request",
            "status": 400,
            "detail": f"the request is not valid HTTP/1.1 ({reason})",
            "code": "VALIDATION_ERROR",
        }
    ).encode()


class ProblemH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, answering a malformed request with problem+json."""

    def send_400_response(self, msg: str) -> None:
        body = malformed_request_body(msg)
        headers = [
            (b"content-type", problems.PROBLEM_JSON.encode()),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()
