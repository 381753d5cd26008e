"""Relaying requests: each client connection runs one exchange at a time, bodies streamed both ways.

Callbacks (``asyncio.Protocol``), not streams: a request that finds a pooled upstream
connection is relayed without a single task switch, from the client's bytes to the
upstream's write and from the upstream's bytes to the client's write.

Invariants:
- A client connection runs one exchange at a time; pipelined requests wait in its
  buffer, and reading pauses while that buffer holds more than ``max_backlog`` bytes.
- Bodies are relayed as their bytes arrive, never held whole: reading from one side
  pauses while the other side's write buffer is full.
- An exchange ends exactly once (``finish``): its version's and backend's in-flight counts
  drop, its outcome is counted, and the client connection moves on or closes.
- The router answers with its own error only while nothing of the upstream's final
  response has reached the client; after that, a failure aborts the client connection.
- A request is retried, once, on a fresh connection only when it is idempotent, was
  sent whole in one write (so it can be sent again), went out on a reused pooled
  connection, and nothing of a response came back. A refused connect moves on to the
  version's next backend, since nothing was sent.
- The client connection closes after an exchange when the request or response asked for
  it, when the response ended with the upstream's close, when the request was HTTP/1.0,
  when the request's body was not read whole, or when the router is stopping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import cast

from uno.deployment.adapters.platforms.local import http1, upstreams
from uno.deployment.adapters.platforms.local.balancing import Backend, Balancer
from uno.deployment.adapters.platforms.local.limits import Limits
from uno.deployment.adapters.platforms.local.traffic import VersionTraffic

_CLOSE_END = b"Connection: close\r\n\r\n"
# Connections read into one buffer per router and copy out what arrived: asyncio's own reads
# allocate 256 KiB per call, which costs more than the rest of a small request's relay.
READ_SIZE = 256 * 1024
_COPY_LIMIT = 64 * 1024  # a head and a body smaller than this go out in one write
LINGER = 2.0  # seconds a connection closed with unread input keeps reading, so the client sees our answer


class Proxy:
    """What the connections of one router share: routing, limits, counters and live connections."""

    def __init__(self, balancer: Balancer, limits: Limits) -> None:
        self.balancer = balancer
        self.limits = limits
        self.traffic: dict[str, VersionTraffic] = {}
        self.clients: set[ClientConnection] = set()
        self.upstreams: set[upstreams.UpstreamConnection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.read_view = memoryview(bytearray(READ_SIZE))
        self.idle_waiters: dict[str, list[asyncio.Future[None]]] = {}
        self.stopping = False
        self._quiet_waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []

    def traffic_of(self, version: str) -> VersionTraffic:
        traffic = self.traffic.get(version)
        if traffic is None:
            traffic = self.traffic[version] = VersionTraffic()
        return traffic

    def connect(self, exchange: Exchange, backend: Backend) -> None:
        task = asyncio.ensure_future(self._connect(exchange, backend))
        self.tasks.add(task)
        task.add_done_callback(self._connected)

    def _connected(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.ended()

    async def _connect(self, exchange: Exchange, backend: Backend) -> None:
        try:
            connection = await upstreams.connect(backend, self)
        except TimeoutError:
            exchange.connect_failed(backend, 504, "timed out connecting to the upstream")
        except OSError as error:
            exchange.connect_failed(backend, 502, f"cannot connect to the upstream: {error.strerror or error}")
        else:
            exchange.attach(connection)

    def ended(self) -> None:
        """A connection or connect task ended: wake those waiting for the router to quieten."""
        for condition, waiter in self._quiet_waiters:
            if not waiter.done() and condition():
                waiter.set_result(None)

    async def quiet(self, condition: Callable[[], bool], timeout: float) -> None:
        """Wait until ``condition`` holds, checked whenever a connection ends; at most ``timeout`` seconds."""
        if condition():
            return
        entry = (condition, asyncio.get_running_loop().create_future())
        self._quiet_waiters.append(entry)
        try:
            await asyncio.wait_for(entry[1], timeout)
        except TimeoutError:
            pass
        finally:
            self._quiet_waiters.remove(entry)

    def version_idle(self, version: str) -> None:
        for waiter in self.idle_waiters.pop(version, ()):
            if not waiter.done():
                waiter.set_result(None)


class Exchange:
    """One request and its response, between a client connection and an upstream connection."""

    __slots__ = (
        "backend",
        "client",
        "ended",
        "framer",
        "keep_alive",
        "replay",
        "request",
        "request_done",
        "responded",
        "retried",
        "started",
        "status",
        "traffic",
        "tried",
        "upstream",
    )

    def __init__(self, client: ClientConnection, request: http1.Request, backend: Backend, started: float) -> None:
        self.client = client
        self.request = request
        self.backend = backend
        self.traffic = client.proxy.traffic_of(backend.version)
        self.started = started
        self.framer = http1.framer(request.framing, request.length, 400)
        self.request_done = self.framer is None
        self.upstream: upstreams.UpstreamConnection | None = None
        self.replay: bytes | None = None
        self.responded = False
        self.retried = False
        self.ended = False
        self.keep_alive = False
        self.status = 0
        self.tried = 1

    def begin(self) -> None:
        self.traffic.requests += 1
        self.traffic.in_flight += 1
        self.backend.in_flight += 1
        self._use(self.backend)

    def _use(self, backend: Backend) -> None:
        connection = backend.take_idle() if self.request.http11 else None
        if connection is None:
            self.client.proxy.connect(self, backend)
        else:
            self.attach(connection)

    def attach(self, connection: upstreams.UpstreamConnection) -> None:
        """Send the request (what of it has arrived) on ``connection``."""
        if self.ended:
            connection.close()
            return
        self.upstream = connection
        if self.client.write_paused:
            connection.pause_reading()
        if self.replay is not None:
            connection.send(self, self.replay, self.request.is_head)
            return
        try:
            body = self.client.take_body(self)
        except http1.HttpError as error:
            self.fail(error.status, error.message, counted=False)
            return
        data = self.request.head + body if body else self.request.head
        if self.request_done and self.request.idempotent:
            self.replay = data
        connection.send(self, data, self.request.is_head)

    # -- the upstream's side

    def informational(self, head: bytes) -> None:
        if self.request.http11:
            self.client.write(head)

    def response_head(self, response: http1.Response, body: bytes) -> None:
        self.status = response.status
        self.responded = True
        client = self.client
        self.keep_alive = (
            self.request.keep_alive
            and self.request_done
            and response.framing != http1.UNTIL_CLOSE
            and not client.eof
            and not client.proxy.stopping
        )
        head = response.head + (http1.CRLF if self.keep_alive else _CLOSE_END)
        if len(body) < _COPY_LIMIT:
            client.write(head + body if body else head)
        else:
            client.write(head)
            client.write(body)

    def response_body(self, body: bytes) -> None:
        self.client.write(body)

    def response_end(self, connection: upstreams.UpstreamConnection, reusable: bool) -> None:
        self.upstream = None
        if reusable and self.request_done:
            connection.release()
        else:
            connection.close()
        self.finish(error=self.status >= 500, completed=True)

    def upstream_lost(self, connection: upstreams.UpstreamConnection, received: bool) -> None:
        self.upstream = None
        if not received and self.replay is not None and connection.served and not self.retried:
            self.retried = True
            self.client.proxy.connect(self, self.backend)
            return
        self.fail(502, "the upstream closed the connection before responding", counted=True)

    def upstream_failed(self, message: str, timed_out: bool) -> None:
        self.upstream = None
        self.fail(504 if timed_out else 502, message, counted=True)

    def connect_failed(self, backend: Backend, status: int, message: str) -> None:
        if self.ended:
            return
        other = self.client.proxy.balancer.another(backend, self.tried) if status == 502 else None
        if other is None:
            self.fail(status, message, counted=True)
            return
        self.tried += 1
        backend.in_flight -= 1
        other.in_flight += 1
        self.backend = other
        self._use(other)

    # -- ending

    def fail(self, status: int, message: str, counted: bool) -> None:
        """End the exchange with the router's own answer, or by aborting the client when a response was under way."""
        if self.ended:
            return
        upstream, self.upstream = self.upstream, None
        if upstream is not None:
            upstream.abandon()
        if self.responded:
            self.keep_alive = False
            self.client.abort()
        else:
            self.status = status
            self.keep_alive = self.request_done and self.request.keep_alive and not self.client.proxy.stopping
            self.client.write(http1.error_response(status, message, close=not self.keep_alive))
        self.finish(error=counted, completed=False)

    def client_gone(self) -> None:
        upstream, self.upstream = self.upstream, None
        if upstream is not None:
            upstream.abandon()
        self.keep_alive = False
        self.finish(error=False, completed=False)

    def finish(self, error: bool, completed: bool) -> None:
        if self.ended:
            return
        self.ended = True
        traffic = self.traffic
        traffic.in_flight -= 1
        self.backend.in_flight -= 1
        if error:
            traffic.errors += 1
        if completed:
            traffic.record(time.monotonic() - self.started)
        if not traffic.in_flight:
            self.client.proxy.version_idle(self.backend.version)
        self.client.exchange_done(self.keep_alive, self.request_done)


class ClientConnection(asyncio.BufferedProtocol):
    """One client's connection: reads request heads, runs their exchanges one after another."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.loop = asyncio.get_running_loop()
        self.limits = proxy.limits
        self.transport = cast(asyncio.Transport, None)
        self.exchange: Exchange | None = None
        self.eof = False
        self.write_paused = False
        self.closed = False
        self._closing = False
        self._lingering = False
        self._peer = b"unknown"
        self._buffer = b""
        self._dispatching = False
        self._upstream_full = False
        self._reading_paused = False
        self._activity = 0.0
        self._timer: asyncio.TimerHandle | None = None

    # -- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if peer:
            self._peer = str(peer[0]).encode()
        self.proxy.clients.add(self)
        self._activity = time.monotonic()
        self._watch(self.limits.keep_alive_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.proxy.clients.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        exchange, self.exchange = self.exchange, None
        if exchange is not None:
            exchange.client_gone()
        self.proxy.ended()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.proxy.read_view

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self.proxy.read_view[:nbytes]))

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        self._activity = time.monotonic()
        self._buffer = self._buffer + data if self._buffer else data
        exchange = self.exchange
        if exchange is None:
            self.serve()
        elif exchange.upstream is not None and not exchange.request_done:
            self._stream(exchange)
        else:
            self._hold()

    def eof_received(self) -> bool:
        self.eof = True
        exchange = self.exchange
        if exchange is None or self._lingering:
            return False
        # like nginx, a client's end of input abandons its exchange: clients that half-close and
        # still wait for an answer are rare, and the upstream should not work for one that left
        self.exchange = None
        exchange.client_gone()
        return False

    def pause_writing(self) -> None:
        self.write_paused = True
        if self.exchange is not None and self.exchange.upstream is not None:
            self.exchange.upstream.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.exchange is None:
            self.serve()
        elif self.exchange.upstream is not None:
            self.exchange.upstream.resume_reading()

    # -- what exchanges ask

    def write(self, data: bytes) -> None:
        self.transport.write(data)

    def abort(self) -> None:
        self._closing = True
        self.transport.abort()

    def close(self) -> None:
        self._closing = True
        self.transport.close()

    def linger(self) -> None:
        """Close after an answer while the client may still be sending: stop writing, read and drop its
        bytes until it closes or ``LINGER`` passes. Closing at once, with bytes unread, would reset the
        connection, and the client could lose the answer."""
        self._closing = True
        self._lingering = True
        self._buffer = b""
        if self._reading_paused:
            self._reading_paused = False
            self.transport.resume_reading()
        self.transport.write_eof()
        self._activity = time.monotonic()
        self._watch(LINGER)

    def take_body(self, exchange: Exchange) -> bytes:
        """The buffered bytes that belong to ``exchange``'s request body; marks it done at its end."""
        framer = exchange.framer
        buffer = self._buffer
        if framer is None or not buffer:
            return b""
        taken = framer.feed(buffer)
        if taken == len(buffer):
            self._buffer = b""
        else:
            buffer, self._buffer = buffer[:taken], buffer[taken:]
        if framer.done:
            exchange.request_done = True
        self._hold()
        return buffer

    def upstream_full(self, full: bool) -> None:
        self._upstream_full = full
        self._hold()

    def exchange_done(self, keep_alive: bool, request_read: bool) -> None:
        self.exchange = None
        if self.closed or self._closing:
            return
        if not keep_alive:
            if request_read:
                self.close()
            else:
                self.linger()
            return
        self._watch(self.limits.keep_alive_timeout)
        self.serve()
        if self.eof and self.exchange is None:
            self.close()

    # -- reading requests

    def serve(self) -> None:
        """Start the buffered requests, one at a time."""
        if self._dispatching:
            return
        self._dispatching = True
        try:
            while self.exchange is None and self._buffer and not self._closing and not self.write_paused:
                if not self._start_next():
                    break
        finally:
            self._dispatching = False
        self._hold()

    def _start_next(self) -> bool:
        buffer = self._buffer
        if buffer[:2] == http1.CRLF:
            buffer = self._buffer = buffer.lstrip(b"\r\n")  # empty lines before a request are allowed
        end = buffer.find(http1.HEAD_END)
        if end < 0 or end + 4 > self.limits.max_header_bytes:
            self._incomplete_head(buffer, end)
            return False
        if buffer.find(http1.CRLF, 0, end + 2) > self.limits.max_request_line:
            self.reject(414, "the request line is too long")
            return False
        try:
            request = http1.parse_request(buffer[:end], self._peer)
        except http1.HttpError as error:
            self.reject(error.status, error.message)
            return False
        self._buffer = buffer[end + 4 :]
        self._dispatch(request)
        return True

    def _incomplete_head(self, buffer: bytes, end: int) -> None:
        limits = self.limits
        if end >= 0 or len(buffer) > limits.max_header_bytes:
            self.reject(431, "the request head is too large")
        elif len(buffer) > limits.max_request_line and buffer.find(http1.CRLF, 0, limits.max_request_line + 2) < 0:
            self.reject(414, "the request line is too long")
        else:
            self._watch(limits.client_timeout)

    def reject(self, status: int, message: str) -> None:
        self.write(http1.error_response(status, message, close=True))
        self.linger()

    def _dispatch(self, request: http1.Request) -> None:
        backend = self.proxy.balancer.choose()
        if backend is None:
            keep = request.keep_alive and request.framing == http1.NO_BODY and not self.proxy.stopping
            self.write(http1.error_response(502, "no version of the application is taking traffic", close=not keep))
            if keep:
                return
            if request.framing == http1.NO_BODY:
                self.close()
            else:
                self.linger()
            return
        exchange = self.exchange = Exchange(self, request, backend, self._activity)
        if not exchange.request_done:
            self._watch(self.limits.client_timeout)
        exchange.begin()

    def _stream(self, exchange: Exchange) -> None:
        try:
            body = self.take_body(exchange)
        except http1.HttpError as error:
            exchange.fail(error.status, error.message, counted=False)
            return
        if body and exchange.upstream is not None:
            exchange.upstream.write(body)

    def _hold(self) -> None:
        """Pause reading while the upstream cannot take more, or while too much waits in the buffer."""
        paused = self._upstream_full or (self.exchange is not None and len(self._buffer) >= self.limits.max_backlog)
        if paused != self._reading_paused:
            self._reading_paused = paused
            if paused:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    # -- the watchdog: keep-alive idleness, and silence while a request arrives

    def _watch(self, limit: float) -> None:
        deadline = self._activity + limit
        timer = self._timer
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self._timer = self.loop.call_at(deadline, self._check)

    def _check(self) -> None:
        self._timer = None
        if self.closed:
            return
        if self._lingering:
            self.transport.close()
            return
        exchange = self.exchange
        now = time.monotonic()
        if exchange is not None and (exchange.request_done or self._reading_paused):
            self._timer = self.loop.call_at(now + self.limits.client_timeout, self._check)  # the upstream's turn
            return
        idle = exchange is None and not self._buffer
        limit = self.limits.keep_alive_timeout if idle else self.limits.client_timeout
        if now - self._activity < limit:
            self._timer = self.loop.call_at(self._activity + limit, self._check)
        elif exchange is not None:
            exchange.fail(408, "the request body did not arrive in time", counted=False)
        elif self._buffer:
            self.reject(408, "the request head did not arrive in time")
        else:
            self.close()
