"""A tiny web application to deploy: it answers with its version and has a health endpoint.

Standard library only. ``APP_VERSION`` (set by the local platform; ``HELLO_VERSION`` for
the tests) is the version it reports; ``PORT`` the port (0 picks a free one, printed on
start). For trying out rollbacks: ``HELLO_FAIL=1`` makes ``/`` answer 500 (the health
check still passes), ``HELLO_UNHEALTHY=1`` makes ``/health`` answer 500.
"""

from __future__ import annotations

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # otherwise every keep-alive response waits ~40 ms
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        version = os.environ.get("APP_VERSION") or os.environ.get("HELLO_VERSION", "1.0.0")
        if self.path == "/health":
            healthy = os.environ.get("HELLO_UNHEALTHY") != "1"
            self._send(200 if healthy else 500, {"status": "ok" if healthy else "failing", "version": version})
        elif os.environ.get("HELLO_FAIL") == "1":
            self._send(500, {"error": "failing on purpose", "version": version})
        elif self.path == "/":
            self._send(200, {"message": "hello", "version": version})
        else:
            self._send(404, {"error": "not found"})

    def _send(self, status: int, body: dict[str, str]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        return


def serve(port: int) -> ThreadingHTTPServer:
    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


if __name__ == "__main__":
    server = serve(int(os.environ.get("PORT", "8080")))
    print(f"serving on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()
