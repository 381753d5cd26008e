"""Bad input over a real socket: ``uno-deploy serve`` (uvicorn, h11), auth on, SQLite and PostgreSQL.

What only a socket can send: bodies that are not UTF-8 or nested past any parser,
chunked bodies over 1 MiB, request lines and headers HTTP/1.1 does not allow, header
bytes outside ASCII. Every answer is a 4xx problem+json with a code (the 400s for
malformed requests come from ``wire.ProblemH11Protocol``, before the app), none a 5xx,
and the lists answer 200 afterwards. Traffic to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from tests.http import badinput
from uno.deployment import bootstrap
from uno.deployment.settings import Settings

START_SECONDS = 60.0
ANSWER_SECONDS = 30.0
BODY_ROUTES = [
    ("POST", "/api/deployments/configs"),
    ("PUT", "/api/deployments/configs/cfg-x"),
    ("PATCH", "/api/deployments/configs/cfg-x"),
    ("POST", "/api/deployments/configs/cfg-x/derive"),
    ("POST", "/api/deployments/deploy"),
    ("POST", "/api/deployments/rollback"),
    ("POST", "/api/deployments/plan"),
    ("POST", "/api/deployments/diff"),
    ("POST", "/api/deployments/dep-x/cancel"),
    ("POST", "/api/deployments/dep-x/promote"),
    ("POST", "/api/deployments/dep-x/abort"),
    ("POST", "/api/pipelines"),
    ("POST", "/api/pipelines/pipe-x/stages"),
    ("POST", "/api/pipelines/pipe-x/stages/stg-x/tasks"),
    ("POST", "/api/pipelines/pipe-x/tasks/task-x/approve"),
    ("POST", "/api/pipelines/pipe-x/tasks/task-x/reject"),
    ("POST", "/api/leases/hello/dev/release"),
]
BAD_BODIES = [
    b'{"name": "\xff\xfe\xed\xa0\x80"}',
    badinput.nested_text(200_000).encode(),
    b"[" * 300_000,
    b'{"a": NaN}',
    b'{"a": ' + b"7" * 6000 + b"}",
]
MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET /api/deployments HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /api/deployments HTTP/1.1\r\n\r\n",
    b"GET /api/deployments HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
    b"GET /api/deployments HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n",
    b"GET /api/deployments HTTP/1.1\r\nHost: x\r\nX-Nul: a\x00b\r\n\r\n",
    b"GET /api/deployments HTTP/1.1\r\nHost: x\r\nX-Ctl: a\x01b\r\n\r\n",
    b"GET /api/deployments HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
    b"GET /api/deployments/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/deployments/history/\x00/dev HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/deployments /x HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /api/deployments/configs HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"POST /api/deployments/configs HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    b"POST /api/deployments/configs HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    b"POST /api/deployments/configs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    b"POST /api/deployments/configs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"GET /api/deployments HTTP/1.1\r\nHost: x\r\n Folded: yes\r\n\r\n",
    b"G\xc3\xa9T /api/deployments HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/deployments HTTP/1.1\nHost: x\n\n",
]
HEADER_CASES = [
    ("GET", "/api/pipelines/pipe-x/events/stream", "Last-Event-ID"),
    ("POST", "/api/deployments/deploy", "Idempotency-Key"),
    ("GET", "/api/deployments", "Authorization"),
]


class Served:
    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token

    def send(self, data: bytes) -> tuple[int, dict[str, str], bytes]:
        """Send raw bytes; the answer's status, headers and body (the server may stop reading early)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=ANSWER_SECONDS) as connection:
            with contextlib.suppress(OSError):  # answered and closed before taking all of it: read what it said
                connection.sendall(data)
            response = http.client.HTTPResponse(connection)
            response.begin()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()

    def request(self, method: str, path: str, body: bytes | None = None, **headers: bytes) -> bytes:
        lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close"]
        lines.append(b"Authorization: Bearer " + self.token.encode())
        lines += [name.encode() + b": " + value for name, value in headers.items()]
        if body is not None:
            lines += [b"Content-Type: application/json", b"Content-Length: " + str(len(body)).encode()]
        return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")

    def chunked(self, method: str, path: str, size: int) -> bytes:
        head = self.request(method, path).removesuffix(b"\r\n\r\n") + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
        chunk = b"%x\r\n" % 65536 + b" " * 65536 + b"\r\n"
        return head + chunk * (size // 65536) + b"0\r\n\r\n"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _admin_token(settings: Settings) -> str:
    container = bootstrap.build(settings)
    try:
        made = await container.access_service.create_token("wire", ["admin"])
        return made.value[1]
    finally:
        await container.aclose()


def _watch(output: IO[bytes], started: threading.Event, log: list[bytes]) -> None:
    for line in output:
        log.append(line)
        if line.startswith(b"serving the uno-deployment API on"):  # printed once the port is bound
            started.set()


@pytest.fixture
def served(sql_settings: Settings, tmp_path: Path) -> Iterator[Served]:
    token = asyncio.run(_admin_token(sql_settings))
    port = _free_port()
    environment = {
        **os.environ,
        "UNO_DEPLOY_BACKUP_DIR": str(tmp_path / "backups"),
        "UNO_DEPLOY_LOCAL_DIR": str(tmp_path / "local"),
    }
    command = [sys.executable, "-m", "uno.deployment.entrypoints.cli", "serve", "--port", str(port)]
    command += ["--url", str(sql_settings.database_url)]
    server = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    started, log = threading.Event(), []
    assert server.stdout is not None
    watcher = threading.Thread(target=_watch, args=(server.stdout, started, log), daemon=True)
    watcher.start()
    try:
        assert started.wait(START_SECONDS), b"".join(log).decode(errors="replace")
        yield Served(port, token)
    finally:
        server.terminate()
        server.wait(timeout=30)
        watcher.join(timeout=30)
        server.stdout.close()


def wire_requests(served: Served) -> list[bytes]:
    made = []
    for method, path in BODY_ROUTES:
        made += [served.request(method, path, body) for body in BAD_BODIES]
        made += [served.chunked(method, path, 2 * 1024 * 1024)]
    for data in MALFORMED:
        made += [data, data.replace(b"/api/deployments", b"/api/pipelines")]
    for method, path, name in HEADER_CASES:
        made += [served.request(method, path, b"{}", **{name: bad}) for bad in badinput.BAD_HEADERS]
        made += [served.request(method, path, b"{}", **{name: b"\xff" + bad}) for bad in badinput.BAD_HEADERS]
    for segment in badinput.BAD_PATH_SEGMENTS:
        made += [served.request("GET", f"/api/deployments/history/{segment}/dev")]
        made += [served.request("GET", f"/api/deployments?app_name={segment}")]
        made += [served.request("GET", f"/api/leases/{segment}/dev")]
    return made


def test_raw_bad_requests_answer_4xx_problems_and_the_lists_stay_up(served: Served) -> None:
    server_errors, not_problems, sent = [], [], 0
    for data in wire_requests(served):
        status, headers, body = served.send(data)
        sent += 1
        if status >= 500:
            server_errors.append((data[:80], status, body[:200]))
        elif status >= 400 and not badinput.is_problem(headers.get("content-type"), body):
            not_problems.append((data[:80], status, headers.get("content-type"), body[:200]))

    assert sent >= 200
    assert server_errors == []
    assert not_problems == []
    for path in ("/api/deployments/configs", "/api/deployments", "/api/pipelines"):
        status, _, body = served.send(served.request("GET", path))
        assert status == 200, body
        assert json.loads(body)["items"] == []


def test_a_malformed_request_gets_a_problem_and_a_closed_connection(served: Served) -> None:
    status, headers, body = served.send(b"GARBAGE\r\n\r\n")

    assert status == 400
    assert headers["connection"] == "close"
    problem: dict[str, Any] = json.loads(body)
    assert problem["code"] == "VALIDATION_ERROR"
    assert problem["type"].endswith("/malformed-request")
