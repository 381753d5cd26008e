"""The local platform's network settings, checked as a client sees them (issue 15).

``network.health_check_path`` is the path replicas are probed at (the replica's log says
which path it was asked for); ``network.port`` is the router's port; ``network.use_https``
makes the router terminate TLS for ``network.domain`` (a handshake verified against the
certificate served, with that name); ``network.domain`` alone makes the router answer
421 for any other host.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.local_support import eventually
from tests.loadgen import Load, Tls, run_load
from uno.deployment import DeploymentStatus, Settings, bootstrap
from uno.deployment.adapters.platforms.local import wire
from uno.deployment.adapters.platforms.local.driver import LocalDriver
from uno.deployment.adapters.platforms.registry import DriverRegistry

pytestmark = pytest.mark.integration

APP = Path(__file__).resolve().parents[2] / "examples" / "hello" / "app.py"
QUICK = {"health_deadline_seconds": 30, "drain_seconds": 1, "health_interval_seconds": 0.2}
DOMAIN = "shop.example.test"

# An app that prints each path it is asked for (its log is the replica's) and is ready at /ready only.
READY_APP = """
import http.server, os
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        print("probed at", self.path, flush=True)
        self.send_response(200 if self.path == "/ready" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def local(tmp_path: Path, environ) -> AsyncIterator[tuple[bootstrap.Container, LocalDriver, int]]:
    driver = LocalDriver(tmp_path / "local", environ)
    registry = DriverRegistry()
    registry.register("local", driver)
    container = bootstrap.build(
        Settings(database_url="memory://", log_level="WARNING"), environ=environ, platforms=registry
    )
    try:
        yield container, driver, free_port()
    finally:
        await driver.shutdown()
        await container.aclose()


async def deploy(container: bootstrap.Container, version: str, settings: dict[str, Any], **fields: Any) -> Any:
    service = container.config_service
    found = (await service.list_configs(app_name="shop")).value
    if found:
        config = (await service.update_config(found[0].id, app_version=version, **fields)).value
    else:
        # staging's profile scans with pip-audit (not installed here) and runs replicas as nobody on a read-only
        # filesystem (this Python is under /root, mode 700): none of that is what these tests are about
        fields.setdefault(
            "security_config", {"scan_images": False, "run_as_non_root": False, "read_only_root_filesystem": False}
        )
        created = await service.create_config(
            app_name="shop",
            app_version=version,
            environment="staging",
            strategy="blue-green",
            custom_settings={**QUICK, **settings},
            **fields,
        )
        assert created.is_success(), created
        config = created.value
    return (await container.deployment_service.deploy(config.id)).value


def https(port: int) -> dict[str, Any]:
    return {"command": [sys.executable, str(APP)], "port": port}


def verifying(cafile: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cafile))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def get(port: int, context: ssl.SSLContext, host: str = DOMAIN, server_hostname: str = DOMAIN) -> tuple[bytes, dict]:
    """One GET / over TLS: the response's bytes and the certificate the router served."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server_hostname) as tls,
    ):
        tls.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        received = b""
        while chunk := tls.recv(65536):
            received += chunk
        return received, tls.getpeercert() or {}


async def test_replicas_are_probed_at_network_health_check_path_behind_network_port(local):
    container, driver, port = local
    settings = {"command": [sys.executable, "-c", READY_APP]}

    deployed = await deploy(container, "1.0.0", settings, network_config={"port": port, "health_check_path": "/ready"})

    assert deployed.status is DeploymentStatus.SUCCEEDED, deployed.message
    reported = [item["field"] for item in deployed.details.get("not_honoured", [])]
    assert not [field for field in reported if field.startswith("network.")], reported
    assert "deprecated" not in deployed.details
    [version] = (await driver.list_versions("shop", "staging")).value
    logs = "".join(path.read_text() for path in driver.replica_logs(version.id))
    assert "probed at /ready" in logs
    assert "probed at /health\n" not in logs
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:  # the router listens on network.port
        client.sendall(b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert client.recv(64).startswith(b"HTTP/1.1 200")


async def test_the_deprecated_custom_health_path_still_works_and_the_deploy_says_so(local):
    container, _, port = local
    settings = {"command": [sys.executable, "-c", READY_APP], "port": port, "health_path": "/ready"}

    deployed = await deploy(container, "1.0.0", settings)

    assert deployed.status is DeploymentStatus.SUCCEEDED, deployed.message
    [deprecation] = deployed.details["deprecated"]
    assert deprecation["field"] == "custom_settings.health_path"
    assert "network.health_check_path" in deprecation["message"]


async def test_https_serves_a_self_signed_certificate_for_the_domain(local, tmp_path):
    container, _, port = local
    network = {"domain": DOMAIN, "use_https": True}

    deployed = await deploy(container, "1.0.0", https(port), network_config=network)

    assert deployed.status is DeploymentStatus.SUCCEEDED, deployed.message
    [certificate] = (tmp_path / "local" / "tls").glob("*.crt")
    received, served = await asyncio.to_thread(get, port, verifying(certificate))
    assert ("DNS", DOMAIN) in served["subjectAltName"]
    assert received.startswith(b"HTTP/1.1 200")
    assert b'"version": "1.0.0"' in received
    misdirected, _ = await asyncio.to_thread(get, port, verifying(certificate), "other.example.test")
    assert misdirected.startswith(b"HTTP/1.1 421")
    with pytest.raises(ssl.SSLCertVerificationError):  # the certificate names the domain only
        await asyncio.to_thread(get, port, verifying(certificate), "localhost", "localhost")


async def test_plain_http_to_the_tls_port_gets_no_answer_and_the_router_serves_on(local, tmp_path):
    container, _, port = local
    await deploy(container, "1.0.0", https(port), network_config={"domain": DOMAIN, "use_https": True})

    def plain() -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(f"GET / HTTP/1.1\r\nHost: {DOMAIN}\r\n\r\n".encode())
            try:
                return client.recv(65536)
            except ConnectionResetError:
                return b""

    assert not (await asyncio.to_thread(plain)).startswith(b"HTTP/")
    [certificate] = (tmp_path / "local" / "tls").glob("*.crt")
    received, _ = await asyncio.to_thread(get, port, verifying(certificate))
    assert received.startswith(b"HTTP/1.1 200")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="makes its certificate with openssl")
async def test_a_configured_certificate_is_served(local, tmp_path):
    container, _, port = local
    cert, key = tmp_path / "mine.crt", tmp_path / "mine.key"
    made = [*("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={DOMAIN}")]
    made += ["-addext", f"subjectAltName=DNS:{DOMAIN}", "-keyout", str(key), "-out", str(cert)]
    await asyncio.to_thread(subprocess.run, made, check=True, capture_output=True)
    settings = {**https(port), "tls_cert_file": str(cert), "tls_key_file": str(key)}

    deployed = await deploy(container, "1.0.0", settings, network_config={"domain": DOMAIN, "use_https": True})

    assert deployed.status is DeploymentStatus.SUCCEEDED, deployed.message
    received, _ = await asyncio.to_thread(get, port, verifying(cert))
    assert received.startswith(b"HTTP/1.1 200")
    assert not (tmp_path / "local" / "tls").exists()  # nothing was generated


async def test_a_blue_green_switch_over_tls_fails_no_request(local, tmp_path):
    container, _, port = local
    network = {"domain": DOMAIN, "use_https": True}
    await deploy(container, "1.0.0", https(port), network_config=network)
    [certificate] = (tmp_path / "local" / "tls").glob("*.crt")
    stop, seen = asyncio.Event(), Load()
    load = asyncio.create_task(run_load(port, stop, tls=Tls(verifying(certificate), DOMAIN), into=seen))
    try:
        second = await deploy(container, "2.0.0", https(port), network_config=network)
        switched = len(seen.versions)  # requests in flight at the switch may still come back from 1.0.0
        await eventually(lambda: len(seen.versions) > switched + 20, what="answers after the switch")
    finally:
        stop.set()
    await load

    assert second.status is DeploymentStatus.SUCCEEDED, second.message
    assert seen.failures == []
    assert seen.counts["1.0.0"] > 0
    assert seen.counts["2.0.0"] > 0
    assert seen.versions[-1] == "2.0.0"


async def test_tls_is_served_again_by_the_agent_that_replaces_a_killed_one(local, tmp_path):
    container, driver, port = local
    await deploy(container, "1.0.0", https(port), network_config={"domain": DOMAIN, "use_https": True})
    [certificate] = (tmp_path / "local" / "tls").glob("*.crt")
    agent = (await wire.call(driver.socket_path, {"op": "ping"}, timeout=5)).value["pid"]

    os.kill(agent, signal.SIGKILL)  # the keeper holds the port and starts another agent
    received, served = await asyncio.to_thread(get, port, verifying(certificate))  # queued until it serves

    assert received.startswith(b"HTTP/1.1 200")
    assert ("DNS", DOMAIN) in served["subjectAltName"]
    await driver.list_versions("shop", "staging")  # waits for the new agent's socket
    assert (await wire.call(driver.socket_path, {"op": "ping"}, timeout=5)).value["pid"] != agent


async def test_a_domain_without_https_is_the_only_host_served(local):
    container, _, port = local
    await deploy(container, "1.0.0", https(port), network_config={"domain": DOMAIN})

    def ask(host: str) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
            client.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            return client.recv(65536)

    assert (await asyncio.to_thread(ask, f"{DOMAIN}:{port}")).startswith(b"HTTP/1.1 200")
    assert (await asyncio.to_thread(ask, f"127.0.0.1:{port}")).startswith(b"HTTP/1.1 421")


async def test_turning_https_on_while_a_release_serves_http_fails_before_anything_starts(local):
    container, driver, port = local
    await deploy(container, "1.0.0", https(port))

    second = await deploy(container, "2.0.0", https(port), network_config={"domain": DOMAIN, "use_https": True})

    assert second.status is DeploymentStatus.FAILED
    assert f"shop in staging is served over http on port {port}" in second.message
    assert [version.version for version in (await driver.list_versions("shop", "staging")).value] == ["1.0.0"]
