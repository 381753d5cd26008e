"""Upgraded connections (WebSocket): once an upstream answers 101, bytes are relayed blindly both ways.

After ``101 Switching Protocols`` neither connection speaks HTTP/1.1 any more, so the router
stops reading them as such: the client's and the upstream's transports are handed to a
tunnel, whose two ends copy what arrives on one connection to the other, until either
side closes.

Invariants:
- A tunnel owns both transports from the hand-over (it replaces their protocols): the
  client and upstream connections it came from do nothing more, and the upstream
  connection never goes back to a pool.
- The exchange that asked for the upgrade ends when its tunnel ends, exactly once: until
  then it counts as in flight for its version, so a drain waits for it, up to the drain's
  deadline, when the router closes it.
- When either side closes or sends its end of input, the tunnel ends and closes both
  connections, the other after what it was sent has been written.
- Reading from one side pauses while the other side's write buffer is full.
- A tunnel silent both ways for ``tunnel_idle_timeout`` is closed; connections that have
  not closed that long after the tunnel ended are aborted.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from uno.deployment.adapters.platforms.local.limits import rearm

if TYPE_CHECKING:
    from uno.deployment.adapters.platforms.local.proxying import Exchange, Proxy


class Tunnel:
    """An upgraded client connection and its upstream connection, relaying each other's bytes."""

    def __init__(
        self, proxy: Proxy, exchange: Exchange, client: asyncio.Transport, upstream: asyncio.Transport
    ) -> None:
        self.proxy = proxy
        self.exchange = exchange
        self.version = exchange.backend.version
        self.ended = False
        self.activity = time.monotonic()
        self._limit = proxy.limits.tunnel_idle_timeout
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._client = _End(self, client)
        self._upstream = _End(self, upstream)
        self._client.peer, self._upstream.peer = self._upstream, self._client

    def start(self, to_client: bytes, to_upstream: bytes, client_full: bool, upstream_full: bool) -> None:
        """Take both transports over, send what each side sent before the hand-over, and read on."""
        self.proxy.tunnels.add(self)
        ends = (self._client, self._upstream)
        for end in ends:
            end.transport.set_protocol(end)
        if any(end.transport.is_closing() for end in ends):
            self.end(abort=True)
            return
        if to_client:
            self._client.transport.write(to_client)
        if to_upstream:
            self._upstream.transport.write(to_upstream)
        self._client.reading(not upstream_full)
        self._upstream.reading(not client_full)
        self._watch(self.activity + self._limit)

    def end(self, abort: bool = False) -> None:
        """Close both connections (at once when ``abort``, even if the tunnel has ended), and end the exchange."""
        for end in (self._client, self._upstream):
            if abort:
                end.transport.abort()
            elif not self.ended:
                end.transport.close()
        if self.ended:
            return
        self.ended = True
        if not abort:  # a side that never takes what it was sent is aborted after the idle timeout
            self.activity = time.monotonic()
            self._watch(self.activity + self._limit)
        self.exchange.tunnel_ended()

    def lost(self) -> None:
        """One side's connection is gone: the tunnel ends, and is forgotten once both are."""
        self.end()
        if self._client.lost and self._upstream.lost:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self.proxy.tunnels.discard(self)
            self.proxy.ended()

    def _watch(self, deadline: float) -> None:
        self._timer = rearm(self._timer, self._loop, deadline, self._check)

    def _check(self) -> None:
        self._timer = None
        if time.monotonic() - self.activity < self._limit:
            self._watch(self.activity + self._limit)
        else:
            self.end(abort=self.ended)


class _End(asyncio.BufferedProtocol):
    """One side of a tunnel: what arrives is written to the other side."""

    def __init__(self, tunnel: Tunnel, transport: asyncio.Transport) -> None:
        self.tunnel = tunnel
        self.transport = transport
        self.peer: _End = self
        self.lost = False
        self._view = tunnel.proxy.read_view

    def reading(self, on: bool) -> None:
        if self.transport.is_closing():
            return
        if on:
            self.transport.resume_reading()
        else:
            self.transport.pause_reading()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        tunnel = self.tunnel
        if not tunnel.ended:
            tunnel.activity = time.monotonic()
            self.peer.transport.write(bytes(self._view[:nbytes]))

    def eof_received(self) -> bool:
        self.tunnel.end()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.tunnel.lost()

    def pause_writing(self) -> None:
        self.peer.reading(False)

    def resume_writing(self) -> None:
        self.peer.reading(True)
