"""Both ends of the router for its tests: upstream applications and a raw HTTP/1.1 client, on 127.0.0.1.

``Upstream`` is a standard-library ThreadingHTTPServer (Nagle's algorithm off) answering its
version, with routes for slow, streamed, echoed and bodiless responses. ``ScriptedUpstream``
is an asyncio server that answers each request on a connection with the next of a list of
raw replies (``None`` closes the connection without answering). ``EchoUpstream`` is an
asyncio server that switches an upgrade request to a protocol echoing every byte, as a
WebSocket server would switch, and answers other requests plainly. ``Client`` speaks
HTTP/1.1 over one connection, with a deadline on every read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, cast

READ_DEADLINE = 5.0
GATE_DEADLINE = 10.0


class Upstream:
    """A stdlib HTTP/1.1 application answering ``version``; counts the connections it accepts.

    ``gate`` holds ``/slow`` and the second half of ``/download`` until set; ``entered`` is set
    when a ``/slow`` request arrives; ``first_part`` when ``/upload`` has read its first bytes.
    """

    def __init__(self, version: str) -> None:
        self.version = version
        self.connections = 0
        self.requests = 0
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.first_part = threading.Event()
        self._lock = threading.Lock()
        handler = type("BoundHandler", (_Handler,), {"upstream": self})
        self.server = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def counted(self, connections: int = 0, requests: int = 0) -> None:
        with self._lock:
            self.connections += connections
            self.requests += requests

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=GATE_DEADLINE)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that went away mid-response (the router after a timeout) is expected here


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # otherwise every keep-alive response waits ~40 ms
    upstream: ClassVar[Upstream]

    def setup(self) -> None:
        super().setup()
        self.upstream.counted(connections=1)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self.upstream.counted(requests=1)
        route = self.path.split("?")[0]
        if route == "/slow":
            self.upstream.entered.set()
            self.upstream.gate.wait(GATE_DEADLINE)
            self._send(200, self.upstream.version.encode())
        elif route == "/headers":
            self._send(200, json.dumps({name.lower(): value for name, value in self.headers.items()}).encode())
        elif route == "/download":
            self._download()
        elif route.startswith("/status/"):
            self._bodiless(int(route.rsplit("/", 1)[1]))
        else:
            self._send(200, self.upstream.version.encode())

    def do_HEAD(self) -> None:
        self.upstream.counted(requests=1)
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.upstream.version)))
        self.end_headers()

    def do_POST(self) -> None:
        self.upstream.counted(requests=1)
        if self.path == "/upload":
            self._send(200, str(self._read_body(signal_first=True).__len__()).encode())
        elif self.path == "/status/500":
            self._read_body()
            self._send(500, b"broken")
        else:
            self._send(200, self._read_body())

    do_PUT = do_POST

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _bodiless(self, status: int) -> None:
        if status == 500:
            self._send(500, b"broken")
            return
        self.send_response(status)
        self.end_headers()

    def _download(self) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.write(b"5\r\nfirst\r\n")
        self.wfile.flush()
        self.upstream.gate.wait(GATE_DEADLINE)
        self.wfile.write(b"6\r\nsecond\r\n0\r\n\r\n")

    def _read_body(self, signal_first: bool = False) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunks(signal_first)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if signal_first:
            self.upstream.first_part.set()
        return body

    def _read_chunks(self, signal_first: bool) -> bytes:
        parts = []
        while True:
            size = int(self.rfile.readline().split(b";")[0], 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b""):
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()
            if signal_first:
                self.upstream.first_part.set()


class _AsyncioUpstream:
    """What the asyncio test servers share: their address, the connections they took, closing them all."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.transports: list[asyncio.Transport] = []

    async def _serve(self, protocol: Callable[[], asyncio.Protocol]) -> None:
        self.server = await asyncio.get_running_loop().create_server(protocol, "127.0.0.1", 0)

    @property
    def address(self) -> tuple[str, int]:
        assert self.server is not None
        return ("127.0.0.1", self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        for transport in self.transports:
            transport.close()
        await self.server.wait_closed()
        await asyncio.sleep(0)  # let the transports' connection_lost run


class _Counted(asyncio.Protocol):
    """A connection of an ``_AsyncioUpstream``: counted and kept, so that the server can close it."""

    def __init__(self, owner: _AsyncioUpstream) -> None:
        self.owner = owner
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio's classes
        self.owner.transports.append(transport)
        self.owner.connections += 1


class ScriptedUpstream(_AsyncioUpstream):
    """An asyncio server answering the n-th request on each connection with ``replies[n]`` (None: close).

    With ``close_after`` it closes each connection right after its first reply.
    """

    def __init__(self, replies: Sequence[bytes | None], close_after: bool = False) -> None:
        super().__init__()
        self.replies = list(replies)
        self.close_after = close_after
        self.requests = 0

    async def start(self) -> ScriptedUpstream:
        await self._serve(lambda: _Scripted(self))
        return self


class _Scripted(_Counted):
    owner: ScriptedUpstream

    def __init__(self, owner: ScriptedUpstream) -> None:
        super().__init__(owner)
        self.served = 0

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        while b"\r\n\r\n" in self.buffer and not self.transport.is_closing():
            _, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            self.owner.requests += 1
            reply = self.owner.replies[min(self.served, len(self.owner.replies) - 1)]
            self.served += 1
            if reply is not None:
                self.transport.write(reply)
            if reply is None or self.owner.close_after:
                self.transport.close()


class EchoUpstream(_AsyncioUpstream):
    """An asyncio server: ``Upgrade: echo`` requests are answered 101, then every byte is echoed back.

    Other requests (and upgrades when ``refuse``) get a plain 200 ``plain``; ``greeting`` is sent
    with the 101, in the same write. ``heads`` keeps every request head received.
    """

    def __init__(self, refuse: bool = False, greeting: bytes = b"") -> None:
        super().__init__()
        self.refuse = refuse
        self.greeting = greeting
        self.heads: list[bytes] = []

    async def start(self) -> EchoUpstream:
        await self._serve(lambda: _Echo(self))
        return self

    @property
    def open(self) -> int:
        return sum(not transport.is_closing() for transport in self.transports)


class _Echo(_Counted):
    owner: EchoUpstream

    def __init__(self, owner: EchoUpstream) -> None:
        super().__init__(owner)
        self.upgraded = False

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if self.upgraded:
            self.transport.write(data)
            return
        self.buffer += data
        while not self.upgraded and b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            self.owner.heads.append(head)
            if b"\r\nupgrade: echo" in head.lower() and not self.owner.refuse:
                self.upgraded = True
                switch = b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"
                self.transport.write(switch + self.owner.greeting + self.buffer)
            else:
                self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()


class Client:
    """One HTTP/1.1 connection to the router."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def get(self, path: str = "/", headers: str = "") -> Reply:
        await self.send(f"GET {path} HTTP/1.1\r\nHost: shop\r\n{headers}\r\n".encode())
        return await self.reply()

    async def reply(self, head_request: bool = False) -> Reply:
        async with asyncio.timeout(READ_DEADLINE):
            status, headers = await self.head()
            if head_request or status < 200 or status in (204, 304):
                return Reply(status, headers, b"")
            if headers.get("transfer-encoding", "").lower() == "chunked":
                return Reply(status, headers, await self.chunks())
            if "content-length" in headers:
                return Reply(status, headers, await self.reader.readexactly(int(headers["content-length"])))
            return Reply(status, headers, await self.reader.read())

    async def head(self) -> tuple[int, dict[str, str]]:
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        fields = (line.split(":", 1) for line in lines[1:] if line)
        return int(lines[0].split(" ")[1]), {name.strip().lower(): value.strip() for name, value in fields}

    async def chunks(self) -> bytes:
        parts = []
        while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await self.reader.readexactly(size + 2))
        while await self.reader.readuntil(b"\r\n") != b"\r\n":
            pass
        return b"".join(part[:-2] for part in parts)

    async def closed_by_peer(self) -> bool:
        """True when the router closes the connection (EOF) within the read deadline."""
        async with asyncio.timeout(READ_DEADLINE):
            return await self.reader.read() == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()
