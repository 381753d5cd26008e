"""The local router on real sockets: clients and upstream applications on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest

from tests.integration.http_peers import Client, EchoUpstream, Reply, ScriptedUpstream, Upstream
from uno.deployment.adapters.platforms.local.routing import Limits, Router

pytestmark = [pytest.mark.integration, pytest.mark.every_loop]  # the agent runs routers on uvloop

DEADLINE = 5.0
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Harness:
    """Routers, upstreams and clients of one test, closed in order at its end."""

    def __init__(self) -> None:
        self.routers: list[Router] = []
        self.upstreams: list[Upstream] = []
        self.scripted: list[ScriptedUpstream] = []
        self.echoes: list[EchoUpstream] = []
        self.clients: list[Client] = []
        self.tasks: list[asyncio.Task[Any]] = []

    def task(self, coroutine: Coroutine[Any, Any, Reply]) -> asyncio.Task[Reply]:
        """A request left running, cancelled at the end of the test if it is still pending."""
        task = asyncio.create_task(coroutine)
        self.tasks.append(task)
        return task

    async def router(self, balancing: Any = "round_robin", seed: int = 2024, **limits: Any) -> Router:
        router = Router("127.0.0.1", 0, limits=Limits(**limits), balancing=balancing, rng=random.Random(seed))
        await router.start()
        self.routers.append(router)
        return router

    def upstream(self, version: str) -> Upstream:
        upstream = Upstream(version)
        self.upstreams.append(upstream)
        return upstream

    async def scripted_upstream(self, *replies: bytes | None, close_after: bool = False) -> ScriptedUpstream:
        upstream = await ScriptedUpstream(replies, close_after).start()
        self.scripted.append(upstream)
        return upstream

    async def echoing(self, refuse: bool = False, greeting: bytes = b"", **limits: Any) -> tuple[Router, EchoUpstream]:
        """A router in front of one ``EchoUpstream`` as version v1."""
        upstream = await EchoUpstream(refuse, greeting).start()
        self.echoes.append(upstream)
        router = await self.router(**limits)
        router.set_backends("v1", [upstream.address])
        router.set_weights({"v1": 1})
        return router, upstream

    async def client(self, router: Router) -> Client:
        client = await Client.open(router.port)
        self.clients.append(client)
        return client

    async def routed(self, weights: dict[str, int], **limits: Any) -> tuple[Router, dict[str, Upstream]]:
        """A router in front of one stdlib upstream per version, with ``weights``."""
        router = await self.router(**limits)
        upstreams = {version: self.upstream(version) for version in weights}
        for version, upstream in upstreams.items():
            router.set_backends(version, [upstream.address])
        router.set_weights(weights)
        return router, upstreams

    async def aclose(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for client in self.clients:
            await client.close()
        for router in self.routers:
            await router.stop()
        for scripted in self.scripted:
            await scripted.close()
        for echo in self.echoes:
            await echo.close()
        for upstream in self.upstreams:
            await asyncio.to_thread(upstream.close)


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    harness = Harness()
    try:
        yield harness
    finally:
        await harness.aclose()


async def eventually(condition: Callable[[], bool], deadline: float = DEADLINE) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not condition():
        assert loop.time() < end, "the condition did not hold in time"
        await asyncio.sleep(0.01)


async def wait_thread_event(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, DEADLINE)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- weights


async def test_a_10_90_split_over_2000_requests(harness: Harness):
    router, _ = await harness.routed({"v1": 10, "v2": 90})
    clients = [await harness.client(router) for _ in range(8)]

    async def send(client: Client) -> list[str]:
        return [(await client.get()).text for _ in range(250)]

    answers = [text for texts in await asyncio.gather(*map(send, clients)) for text in texts]

    assert len(answers) == 2000
    assert abs(answers.count("v1") - 200) <= 40  # three standard deviations; the seed makes it repeatable
    assert router.stats("v1").requests == answers.count("v1")
    assert router.stats("v2").requests == answers.count("v2")


async def test_a_weight_change_applies_to_the_very_next_request_on_a_kept_alive_connection(harness: Harness):
    router, _ = await harness.routed({"v1": 100, "v2": 0})
    client = await harness.client(router)
    assert [(await client.get()).text for _ in range(5)] == ["v1"] * 5

    router.set_weights({"v1": 0, "v2": 100})

    assert [(await client.get()).text for _ in range(5)] == ["v2"] * 5
    assert router.weights() == {"v1": 0, "v2": 100}


async def test_no_version_with_weight_and_backends_is_a_502(harness: Harness):
    router = await harness.router()
    client = await harness.client(router)
    assert (await client.get()).status == 502

    upstream = harness.upstream("v1")
    router.set_backends("v1", [upstream.address])
    router.set_weights({"v1": 0})
    reply = await client.get()  # the connection is kept: a 502 of the router's own leaves it usable

    assert reply.status == 502
    assert reply.headers["content-type"].startswith("text/plain")
    assert upstream.requests == 0


# -- connections


async def test_many_requests_on_one_client_connection_reuse_one_upstream_connection(harness: Harness):
    router, upstreams = await harness.routed({"v1": 1})
    first, second = await harness.client(router), await harness.client(router)

    for _ in range(20):
        assert (await first.get()).status == 200
    for _ in range(20):
        assert (await second.get()).status == 200

    assert upstreams["v1"].requests == 40
    assert upstreams["v1"].connections == 1


async def test_pipelined_requests_are_answered_in_order(harness: Harness):
    router, _ = await harness.routed({"v1": 1})
    client = await harness.client(router)

    await client.send(b"GET /status/204 HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")

    assert (await client.reply()).status == 204
    assert (await client.reply()).text == "v1"


async def test_connection_close_from_the_client_closes_after_the_response(harness: Harness):
    router, _ = await harness.routed({"v1": 1})
    client = await harness.client(router)

    reply = await client.get(headers="Connection: close\r\n")

    assert reply.headers["connection"] == "close"
    assert await client.closed_by_peer()


async def test_an_http_1_0_request_is_answered_and_closed(harness: Harness):
    router, _ = await harness.routed({"v1": 1})
    client = await harness.client(router)

    await client.send(b"GET / HTTP/1.0\r\n\r\n")
    reply = await client.reply()

    assert (reply.status, reply.text) == (200, "v1")
    assert await client.closed_by_peer()


async def test_an_idle_client_connection_is_closed_after_the_keep_alive_timeout(harness: Harness):
    router, _ = await harness.routed({"v1": 1}, keep_alive_timeout=0.2)
    client = await harness.client(router)
    assert (await client.get()).status == 200

    assert await client.closed_by_peer()


async def test_a_pooled_upstream_connection_is_closed_after_its_idle_timeout(harness: Harness):
    upstream = await harness.scripted_upstream(OK)
    router = await harness.router(upstream_idle_timeout=0.2)  # read_timeout stays at a minute
    router.set_backends("v1", [upstream.address])
    router.set_weights({"v1": 1})
    client = await harness.client(router)
    assert (await client.get()).status == 200

    await eventually(upstream.transports[0].is_closing)

    assert (await client.get()).status == 200
    assert upstream.connections == 2


async def test_a_response_slower_than_the_idle_timeout_is_not_cut(harness: Harness):
    router, upstreams = await harness.routed({"v1": 1}, upstream_idle_timeout=0.1, keep_alive_timeout=0.1)
    slow = await start_slow_request(harness, router, upstreams["v1"])

    with pytest.raises(TimeoutError):  # the connections' timers fire several times meanwhile, and re-arm
        await asyncio.wait_for(asyncio.shield(slow), 0.35)
    upstreams["v1"].gate.set()

    assert (await slow).status == 200
    assert router.stats("v1").errors == 0


async def test_a_request_head_that_stalls_is_a_408(harness: Harness):
    router, upstreams = await harness.routed({"v1": 1}, client_timeout=0.2)
    client = await harness.client(router)

    await client.send(b"GET / HTTP/1.1\r\nHost: a\r\n")

    assert (await client.reply()).status == 408
    assert await client.closed_by_peer()
    assert upstreams["v1"].requests == 0


async def test_stop_lets_requests_in_flight_finish_within_its_grace(harness: Harness):
    router, upstreams = await harness.routed({"v1": 1})
    slow = await start_slow_request(harness, router, upstreams["v1"])

    stopping = asyncio.create_task(router.stop(grace=DEADLINE))
    await eventually(lambda: not router.serving)
    upstreams["v1"].gate.set()
    reply = await slow
    await stopping

    assert (reply.status, reply.headers["connection"]) == (200, "close")


# -- messages


async def test_forwarded_fields_are_added_and_hop_by_hop_fields_removed(harness: Harness):
    router, _ = await harness.routed({"v1": 1})
    client = await harness.client(router)

    reply = await client.get(
        "/headers",
        "Connection: keep-alive, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\n"
        "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\nX-Kept: yes\r\n",
    )
    seen = json.loads(reply.body)

    assert seen["x-forwarded-for"] == "10.0.0.1, 127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-kept"] == "yes"
    assert not {"x-secret", "keep-alive", "te", "connection"} & set(seen)


async def test_head_204_and_304_have_no_body_and_the_connection_goes_on(harness: Harness):
    router, _ = await harness.routed({"v1": 1})
    client = await harness.client(router)

    await client.send(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
    head = await client.reply(head_request=True)
    no_content = await client.get("/status/204")
    not_modified = await client.get("/status/304")
    after = await client.get()

    assert (head.status, head.headers["content-length"]) == (200, "2")
    assert (no_content.status, not_modified.status) == (204, 304)
    assert after.text == "v1"  # a body where none belongs would have shifted this answer


async def test_a_chunked_request_body_is_streamed_before_it_ends(harness: Harness):
    router, upstreams = await harness.routed({"v1": 1})
    client = await harness.client(router)

    await client.send(b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    await wait_thread_event(upstreams["v1"].first_part)  # the upstream has the first chunk, the body is not over
    await client.send(b"7\r\n, world\r\n0\r\n\r\n")

    assert (await client.reply()).text == "12"


async def test_a_chunked_response_is_streamed_before_it_ends(harness: Harness):
    router, upstreams = await harness.routed({"v1": 1})
    client = await harness.client(router)

    await client.send(b"GET /download HTTP/1.1\r\nHost: a\r\n\r\n")
    status, headers = await client.head()
    async with asyncio.timeout(DEADLINE):
        first = await client.reader.readuntil(b"first\r\n")  # the upstream still holds the rest
    upstreams["v1"].gate.set()
    async with asyncio.timeout(DEADLINE):
        rest = await client.chunks()

    assert (status, headers["transfer-encoding"]) == (200, "chunked")
    assert (first, rest) == (b"5\r\nfirst\r\n", b"second")
    assert (await client.get()).text == "v1"


async def test_a_large_body_is_relayed_both_ways(harness: Harness):
    router, _ = await harness.routed({"v1": 1})
    client = await harness.client(router)
    body = bytes(range(256)) * 8192  # 2 MiB

    await client.send(b"PUT /echo HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    reply = await client.reply()

    assert reply.body == body


async def test_expect_100_continue_is_passed_through(harness: Harness):
    router, _ = await harness.routed({"v1": 1})
    client = await harness.client(router)

    await client.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
    interim = await client.reply()
    await client.send(b"ping")
    final = await client.reply()

    assert interim.status == 100
    assert (final.status, final.text) == (200, "ping")


async def test_oversized_headers_are_a_431_and_the_connection_closes(harness: Harness):
    router, upstreams = await harness.routed({"v1": 1})
    client = await harness.client(router)

    await client.send(b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X-Big: " + b"x" * 70_000 + b"\r\n\r\n")

    assert (await client.reply()).status == 431
    assert await client.closed_by_peer()
    assert upstreams["v1"].requests == 0


async def test_a_malformed_request_is_a_400_and_the_router_serves_on(harness: Harness):
    router, _ = await harness.routed({"v1": 1})
    bad = await harness.client(router)
    await bad.send(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")

    assert (await bad.reply()).status == 400
    assert (await (await harness.client(router)).get()).text == "v1"


async def test_a_malformed_chunk_in_a_request_is_a_400(harness: Harness):
    router, _ = await harness.routed({"v1": 1})
    client = await harness.client(router)

    await client.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")

    assert (await client.reply()).status == 400
    assert router.stats("v1").errors == 0  # the client's fault, not the version's


FRAGMENTS = [
    b"GET / HTTP/1.1\r\n",
    b"POST /echo HTTP/1.1\r\n",
    b"Host: a\r\n",
    b"Content-Length: 5\r\n",
    b"Content-Length: x\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Expect: 100-continue\r\n",
    b"\r\n",
    b"5\r\nhello\r\n",
    b"0\r\n\r\n",
    b"ffffffffffffffffff\r\n",
    b"\x00\xff\r",
    b"\n",
    b" folded\r\n",
]


async def test_random_bytes_from_many_clients_never_break_the_router(harness: Harness):
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: errors.append(context))
    router, _ = await harness.routed({"v1": 1}, client_timeout=0.5, read_timeout=2)
    rng = random.Random(5)

    async def garble() -> None:
        client = await Client.open(router.port)
        try:
            for _ in range(rng.randrange(1, 12)):
                await client.send(rng.choice(FRAGMENTS) if rng.random() < 0.8 else rng.randbytes(rng.randrange(1, 64)))
            async with asyncio.timeout(3):
                await client.reader.read(65536)
        except (ConnectionError, TimeoutError):
            pass
        finally:
            await client.close()

    await asyncio.gather(*(garble() for _ in range(60)))
    await eventually(lambda: router.stats("v1").in_flight == 0)

    assert errors == []
    assert (await (await harness.client(router)).get()).text == "v1"


# -- upstream failures


async def test_an_upstream_that_is_down_is_a_502_counted_against_its_version(harness: Harness):
    router = await harness.router()
    router.set_backends("v1", [("127.0.0.1", closed_port())])
    router.set_weights({"v1": 1})
    client = await harness.client(router)

    reply = await client.get()

    assert reply.status == 502
    assert "cannot connect" in reply.text
    stats = router.stats("v1")
    assert (stats.requests, stats.errors, stats.in_flight, stats.error_rate) == (1, 1, 0, 1.0)


async def test_a_backend_address_that_cannot_be_used_is_a_502(harness: Harness, caplog: pytest.LogCaptureFixture):
    router = await harness.router()
    router.set_backends("v1", [("x" * 300, 80)])  # a host name IDNA cannot encode
    router.set_weights({"v1": 1})

    assert (await (await harness.client(router)).get()).status == 502
    assert "connecting to" in caplog.text


async def test_a_refused_connect_moves_on_to_the_versions_next_backend(harness: Harness):
    router = await harness.router()
    upstream = harness.upstream("v1")
    router.set_backends("v1", [("127.0.0.1", closed_port()), upstream.address])
    router.set_weights({"v1": 1})
    client = await harness.client(router)

    assert [(await client.get()).status for _ in range(4)] == [200] * 4
    assert router.stats("v1").errors == 0


async def test_an_upstream_too_slow_is_a_504_counted_against_its_version(harness: Harness):
    router, _ = await harness.routed({"v1": 1}, read_timeout=0.3)
    client = await harness.client(router)

    reply = await client.get("/slow")

    assert reply.status == 504
    assert router.stats("v1").errors == 1
    assert (await client.get()).text == "v1"  # the client connection survives a 504


async def test_a_malformed_response_is_a_502(harness: Harness):
    upstream = await harness.scripted_upstream(b"NONSENSE\r\n\r\n")
    router = await harness.router()
    router.set_backends("v1", [upstream.address])
    router.set_weights({"v1": 1})

    assert (await (await harness.client(router)).get()).status == 502
    assert router.stats("v1").errors == 1


async def test_a_response_that_ends_with_the_upstreams_close_is_relayed_and_closes_the_client(harness: Harness):
    upstream = await harness.scripted_upstream(b"HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nuntil the end", close_after=True)
    router = await harness.router()
    router.set_backends("v1", [upstream.address])
    router.set_weights({"v1": 1})
    client = await harness.client(router)

    reply = await client.get()

    assert (reply.status, reply.text, reply.headers["connection"]) == (200, "until the end", "close")
    assert router.stats("v1").errors == 0


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        # a bad chunk read with the head is a 502; read after it, the response is aborted (0)
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", (0, 502)),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", (502,)),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", (502,)),
        (b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70_000 + b"\r\n\r\n", (502,)),
        (b"\x00\x01\x02 garbage\r\n\r\n", (502,)),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", (200,)),  # the extra bytes are dropped
    ],
)
async def test_a_misbehaving_upstream_never_breaks_the_router(harness: Harness, reply: bytes, status: tuple[int, ...]):
    errors: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
    upstream = await harness.scripted_upstream(reply, close_after=True)
    router = await harness.router()
    router.set_backends("v1", [upstream.address])
    router.set_weights({"v1": 1})
    client = await harness.client(router)

    try:
        answer = await client.get()
    except asyncio.IncompleteReadError:
        seen = 0
    else:
        seen = answer.status
        assert seen != 200 or answer.text == "ok"

    assert seen in status
    assert errors == []
    assert router.stats("v1").in_flight == 0


async def test_5xx_from_the_upstream_count_as_errors(harness: Harness):
    router, _ = await harness.routed({"v1": 1})
    client = await harness.client(router)

    assert (await client.get("/status/500")).status == 500
    assert (await client.get()).status == 200

    assert router.stats("v1").error_rate == 0.5


async def test_an_idempotent_request_is_retried_once_when_a_pooled_connection_was_closed(harness: Harness):
    upstream = await harness.scripted_upstream(OK, None)  # answers once per connection, then closes on the next
    router = await harness.router()
    router.set_backends("v1", [upstream.address])
    router.set_weights({"v1": 1})
    client = await harness.client(router)

    replies = [await client.get() for _ in range(3)]

    assert [reply.status for reply in replies] == [200, 200, 200]
    assert upstream.connections == 3
    assert router.stats("v1").errors == 0


async def test_a_post_is_not_retried_on_a_closed_pooled_connection(harness: Harness):
    upstream = await harness.scripted_upstream(OK, None)
    router = await harness.router()
    router.set_backends("v1", [upstream.address])
    router.set_weights({"v1": 1})
    client = await harness.client(router)
    assert (await client.get()).status == 200

    await client.send(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi")
    reply = await client.reply()

    assert reply.status == 502
    assert upstream.requests == 2


async def test_a_response_broken_off_by_the_upstream_aborts_the_client_and_counts_as_an_error(harness: Harness):
    upstream = await harness.scripted_upstream(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", close_after=True)
    router = await harness.router()
    router.set_backends("v1", [upstream.address])
    router.set_weights({"v1": 1})
    client = await harness.client(router)

    with pytest.raises(asyncio.IncompleteReadError):
        await client.get()

    assert router.stats("v1").errors == 1


async def test_a_client_that_leaves_mid_request_releases_its_upstream(harness: Harness):
    router, upstreams = await harness.routed({"v1": 1})
    slow = await start_slow_request(harness, router, upstreams["v1"])
    assert router.stats("v1").in_flight == 1

    slow.cancel()
    await harness.clients[0].close()

    await eventually(lambda: router.stats("v1").in_flight == 0)
    assert router.stats("v1").errors == 0
    assert (await (await harness.client(router)).get()).text == "v1"


# -- draining


async def start_slow_request(harness: Harness, router: Router, upstream: Upstream) -> asyncio.Task[Reply]:
    client = await harness.client(router)
    slow = harness.task(client.get("/slow"))
    await wait_thread_event(upstream.entered)
    return slow


async def test_drain_waits_for_requests_in_flight_and_sends_nothing_new(harness: Harness):
    router, upstreams = await harness.routed({"v1": 100})
    slow = await start_slow_request(harness, router, upstreams["v1"])
    green = harness.upstream("v2")
    router.set_backends("v2", [green.address])
    router.set_weights({"v1": 50, "v2": 50})

    draining = asyncio.create_task(router.drain("v1", timeout=DEADLINE))
    other = await harness.client(router)
    answers = [(await other.get()).text for _ in range(20)]

    assert answers == ["v2"] * 20  # v1 keeps its weight but is drained
    assert not draining.done()
    assert router.stats("v1").in_flight == 1
    upstreams["v1"].gate.set()
    assert (await slow).text == "v1"
    assert await draining
    assert router.stats("v1").in_flight == 0


async def test_drain_gives_up_after_its_timeout_and_undrain_restores_the_version(harness: Harness):
    router, upstreams = await harness.routed({"v1": 100})
    slow = await start_slow_request(harness, router, upstreams["v1"])

    assert not await router.drain("v1", timeout=0.1)
    assert (await (await harness.client(router)).get()).status == 502  # v1 was the only version
    router.undrain("v1")
    upstreams["v1"].gate.set()

    assert (await slow).status == 200
    assert (await (await harness.client(router)).get()).text == "v1"
    assert await router.drain("v1", timeout=0.1)  # nothing in flight any more


async def test_least_connections_sends_new_requests_away_from_a_busy_backend(harness: Harness):
    router = await harness.router(balancing="least_connections")
    busy, free = harness.upstream("busy"), harness.upstream("free")
    router.set_backends("v1", [busy.address, free.address])
    router.set_weights({"v1": 1})
    slow = await start_slow_request(harness, router, busy)
    client = await harness.client(router)

    answers = [(await client.get()).text for _ in range(6)]

    busy.gate.set()
    assert (await slow).text == "busy"
    assert answers == ["free"] * 6


# -- statistics


async def test_stats_count_requests_and_latency_since_the_last_reset(harness: Harness):
    router, _ = await harness.routed({"v1": 1})
    client = await harness.client(router)
    for _ in range(50):
        await client.get()

    stats = router.stats("v1")
    assert (stats.requests, stats.errors, stats.in_flight) == (50, 0, 0)
    assert 0 < stats.p50_ms <= stats.p99_ms < 1000

    router.reset_stats("v1")
    assert router.stats("v1").requests == 0
    assert router.stats("v1").p99_ms == 0.0
    await client.get()
    router.reset_stats()
    assert router.stats("v1").requests == 0
    assert router.stats("unknown").requests == 0


async def test_stop_closes_every_connection(harness: Harness):
    router, _ = await harness.routed({"v1": 1})
    client = await harness.client(router)
    assert (await client.get()).status == 200

    await router.stop()

    assert await client.closed_by_peer()
    with pytest.raises(ConnectionRefusedError):
        await Client.open(router.port)


# -- upgraded connections (WebSocket)


UPGRADE = b"GET /socket HTTP/1.1\r\nHost: shop\r\nConnection: keep-alive, Upgrade\r\nUpgrade: echo\r\n\r\n"


async def upgrade(client: Client, early: bytes = b"") -> tuple[int, dict[str, str]]:
    await client.send(UPGRADE + early)
    async with asyncio.timeout(DEADLINE):
        return await client.head()


async def echoed(client: Client, size: int) -> bytes:
    async with asyncio.timeout(DEADLINE):
        return await client.reader.readexactly(size)


async def test_an_upgrade_answered_101_relays_bytes_both_ways_until_the_client_closes(harness: Harness):
    router, upstream = await harness.echoing()
    client = await harness.client(router)

    status, headers = await upgrade(client, early=b"sent early, ")  # right behind the head: the new protocol's
    await client.send(b"sent late")

    assert (status, headers["upgrade"], headers["connection"]) == (101, "echo", "Upgrade")
    assert await echoed(client, 21) == b"sent early, sent late"
    assert b"\r\nConnection: Upgrade\r\nUpgrade: echo\r\n" in upstream.heads[0] + b"\r\n"
    assert router.stats("v1").in_flight == 1  # a tunnel is in flight until it ends
    await client.close()
    await eventually(lambda: router.stats("v1").in_flight == 0 and upstream.open == 0)
    stats = router.stats("v1")
    assert (stats.requests, stats.errors) == (1, 0)
    assert (await (await harness.client(router)).get()).text == "plain"
    assert upstream.connections == 2  # the upgraded connection never went back to the pool


async def test_bytes_the_upstream_sends_with_its_101_reach_the_client(harness: Harness):
    router, _ = await harness.echoing(greeting=b"welcome")
    client = await harness.client(router)

    assert (await upgrade(client))[0] == 101
    assert await echoed(client, 7) == b"welcome"


async def test_the_upstream_closing_a_tunnel_closes_the_client(harness: Harness):
    router, upstream = await harness.echoing()
    client = await harness.client(router)
    assert (await upgrade(client))[0] == 101

    upstream.transports[0].close()

    assert await client.closed_by_peer()
    await eventually(lambda: router.stats("v1").in_flight == 0)
    assert router.stats("v1").errors == 0


async def test_an_upgrade_refused_is_an_ordinary_response_and_the_connection_goes_on(harness: Harness):
    router, upstream = await harness.echoing(refuse=True)
    client = await harness.client(router)

    refused = await upgrade(client)
    body = await echoed(client, 5)
    after = await client.get()

    assert (refused[0], body, after.text) == (200, b"plain", "plain")
    assert upstream.connections == 1  # an ordinary response: the connection was pooled and reused
    assert router.stats("v1").requests == 2


async def test_a_megabyte_each_way_through_a_tunnel(harness: Harness):
    router, _ = await harness.echoing()
    client = await harness.client(router)
    assert (await upgrade(client))[0] == 101
    body = bytes(range(256)) * 4096  # 1 MiB: both sides' write buffers fill, reading pauses and resumes

    _, back = await asyncio.gather(client.send(body), echoed(client, len(body)))

    assert back == body


async def test_drain_gives_a_tunnel_its_deadline_then_closes_it(harness: Harness):
    router, _ = await harness.echoing()
    client = await harness.client(router)
    assert (await upgrade(client))[0] == 101

    assert await router.drain("v1", timeout=0.2)  # nothing else in flight: drained once the tunnel is closed

    assert await client.closed_by_peer()
    assert router.stats("v1").in_flight == 0


async def test_drain_ends_when_a_tunnel_ends_before_the_deadline(harness: Harness):
    router, _ = await harness.echoing()
    client = await harness.client(router)
    assert (await upgrade(client))[0] == 101
    draining = asyncio.create_task(router.drain("v1", timeout=DEADLINE))
    await client.send(b"still open")
    assert await echoed(client, 10) == b"still open"
    assert not draining.done()

    await client.close()

    async with asyncio.timeout(DEADLINE):
        assert await draining


async def test_a_silent_tunnel_is_closed_after_its_idle_timeout(harness: Harness):
    router, _ = await harness.echoing(tunnel_idle_timeout=0.2)
    client = await harness.client(router)
    assert (await upgrade(client))[0] == 101

    assert await client.closed_by_peer()
    await eventually(lambda: router.stats("v1").in_flight == 0)


async def test_stop_closes_tunnels(harness: Harness):
    router, upstream = await harness.echoing()
    client = await harness.client(router)
    assert (await upgrade(client))[0] == 101

    await router.stop()

    assert await client.closed_by_peer()
    await eventually(lambda: upstream.open == 0)
