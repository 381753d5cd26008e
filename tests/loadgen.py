"""A bounded keep-alive HTTP load generator for the zero-downtime tests (127.0.0.1 only), over TLS if asked."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Load:
    """What the clients saw: answers by version, in order, and every failure."""

    versions: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def counts(self) -> Counter[str]:
        return Counter(self.versions)


@dataclass(frozen=True)
class Tls:
    """Send the requests over TLS with ``context``, to ``host`` (the name verified and sent as Host)."""

    context: ssl.SSLContext
    host: str


async def _client(port: int, load: Load, stop: asyncio.Event, limit: int, tls: Tls | None) -> None:
    reader = writer = None
    host = tls.host if tls is not None else f"127.0.0.1:{port}"
    while not stop.is_set() and len(load.versions) + len(load.failures) < limit:
        try:
            if writer is None:
                if tls is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                else:
                    reader, writer = await asyncio.open_connection(
                        "127.0.0.1", port, ssl=tls.context, server_hostname=tls.host
                    )
            assert reader is not None
            writer.write(f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), 10)
            headers = {}
            while (line := await asyncio.wait_for(reader.readline(), 10)) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), 10)
            status = int(status_line.split()[1])
            if status != 200:
                load.failures.append(f"status {status}")
            else:
                load.versions.append(json.loads(body)["version"])
            if headers.get("connection", "").lower() == "close":
                writer.close()
                writer = None
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError, TimeoutError) as error:
            load.failures.append(f"{type(error).__name__}: {error}")
            if writer is not None:
                writer.close()
            writer = None
    if writer is not None:
        writer.close()


async def run_load(
    port: int,
    stop: asyncio.Event,
    *,
    clients: int = 4,
    limit: int = 200_000,
    into: Load | None = None,
    tls: Tls | None = None,
) -> Load:
    """Send requests from ``clients`` keep-alive connections until ``stop`` is set (or ``limit``).

    ``into`` is where the answers go as they come (to watch them while the load runs); a new ``Load`` by default.
    """
    load = Load() if into is None else into
    await asyncio.gather(*(_client(port, load, stop, limit, tls) for _ in range(clients)))
    return load
