"""The local platform's router: the application's public port, split across version sets by weight.

The local driver runs each version of an application as processes on this machine. To
move traffic between them with no downtime it needs a proxy it can reweight in memory, at
once, without a reload (an nginx reload drops keep-alive requests, see DESIGN.md), and
whose per-version counters a canary analysis can read. This is that proxy: HTTP/1.1 on
asyncio and the standard library, in front of every version's replicas. Given a TLS
context it terminates TLS (``tls``); given a domain it serves that host only (``hosts``).

Invariants:
- ``set_weights``, ``set_backends``, ``drain`` and ``undrain`` change the routing of the
  very next request, atomically (``balancing``).
- A drained version gets no new request whatever its weight; its idle pooled connections
  are closed and its busy ones are closed when their exchange ends. Its upgraded
  connections (WebSocket tunnels) have until the drain's deadline, and are closed then.
- ``stats`` reads counters that every exchange updates when it ends (``traffic``).
- No client or upstream can stop the router: every protocol error is answered (4xx to a
  client, 502/504 for an upstream) or ends that one connection.
- ``stop`` closes every connection it opened or accepted; nothing is left to the garbage
  collector.
"""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
from collections.abc import Mapping, Sequence

from uno.deployment.adapters.platforms.local import clients, proxying
from uno.deployment.adapters.platforms.local.balancing import Balancer, Balancing
from uno.deployment.adapters.platforms.local.limits import Limits
from uno.deployment.adapters.platforms.local.traffic import TrafficStats

__all__ = ["Limits", "Router", "TrafficStats"]


class Router:
    """A weighted HTTP/1.1 reverse proxy; versions are named by their version-set id."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        limits: Limits | None = None,
        balancing: Balancing = "round_robin",
        rng: random.Random | None = None,
        tls: ssl.SSLContext | None = None,
        domain: str | None = None,
    ) -> None:
        self.host = host
        self._port = port
        self._balancer = Balancer(rng if rng is not None else random.Random(), balancing)
        self._proxy = proxying.Proxy(self._balancer, limits if limits is not None else Limits())
        self._proxy.domain = domain
        self._server: asyncio.Server | None = None
        self._tls = tls

    @property
    def port(self) -> int:
        """The port served: the one given, or the one picked when it was 0 (after ``start``)."""
        return self._port

    @property
    def serving(self) -> bool:
        """True from ``start`` until ``stop`` begins."""
        return self._server is not None

    @property
    def limits(self) -> Limits:
        return self._proxy.limits

    @property
    def tls(self) -> ssl.SSLContext | None:
        """The context TLS is terminated with (fixed from construction), or None for plain HTTP."""
        return self._tls

    @property
    def domain(self) -> str | None:
        """The one host served (others get 421), or None to serve any."""
        return self._proxy.domain

    @domain.setter
    def domain(self, value: str | None) -> None:
        self._proxy.domain = value

    async def start(self, sock: socket.socket | None = None) -> None:
        """Bind ``host:port`` and serve, or serve ``sock``, a listening socket bound already (the keeper's)."""
        if self._server is not None:
            raise RuntimeError("the router is already started")
        loop = asyncio.get_running_loop()
        self._proxy.stopping = False
        protocol = lambda: clients.ClientConnection(self._proxy)  # noqa: E731
        handshake = self.limits.client_timeout if self._tls is not None else None
        if sock is not None:
            self._server = await loop.create_server(protocol, sock=sock, ssl=self._tls, ssl_handshake_timeout=handshake)
        else:
            self._server = await loop.create_server(
                protocol,
                self.host,
                self._port,
                backlog=1024,
                reuse_address=True,
                ssl=self._tls,
                ssl_handshake_timeout=handshake,
            )
        self._port = self._server.sockets[0].getsockname()[1]

    async def stop(self, grace: float = 0.0) -> None:
        """Stop serving: idle connections close now, requests in flight get ``grace`` seconds to end."""
        server, self._server = self._server, None
        if server is None:
            return
        proxy = self._proxy
        proxy.stopping = True
        server.close()
        for client in list(proxy.clients):
            if client.exchange is None:
                client.close()
        for backend in self._balancer.all_backends():
            backend.close_idle()
        await proxy.quiet(lambda: not (proxy.clients or proxy.tunnels), grace)
        for client in list(proxy.clients):
            client.abort()
        proxy.close_tunnels(abort=True)
        for task in list(proxy.tasks):
            task.cancel()
        for upstream in list(proxy.upstreams):
            upstream.transport.abort()
        await server.wait_closed()
        await proxy.quiet(lambda: not (proxy.clients or proxy.upstreams or proxy.tasks or proxy.tunnels), 1.0)

    # -- routing

    def set_backends(self, version: str, backends: Sequence[tuple[str, int]]) -> None:
        """Replace ``version``'s replica addresses; an empty list removes the version."""
        self._balancer.set_backends(version, [(str(host), int(port)) for host, port in backends])

    def backends(self, version: str) -> list[tuple[str, int]]:
        return [backend.address for backend in self._balancer.backends(version)]

    def set_weights(self, weights: Mapping[str, int]) -> None:
        """Replace all weights (relative: 10/90 is 1/9); versions left out get none. Applies to the next request."""
        self._balancer.set_weights(weights)

    def weights(self) -> dict[str, int]:
        return self._balancer.weights()

    async def drain(self, version: str, timeout: float) -> bool:
        """Route nothing new to ``version``, then wait for its requests in flight: False if ``timeout`` passes first.

        Upgraded connections (WebSocket) still open at the deadline are closed then: they
        may never end by themselves. Only requests still in flight after that make it False.
        """
        self._balancer.drain(version)
        traffic = self._proxy.traffic.get(version)
        if traffic is None or not traffic.in_flight:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._proxy.idle_waiters.setdefault(version, [])
        waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            self._proxy.close_tunnels(version)
            return not traffic.in_flight
        finally:
            if waiter in waiters:
                waiters.remove(waiter)
        return True

    def undrain(self, version: str) -> None:
        """Route to ``version`` again, by its weight."""
        self._balancer.undrain(version)

    # -- traffic statistics

    def stats(self, version: str) -> TrafficStats:
        traffic = self._proxy.traffic.get(version)
        if traffic is None:
            return TrafficStats(requests=0, errors=0, in_flight=0, p50_ms=0.0, p99_ms=0.0)
        return traffic.snapshot()

    def reset_stats(self, version: str | None = None) -> None:
        """Start a new window for ``version``'s counters, or for every version's."""
        if version is None:
            for traffic in self._proxy.traffic.values():
                traffic.reset()
        elif version in self._proxy.traffic:
            self._proxy.traffic[version].reset()
