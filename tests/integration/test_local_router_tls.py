"""The local router terminating TLS, on real sockets: keep-alive, upgrades and the served name.

The certificate is the one the local platform makes for development (``tls.self_signed``,
by ``openssl``); the client verifies it for the domain, as a browser told to trust it would.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.http_peers import EchoUpstream
from uno.deployment.adapters.platforms.local import tls
from uno.deployment.adapters.platforms.local.routing import Router

pytestmark = [
    pytest.mark.integration,
    pytest.mark.every_loop,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="the certificate is made by openssl"),
]

DOMAIN = "shop.example.test"
DEADLINE = 10.0


class Peers:
    def __init__(self, router: Router, client: ssl.SSLContext) -> None:
        self.router = router
        self.client = client
        self.writers: list[asyncio.StreamWriter] = []

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        opened = asyncio.open_connection("127.0.0.1", self.router.port, ssl=self.client, server_hostname=DOMAIN)
        reader, writer = await asyncio.wait_for(opened, DEADLINE)
        self.writers.append(writer)
        return reader, writer


@pytest.fixture
async def peers(tmp_path: Path) -> AsyncIterator[Peers]:
    made = tls.self_signed(tmp_path, "shop", "dev", DOMAIN)
    cert, key = made.value
    upstream = await EchoUpstream().start()
    router = Router("127.0.0.1", 0, tls=tls.server_context(cert, key), domain=DOMAIN)
    await router.start()
    router.set_backends("v1", [upstream.address])
    router.set_weights({"v1": 1})
    peers = Peers(router, ssl.create_default_context(cafile=cert))
    try:
        yield peers
    finally:
        for writer in peers.writers:
            writer.close()
        await router.stop()
        await upstream.close()


async def response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE)
    lines = head.decode().split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:] if line)}
    body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), DEADLINE)
    return int(lines[0].split()[1]), headers, body


async def test_requests_on_one_kept_alive_tls_connection_reach_the_upstream(peers: Peers):
    reader, writer = await peers.connect()

    answers = []
    for _ in range(3):
        writer.write(f"GET / HTTP/1.1\r\nHost: {DOMAIN}\r\n\r\n".encode())
        answers.append(await response(reader))

    assert [(status, body) for status, _, body in answers] == [(200, b"plain")] * 3
    assert writer.get_extra_info("ssl_object").version() in {"TLSv1.2", "TLSv1.3"}


async def test_an_upgrade_over_tls_relays_bytes_both_ways(peers: Peers):
    reader, writer = await peers.connect()

    writer.write(f"GET /socket HTTP/1.1\r\nHost: {DOMAIN}\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n".encode())
    status, headers, _ = await response(reader)
    writer.write(b"over tls")

    assert (status, headers["upgrade"]) == (101, "echo")
    assert await asyncio.wait_for(reader.readexactly(8), DEADLINE) == b"over tls"


async def test_another_host_is_answered_421_and_the_connection_serves_on(peers: Peers):
    reader, writer = await peers.connect()

    writer.write(b"GET / HTTP/1.1\r\nHost: other.example.test\r\n\r\n")
    misdirected = await response(reader)
    writer.write(f"GET / HTTP/1.1\r\nHost: {DOMAIN}:443\r\n\r\n".encode())
    served = await response(reader)

    assert misdirected[0] == 421
    assert misdirected[2] == f"this server serves {DOMAIN} only\n".encode()
    assert served[0] == 200


async def test_another_host_with_a_body_is_answered_421_then_the_tls_connection_ends(peers: Peers):
    reader, writer = await peers.connect()

    writer.write(b"POST / HTTP/1.1\r\nHost: other.example.test\r\nContent-Length: 5\r\n\r\nhello")
    status, headers, _ = await response(reader)

    assert (status, headers["connection"]) == (421, "close")
    assert await asyncio.wait_for(reader.read(), DEADLINE) == b""  # closed after the linger: TLS has no half-close
