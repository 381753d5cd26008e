"""Relaying requests: an exchange carries one request upstream and its response back, streaming both.

Callbacks (``asyncio.Protocol``), not streams: a request that finds a pooled upstream
connection is relayed without a single task switch, from the client's bytes to the
upstream's write and from the upstream's bytes to the client's write. ``Proxy`` is what
all connections of one router share.

Invariants:
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
- A client connection that leaves abandons its exchange: the upstream connection is
  closed, and the request counts neither as an error nor towards latency.
- An upgrade request answered 101 becomes a tunnel (``tunnelling``): its latency is that of
  the 101, and it stays in flight until the tunnel ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from uno.deployment.adapters.platforms.local import heads, http1, tunnelling, upstreams
from uno.deployment.adapters.platforms.local.balancing import Backend, Balancer
from uno.deployment.adapters.platforms.local.limits import Limits
from uno.deployment.adapters.platforms.local.traffic import VersionTraffic

if TYPE_CHECKING:
    from uno.deployment.adapters.platforms.local.clients import ClientConnection

_log = logging.getLogger(__name__)
# Connections read into one buffer per router and copy out what arrived: asyncio's own reads
# allocate 256 KiB per call, which costs more than the rest of a small request's relay.
READ_SIZE = 256 * 1024
_COPY_LIMIT = 64 * 1024  # a head and a body smaller than this go out in one write


class Proxy:
    """What the connections of one router share: routing, limits, counters and live connections."""

    def __init__(self, balancer: Balancer, limits: Limits) -> None:
        self.balancer = balancer
        self.limits = limits
        self.traffic: dict[str, VersionTraffic] = {}
        self.clients: set[ClientConnection] = set()
        self.upstreams: set[upstreams.UpstreamConnection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.tunnels: set[tunnelling.Tunnel] = set()
        self.requests = heads.HeadCache(http1.parse_request)  # by the client's address too
        self.responses = heads.HeadCache(http1.parse_response)  # by whether the request was HEAD too
        self.read_view = memoryview(bytearray(READ_SIZE))
        self.idle_waiters: dict[str, list[asyncio.Future[None]]] = {}
        self.stopping = False
        self.domain: str | None = None  # the one host served (``hosts``), None for any
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
        except Exception:  # a backend address asyncio cannot use: answer, never leave the client waiting
            _log.exception("connecting to %s failed", backend.address)
            exchange.connect_failed(backend, 502, "cannot connect to the upstream")
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

    def close_tunnels(self, version: str | None = None, abort: bool = False) -> None:
        """Close the upgraded connections of ``version``, or all of them: they would not end by themselves."""
        for tunnel in list(self.tunnels):
            if version is None or tunnel.version == version:
                tunnel.end(abort)


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
        self.traffic = client.proxy.traffic.get(backend.version) or client.proxy.traffic_of(backend.version)
        self.started = started
        self.framer = None if request.framing == http1.NO_BODY else http1.framer(request.framing, request.length, 400)
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
        request = self.request
        if self.replay is not None:
            connection.send(self, self.replay, request.is_head)
            return
        data = request.head
        if self.framer is not None:
            try:
                body = self.client.take_body(self)
            except http1.HttpError as error:
                self.fail(error.status, error.message, counted=False)
                return
            if body:
                data += body
        if self.request_done and request.idempotent:
            self.replay = data
        connection.send(self, data, request.is_head)

    # -- the upstream's side

    def informational(self, head: bytes) -> None:
        if self.request.http11:
            self.client.write(head)

    def response_head(self, response: http1.Response, data: bytes, start: int, stop: int) -> None:
        """Relay the final response's head, with the first bytes of its body: ``data[start:stop]``.

        ``data`` starts with the upstream's head, which ends at ``start``.
        """
        self.status = response.status
        self.responded = True
        client = self.client
        self.keep_alive = keep_alive = (
            self.request.keep_alive
            and self.request_done
            and response.framing != http1.UNTIL_CLOSE
            and not client.proxy.stopping
        )
        if keep_alive and response.verbatim:  # the upstream's bytes are what the client gets: no copy
            client.write(data if stop == len(data) else data[:stop])
            return
        head = response.kept if keep_alive else response.closing
        if stop == start:
            client.write(head)
        elif stop - start < _COPY_LIMIT:
            client.write(head + data[start:stop])
        else:
            client.write(head)
            client.write(data[start:stop])

    def upgraded(self, upstream: asyncio.Transport, response: http1.Response, rest: bytes) -> None:
        """The upstream switched protocols: the 101 goes to the client, then a tunnel relays both ways."""
        self.status = response.status
        self.responded = True
        self.upstream = None
        self.traffic.record(time.monotonic() - self.started)
        client = self.client
        transport, pending, upstream_full = client.hand_over()
        tunnel = tunnelling.Tunnel(client.proxy, self, transport, upstream)
        tunnel.start(response.kept + rest, pending, client_full=client.write_paused, upstream_full=upstream_full)

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
        self._count(error, completed)
        self.client.exchange_done(self.keep_alive, self.request_done)

    def tunnel_ended(self) -> None:
        """The tunnel this exchange became has ended: no longer in flight (its latency was the 101's)."""
        if not self.ended:
            self._count(error=False, completed=False)

    def _count(self, error: bool, completed: bool) -> None:
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
