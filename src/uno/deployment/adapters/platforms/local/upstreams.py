"""Connections to upstream replicas: one response at a time, pooled between requests.

A new TCP connection per request would cost a handshake and, for the application server,
a new thread or task; so a connection whose exchange ended cleanly goes back to its
backend's pool and the next request to that backend reuses it.

Invariants:
- A connection serves one exchange at a time, and goes back to the pool only when its
  request and response both ended cleanly and the upstream did not ask to close.
- Bytes arriving on an idle connection make it unusable: it is closed, never reused.
- One timer per connection, re-armed lazily from the time of its last activity, enforces
  the read timeout while it is busy and the idle timeout while it is pooled: no timer is
  created or cancelled per request.
- While the client is still sending its request, the upstream's silence is not counted:
  it is waiting for the client, whose own timeout applies.
- While the timer runs, it fires by the last activity plus the shorter of the two
  timeouts at the latest, so neither a request sent nor a return to the pool has to move
  it: at worst it fires early, and re-arms.
- A response head is parsed once per router for the same bytes (``heads``), and when the
  router relays it unchanged, the upstream's bytes go to the client as they came.
- A 101 answering an upgrade request hands the connection to a tunnel: it does nothing
  more, and never goes back to the pool.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, cast

from uno.deployment.adapters.platforms.local import http1
from uno.deployment.adapters.platforms.local.balancing import Backend

if TYPE_CHECKING:
    from uno.deployment.adapters.platforms.local.proxying import Exchange, Proxy

MAX_RESPONSE_HEAD = 64 * 1024


async def connect(backend: Backend, proxy: Proxy) -> UpstreamConnection:
    """A new connection to ``backend``; raises TimeoutError or OSError."""
    loop = asyncio.get_running_loop()
    host, port = backend.address
    async with asyncio.timeout(proxy.limits.connect_timeout):
        _, connection = await loop.create_connection(lambda: UpstreamConnection(backend, proxy), host, port)
    return connection


class UpstreamConnection(asyncio.BufferedProtocol):
    """One TCP connection to a backend; reads one response per exchange and hands it to the exchange."""

    def __init__(self, backend: Backend, proxy: Proxy) -> None:
        self.backend = backend
        self.exchange: Exchange | None = None
        self.served = 0  # exchanges completed on this connection
        self.transport = cast(asyncio.Transport, None)  # set by connection_made
        self._limits = proxy.limits
        self._proxy = proxy
        self._view = proxy.read_view
        self._soonest = min(proxy.limits.read_timeout, proxy.limits.upstream_idle_timeout)
        self._loop = asyncio.get_running_loop()
        self._buffer = b""
        self._response: http1.Response | None = None
        self._remaining = 0  # of a Content-Length body; -1 when ``_framer`` finds the end
        self._framer: http1.Framer | None = None
        self._head_request = False
        self._received = False  # any byte of the current exchange's response
        self._activity = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False
        self._reading_paused = False

    # -- what the exchange asks

    def usable(self) -> bool:
        return not self._closed and not self.transport.is_closing()

    def send(self, exchange: Exchange, data: bytes, head_request: bool) -> None:
        """Start an exchange on this connection with the request's first bytes."""
        self.exchange = exchange
        self._head_request = head_request
        self._received = False
        self._activity = time.monotonic()
        if self._timer is None:
            self._watch()
        self.transport.write(data)

    def write(self, data: bytes) -> None:
        self._activity = time.monotonic()
        self.transport.write(data)

    def release(self) -> None:
        """Back to the backend's pool, or closed when the pool is full or the backend pools nothing."""
        backend = self.backend
        if not backend.pooling or len(backend.idle) >= self._limits.max_idle_per_backend or not self.usable():
            self.close()
            return
        backend.idle.append(self)  # idle from its last byte received, a moment ago: ``_activity`` holds
        if self._timer is None:
            self._watch()

    def abandon(self) -> None:
        """Drop the exchange and the connection: it is in an unknown state."""
        self.exchange = None
        self.transport.abort()

    def close(self) -> None:
        self.transport.close()

    def pause_reading(self) -> None:
        if not self._reading_paused:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._reading_paused:
            self._reading_paused = False
            self.transport.resume_reading()

    # -- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self._proxy.upstreams.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._proxy.upstreams.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        exchange, self.exchange = self.exchange, None
        if exchange is not None:
            exchange.upstream_lost(self, self._received)
        elif self in self.backend.idle:
            self.backend.idle.remove(self)
        self._proxy.ended()

    def eof_received(self) -> bool:
        if self.exchange is not None and self._remaining < 0 and isinstance(self._framer, http1.UntilCloseBody):
            self._activity = time.monotonic()
            self._complete(reusable=False)
        return False

    def pause_writing(self) -> None:
        if self.exchange is not None:
            self.exchange.client.upstream_full(True)

    def resume_writing(self) -> None:
        if self.exchange is not None:
            self.exchange.client.upstream_full(False)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        data = bytes(self._view[:nbytes])
        self._activity = time.monotonic()
        exchange = self.exchange
        if exchange is None:
            self.transport.abort()  # an idle upstream has nothing to say
            return
        self._received = True
        try:
            if self._response is None:
                self._read_head(exchange, data)
            else:
                self._relay(exchange, data)
        except http1.HttpError as error:
            self.abandon()
            exchange.upstream_failed(error.message, timed_out=False)

    # -- reading a response

    def _read_head(self, exchange: Exchange, data: bytes) -> None:
        """Relay the final response's head and what follows it, once the head is whole."""
        buffer = self._buffer + data if self._buffer else data
        while True:
            end = buffer.find(http1.HEAD_END)
            if end > MAX_RESPONSE_HEAD or (end < 0 and len(buffer) > MAX_RESPONSE_HEAD):
                raise http1.HttpError(502, "the upstream's response head is too large")
            if end < 0:
                self._buffer = buffer
                return
            size = end + 4
            head = buffer if size == len(buffer) else buffer[:size]
            response = self._proxy.responses.parse(head, self._head_request)
            if response.status >= 200:
                break
            if response.status == 101:
                if not (response.upgrade and exchange.request.upgrade):
                    raise http1.HttpError(502, "the upstream switched protocols, and the request did not ask to")
                self._hand_over(exchange, response, buffer[size:])
                return
            exchange.informational(response.kept)
            buffer = buffer[size:]
        self._buffer = b""
        self._response = response
        if response.framing in (http1.LENGTH, http1.NO_BODY):
            self._remaining = response.length  # the common case, counted here without a framer
        else:
            self._remaining = -1
            self._framer = http1.framer(response.framing, response.length, 502)
        self._relay_first(exchange, response, buffer, size)

    def _relay_first(self, exchange: Exchange, response: http1.Response, data: bytes, start: int) -> None:
        """Relay the head that ends at ``start`` in ``data``, with the body bytes after it."""
        remaining, size = self._remaining, len(data) - start
        if remaining >= 0:
            taken = size if size < remaining else remaining
            self._remaining = remaining - taken
            done = taken == remaining
        else:
            framer = cast(http1.Framer, self._framer)
            taken = framer.feed(data[start:])
            done = framer.done
        exchange.response_head(response, data, start, start + taken)
        if done:
            self._complete(reusable=response.reusable and taken == size)

    def _relay(self, exchange: Exchange, data: bytes) -> None:
        remaining, size = self._remaining, len(data)
        if remaining >= 0:
            taken = size if size < remaining else remaining
            self._remaining = remaining - taken
            done = taken == remaining
        else:
            framer = cast(http1.Framer, self._framer)
            taken = framer.feed(data)
            done = framer.done
        if taken:
            exchange.response_body(data if taken == size else data[:taken])
        if done:
            self._complete(reusable=cast(http1.Response, self._response).reusable and taken == size)

    def _complete(self, reusable: bool) -> None:
        exchange = cast("Exchange", self.exchange)
        self.exchange = None
        self.served += 1
        self._response = None
        self._framer = None
        if self._reading_paused:
            self.resume_reading()
        exchange.response_end(self, reusable)

    def _hand_over(self, exchange: Exchange, response: http1.Response, rest: bytes) -> None:
        """Give the connection up to the tunnel the exchange becomes: no timer, no pool, no callbacks."""
        self.exchange = None
        self._closed = True
        self._buffer = b""
        self._proxy.upstreams.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        exchange.upgraded(self.transport, response, rest)

    # -- the watchdog

    def _watch(self) -> None:
        if self._timer is None:
            self._timer = self._loop.call_at(self._activity + self._soonest, self._check)

    def _check(self) -> None:
        self._timer = None
        if self._closed:
            return
        now = time.monotonic()
        exchange = self.exchange
        if exchange is None:
            limit = self._limits.upstream_idle_timeout
        else:
            limit = self._limits.read_timeout
            if not exchange.request_done:
                self._activity = now
        if now - self._activity < limit:
            self._timer = self._loop.call_at(min(self._activity + limit, now + self._soonest), self._check)
        elif exchange is None:
            self.close()
        else:
            self.abandon()
            exchange.upstream_failed("the upstream did not answer in time", timed_out=True)
