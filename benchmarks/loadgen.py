"""A bounded HTTP/1.1 keep-alive load generator for the benchmarks: asyncio, no project imports.

    python benchmarks/loadgen.py    # one JSON command per line on stdin, one JSON answer per line

A command: ``{"port": 8080, "connections": 16, "seconds": 1.0, "warm_up": 0.25, "record": false}``,
optionally with ``"path"``, ``"headers"`` and ``"cafile"`` (then over TLS, the certificate verified
for ``"server_hostname"``). Each connection sends ``GET /`` (or the path) to
127.0.0.1 as soon as its previous response has arrived
and reads responses by Content-Length. Responses received in the ``seconds`` after the
warm-up are counted; ``record`` also returns every response's send and receive times
(CLOCK_MONOTONIC) and the ``"version"`` its JSON body names; ``answered`` counts every
response, the warm-up's too. Every run ends at its deadline;
the process ends at the end of its input. It runs in its own process so that its CPU time
is not the router's, and imports nothing heavy so that it starts at once.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
import time
from typing import Any, cast

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
VERSION_MARK = b'"version": "'
MARGIN = 30.0  # seconds a run may overrun its deadline before it is abandoned
READ = memoryview(bytearray(256 * 1024))  # asyncio's own reads allocate 256 KiB each: read into one buffer


class Run:
    """The shared state of one run's connections."""

    def __init__(self, seconds: float, warm_up: float, record: bool, request: bytes = REQUEST) -> None:
        now = time.monotonic()
        self.request = request
        self.measure_from = now + warm_up
        self.deadline = self.measure_from + seconds
        self.record = record
        self.latencies_us: list[int] = []
        self.failures = 0
        self.answered = 0  # every response, the warm-up's too
        self.responses: list[tuple[float, float, str]] = []

    def add(self, sent: float, received: float, ok: bool, body: bytes) -> None:
        self.answered += 1
        if not ok:
            self.failures += 1
        if self.measure_from <= received <= self.deadline:
            self.latencies_us.append(round((received - sent) * 1e6))
        if self.record:
            start = body.find(VERSION_MARK) + len(VERSION_MARK)
            self.responses.append((sent, received, body[start : body.find(b'"', start)].decode()))


class Client(asyncio.BufferedProtocol):
    """One keep-alive connection sending requests back to back until the run's deadline."""

    def __init__(self, run: Run, done: asyncio.Future[None]) -> None:
        self.run = run
        self.done = done
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.sent = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio's classes
        self.send()

    def send(self) -> None:
        assert self.transport is not None
        self.sent = time.monotonic()
        if self.sent >= self.run.deadline:
            self.transport.close()
        else:
            self.transport.write(self.run.request)

    def get_buffer(self, sizehint: int) -> memoryview:
        return READ

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(READ[:nbytes]))

    def data_received(self, data: bytes) -> None:
        self.buffer = self.buffer + data if self.buffer else data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].lower()
        start = head.find(b"content-length:")
        if start < 0:
            self.run.failures += 1
            assert self.transport is not None
            self.transport.close()
            return
        line_end = head.find(b"\r\n", start)
        length = int(head[start + 15 : line_end if line_end >= 0 else len(head)])
        if len(self.buffer) < end + 4 + length:
            return
        body, self.buffer = self.buffer[end + 4 : end + 4 + length], self.buffer[end + 4 + length :]
        self.run.add(self.sent, time.monotonic(), head[9:12] == b"200", body)
        self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        if time.monotonic() < self.run.deadline:
            self.run.failures += 1
        if not self.done.done():
            self.done.set_result(None)


async def generate(
    port: int,
    connections: int,
    seconds: float,
    warm_up: float,
    record: bool,
    request: bytes = REQUEST,
    tls: tuple[ssl.SSLContext, str] | None = None,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    run = Run(seconds, warm_up, record, request)
    finished = []
    for _ in range(connections):
        done: asyncio.Future[None] = loop.create_future()
        try:
            protocol = lambda done=done: Client(run, done)  # type: ignore[misc]  # noqa: E731
            if tls is None:
                await loop.create_connection(protocol, "127.0.0.1", port)
            else:
                await loop.create_connection(protocol, "127.0.0.1", port, ssl=tls[0], server_hostname=tls[1])
        except OSError:
            run.failures += 1
            continue
        finished.append(done)
    await asyncio.wait_for(asyncio.gather(*finished), run.deadline - time.monotonic() + MARGIN)
    return {
        "seconds": seconds,
        "latencies_us": run.latencies_us,
        "failures": run.failures,
        "answered": run.answered,
        "responses": run.responses,
    }


def main() -> None:
    for line in sys.stdin:
        command = json.loads(line)
        headers = "".join(f"{name}: {value}\r\n" for name, value in command.get("headers", {}).items())
        request = f"GET {command.get('path', '/')} HTTP/1.1\r\nHost: bench\r\n{headers}\r\n".encode()
        cafile = command.get("cafile")
        tls = (ssl.create_default_context(cafile=cafile), command["server_hostname"]) if cafile else None
        result = asyncio.run(
            generate(
                command["port"],
                command["connections"],
                command["seconds"],
                command["warm_up"],
                command["record"],
                request,
                tls,
            )
        )
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
