"""Client connections: request heads read, their exchanges run one after another, keep-alive kept.

Invariants:
- A client connection runs one exchange at a time; pipelined requests wait in its
  buffer, and reading pauses while that buffer holds more than ``max_backlog`` bytes.
- It closes after an exchange when the request or response asked for it, when the
  response ended with the upstream's close, when the request was HTTP/1.0, or when the
  router is stopping. When the request's body was not read whole, or the request was
  refused, it lingers (stops writing, reads and drops input for a while) so that the
  client sees the answer instead of a reset.
- A client's end of input abandons its exchange, as nginx does: clients that half-close
  and still wait for an answer are rare, and the upstream should not work for one that left.
- One timer per connection, re-armed lazily from the time of the last byte received:
  the keep-alive timeout while idle, the client timeout while a request arrives. While
  it runs, it fires by the last activity plus the shorter of the two at the latest, so
  no request or response has to move it: at worst it fires early, and re-arms.
- A request head is parsed once per router for the same bytes from the same address
  (``heads``): what a kept-alive client sends again is looked up.
- After a 101, the connection is handed to a tunnel and does nothing more.
"""

from __future__ import annotations

import asyncio
import time
from typing import cast

from uno.deployment.adapters.platforms.local import hosts, http1
from uno.deployment.adapters.platforms.local.limits import rearm
from uno.deployment.adapters.platforms.local.proxying import Exchange, Proxy

LINGER = 2.0  # seconds a connection closed with unread input keeps reading, so the client sees our answer


class ClientConnection(asyncio.BufferedProtocol):
    """One client's connection: reads request heads, runs their exchanges one after another."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.loop = asyncio.get_running_loop()
        self._view = proxy.read_view
        self.limits = proxy.limits
        self._soonest = min(proxy.limits.keep_alive_timeout, proxy.limits.client_timeout)
        self.transport = cast(asyncio.Transport, None)
        self.exchange: Exchange | None = None
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
        self._watch()

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
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        if self._closing:
            return
        data = bytes(self._view[:nbytes])
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
        if self.transport.can_write_eof():  # TLS has no half-close: reading on is what matters
            self.transport.write_eof()
        self._activity = time.monotonic()
        self._timer = rearm(self._timer, self.loop, self._activity + LINGER, self._check)

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

    def hand_over(self) -> tuple[asyncio.Transport, bytes, bool]:
        """Give the connection up to a tunnel: its transport, the bytes it holds, and whether the upstream is full."""
        self.closed = True
        self.exchange = None
        self.proxy.clients.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._buffer = self._buffer, b""
        return self.transport, pending, self._upstream_full

    def exchange_done(self, keep_alive: bool, request_read: bool) -> None:
        self.exchange = None
        self._upstream_full = False
        if self.closed or self._closing:
            return
        if not keep_alive:
            if request_read:
                self.close()
            else:
                self.linger()
            return
        self._activity = time.monotonic()
        if self._timer is None:
            self._watch()
        if self._buffer:
            self.serve()
        elif self._reading_paused:
            self._hold()

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
        if buffer.startswith(http1.CRLF):
            buffer = self._buffer = buffer.lstrip(b"\r\n")  # empty lines before a request are allowed
        end = buffer.find(http1.HEAD_END)
        if end < 0 or end + 4 > self.limits.max_header_bytes:
            self._incomplete_head(buffer, end)
            return False
        if buffer.find(http1.CRLF, 0, end + 2) > self.limits.max_request_line:
            self.reject(414, "the request line is too long")
            return False
        size = end + 4
        head = buffer if size == len(buffer) else buffer[:size]
        try:
            request = self.proxy.requests.parse(head, self._peer)
        except http1.HttpError as error:
            self.reject(error.status, error.message)
            return False
        self._buffer = b"" if head is buffer else buffer[size:]
        self._dispatch(request)
        return True

    def _incomplete_head(self, buffer: bytes, end: int) -> None:
        limits = self.limits
        if end >= 0 or len(buffer) > limits.max_header_bytes:
            self.reject(431, "the request head is too large")
        elif len(buffer) > limits.max_request_line and buffer.find(http1.CRLF, 0, limits.max_request_line + 2) < 0:
            self.reject(414, "the request line is too long")
        else:
            self._watch()

    def reject(self, status: int, message: str) -> None:
        self.write(http1.error_response(status, message, close=True))
        self.linger()

    def _dispatch(self, request: http1.Request) -> None:
        domain = self.proxy.domain
        if domain is not None and not hosts.matches(domain, hosts.host_of(request.head)):
            self._answer_only(request, 421, f"this server serves {domain} only")
            return
        backend = self.proxy.balancer.choose()
        if backend is None:
            self._answer_only(request, 502, "no version of the application is taking traffic")
            return
        exchange = self.exchange = Exchange(self, request, backend, self._activity)
        exchange.begin()

    def _answer_only(self, request: http1.Request, status: int, message: str) -> None:
        """Answer without an upstream (no version takes traffic, another host); a request with a body is not
        read, so the connection ends."""
        bodiless = request.framing == http1.NO_BODY
        keep = request.keep_alive and bodiless and not self.proxy.stopping
        self.write(http1.error_response(status, message, close=not keep))
        if keep:
            return
        if bodiless:
            self.close()
        else:
            self.linger()

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

    def _watch(self) -> None:
        if self._timer is None:
            self._timer = self.loop.call_at(self._activity + self._soonest, self._check)

    def _check(self) -> None:
        self._timer = None
        if self.closed:
            return
        now = time.monotonic()
        if self._lingering:
            if now - self._activity < LINGER:
                self._timer = self.loop.call_at(self._activity + LINGER, self._check)
            else:
                self.transport.close()
            return
        exchange = self.exchange
        if exchange is not None and (exchange.request_done or self._reading_paused):
            self._timer = self.loop.call_at(now + self._soonest, self._check)  # the upstream's turn
            return
        idle = exchange is None and not self._buffer
        limit = self.limits.keep_alive_timeout if idle else self.limits.client_timeout
        if now - self._activity < limit:
            self._timer = self.loop.call_at(min(self._activity + limit, now + self._soonest), self._check)
        elif exchange is not None:
            exchange.fail(408, "the request body did not arrive in time", counted=False)
        elif self._buffer:
            self.reject(408, "the request head did not arrive in time")
        else:
            self.close()
