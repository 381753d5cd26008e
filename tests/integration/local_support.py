"""Helpers for the local platform's tests: processes seen in /proc, HTTP gets, polling with deadlines."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from tests.contract.test_repositories import T0
from uno.deployment.adapters.platforms.local.replicas import RestartPolicy
from uno.deployment.adapters.platforms.local.supervising import Supervisor
from uno.deployment.domain import configuring
from uno.deployment.domain.ids import new_config_id
from uno.deployment.ports.platforms import Release

ROOT = Path(__file__).resolve().parents[2]
HELLO = [sys.executable, str(ROOT / "examples" / "hello" / "app.py")]
FAST = RestartPolicy(initial=0.05, factor=2.0, maximum=1.0, stable_after=10.0)

# An app whose /health answers 500 while the file named by FLAG exists, 200 otherwise.
FLAGGED_APP = """
import http.server, os, pathlib
flag = pathlib.Path(os.environ["FLAG"])
class Handler(http.server.BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    def do_GET(self):
        self.send_response(500 if flag.exists() else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""

# An app that answers every GET with whether DB_PASSWORD is set and its SHA-256: never the value.
SECRET_APP = """
import hashlib, http.server, json, os
class Handler(http.server.BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    def do_GET(self):
        value = os.environ.get("DB_PASSWORD")
        digest = None if value is None else hashlib.sha256(value.encode()).hexdigest()
        body = json.dumps({"set": value is not None, "sha256": digest}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
print("serving; DB_PASSWORD is", "set" if "DB_PASSWORD" in os.environ else "unset", flush=True)
server.serve_forever()
"""

T = TypeVar("T")


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in {"Z", "X"}


async def eventually(probe: Callable[[], T], *, what: str, timeout: float = 30.0) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (value := probe()):
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)
    return value


async def get_json(port: int, path: str = "/health") -> tuple[int, Any]:
    def get() -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.loads(error.read() or b"null")

    return await asyncio.to_thread(get)


async def answer(port: int, path: str = "/health", timeout: float = 30.0) -> tuple[int, Any]:
    """GET ``path`` once the replica listens (it binds its port a moment after it starts)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await get_json(port, path)
        except urllib.error.URLError as error:
            if not isinstance(error.reason, ConnectionRefusedError):
                raise
            assert loop.time() < deadline, f"nothing answered on port {port}"
            await asyncio.sleep(0.02)


def release(
    settings: dict[str, Any], *, secrets: tuple[str, ...] = (), env: dict[str, str] | None = None, app: str = "shop"
) -> Release:
    """A release of ``app`` 1.0.0 in ``dev`` for the local driver."""
    given = {
        "app_name": app,
        "app_version": "1.0.0",
        "environment": "dev",
        "secrets": list(secrets),
        "environment_variables": env or {},
        "custom_settings": settings,
    }
    return Release("deployment-1", configuring.build(new_config_id(), given, T0).value)


@asynccontextmanager
async def orphaned(state_dir: Path, versions: list[dict[str, Any]] | None = None) -> AsyncIterator[dict[str, Any]]:
    """Version sets started by an agent that was then killed: ``{version_id: [[pid, port], ...]}``.

    The agent is a real process (``local_agent``) killed with SIGKILL, as a crash would: its
    replicas, in their own sessions, keep running and are nobody's children any more.
    Whatever is left of them at the end is killed, so no test leaves processes behind.
    """
    argv = [sys.executable, "-m", "tests.integration.local_agent", str(state_dir)]
    if versions is not None:
        argv.append(json.dumps(versions))
    agent = await asyncio.create_subprocess_exec(
        *argv, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    assert agent.stdout is not None
    line = await asyncio.wait_for(agent.stdout.readline(), timeout=60)
    agent.kill()
    _, errors = await agent.communicate()
    assert line, f"the agent failed: {errors.decode()}"
    started: dict[str, Any] = json.loads(line)
    try:
        yield started
    finally:
        for pid, _ in (pair for pairs in started.values() for pair in pairs):
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):  # the group went with its leader
                    os.killpg(pid, signal.SIGKILL)


@asynccontextmanager
async def supervising(state_dir: Path, **options: Any) -> AsyncIterator[Supervisor]:
    """A supervisor that is closed at the end, after which none of its replicas may be alive."""
    supervisor = Supervisor(state_dir, **options)
    try:
        yield supervisor
    finally:
        pids = [replica.pid for version in supervisor.versions() for replica in version.replicas if replica.pid]
        await supervisor.close(grace=2.0)
        assert not [pid for pid in pids if alive(pid)], "replicas outlived close()"
