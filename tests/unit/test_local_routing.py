"""The local router's parts without sockets: HTTP/1.1 heads, their cache and framing, version choice, counters."""

from __future__ import annotations

import random

import pytest

from uno.deployment.adapters.platforms.local import heads, http1
from uno.deployment.adapters.platforms.local.balancing import Balancer
from uno.deployment.adapters.platforms.local.limits import Limits
from uno.deployment.adapters.platforms.local.traffic import TrafficStats, VersionTraffic

CLIENT = b"10.1.2.3"


def request(head: bytes) -> http1.Request:
    return http1.parse_request(head, CLIENT)


def refused(head: bytes) -> int:
    with pytest.raises(http1.HttpError) as caught:
        request(head)
    return caught.value.status


# -- request heads


def test_a_request_goes_upstream_with_forwarded_fields_added():
    parsed = request(b"GET /a?b=1 HTTP/1.1\r\nHost: shop\r\nAccept: */*")

    assert parsed.head == (
        b"GET /a?b=1 HTTP/1.1\r\nHost: shop\r\nAccept: */*\r\n"
        b"X-Forwarded-For: 10.1.2.3\r\nX-Forwarded-Proto: http\r\n\r\n"
    )
    assert (parsed.framing, parsed.keep_alive, parsed.idempotent, parsed.is_head) == (http1.NO_BODY, True, True, False)


def test_hop_by_hop_fields_and_the_fields_connection_names_are_dropped():
    parsed = request(
        b"GET / HTTP/1.1\r\nHost: shop\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: 5\r\n"
        b"TE: trailers\r\nUpgrade: websocket\r\nProxy-Authorization: basic x\r\nX-Kept: 2"
    )

    assert parsed.head == (
        b"GET / HTTP/1.1\r\nHost: shop\r\nX-Kept: 2\r\nX-Forwarded-For: 10.1.2.3\r\nX-Forwarded-Proto: http\r\n\r\n"
    )


def test_fields_named_by_connection_are_dropped_wherever_they_stand():
    parsed = request(b"GET / HTTP/1.1\r\nX-Early: 1\r\nHost: shop\r\nconnection: X-Early")
    answered = response(b"HTTP/1.1 200 OK\r\nX-Hop: 1\r\nContent-Length: 0\r\nConnection: x-hop, close")

    assert b"X-Early" not in parsed.head
    assert parsed.head.startswith(b"GET / HTTP/1.1\r\nHost: shop\r\nX-Forwarded-For")
    assert answered.head == b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
    assert not answered.reusable


def test_the_client_is_appended_to_x_forwarded_for_and_the_proto_is_the_routers():
    parsed = request(
        b"GET / HTTP/1.1\r\nHost: shop\r\nX-Forwarded-For: 1.1.1.1\r\n"
        b"x-forwarded-for: 2.2.2.2\r\nX-Forwarded-Proto: https"
    )

    assert b"X-Forwarded-For: 1.1.1.1, 2.2.2.2, 10.1.2.3\r\n" in parsed.head
    assert parsed.head.count(b"X-Forwarded-Proto") == 1
    assert b"X-Forwarded-Proto: http\r\n" in parsed.head


def test_framing_of_request_bodies():
    by_length = request(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12")
    chunked = request(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked")
    empty = request(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0")

    assert (by_length.framing, by_length.length, by_length.idempotent) == (http1.LENGTH, 12, False)
    assert chunked.framing == http1.CHUNKED
    assert b"Transfer-Encoding: gzip, chunked\r\n" in chunked.head  # bodies are relayed as they are
    assert empty.framing == http1.NO_BODY


def test_connection_close_and_http_1_0_end_the_client_connection():
    assert not request(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Close").keep_alive
    old = request(b"GET / HTTP/1.0")
    assert not old.keep_alive
    assert not old.http11
    assert old.head.endswith(b"Connection: close\r\n\r\n")


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip", 400),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\n folded: value", 400),
        (b"GET / HTTP/1.1\r\nHost: a\nX-Bare: lf", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-Nul: \x00", 400),
        (b"GET / HTTP/1.1", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b", 400),
        (b"GET  / HTTP/1.1\r\nHost: a", 400),
        (b"GET / FTP/1.1\r\nHost: a", 400),
        (b"GET / HTTP/2.0\r\nHost: a", 505),
        (b"CONNECT shop:443 HTTP/1.1\r\nHost: shop:443", 501),
    ],
)
def test_ambiguous_or_malformed_requests_are_refused(head: bytes, status: int):
    assert refused(head) == status


def test_multiple_equal_content_lengths_are_one():
    assert request(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7, 7\r\nContent-Length: 7").length == 7


def test_an_upgrade_request_goes_upstream_with_its_connection_and_upgrade_fields():
    parsed = request(b"GET /chat HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\nX: 1")

    assert parsed.upgrade
    assert parsed.keep_alive
    assert parsed.head == (
        b"GET /chat HTTP/1.1\r\nHost: a\r\nX: 1\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n"
        b"X-Forwarded-For: 10.1.2.3\r\nX-Forwarded-Proto: http\r\n\r\n"
    )


@pytest.mark.parametrize(
    "head",
    [
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket",  # Connection does not name it
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade",  # nothing to switch to
        b"GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket",
        b"POST / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: h2c\r\nContent-Length: 2",
    ],
)
def test_other_requests_naming_an_upgrade_are_ordinary_and_lose_the_fields(head: bytes):
    parsed = request(head)

    assert not parsed.upgrade
    assert b"pgrade" not in parsed.head


# -- response heads


def response(head: bytes, *, head_request: bool = False) -> http1.Response:
    return http1.parse_response(head, head_request)


def test_a_response_keeps_its_end_to_end_fields_and_loses_hop_by_hop_ones():
    parsed = response(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-A: 1"
    )

    assert parsed.head == b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n"
    assert (parsed.status, parsed.framing, parsed.length, parsed.reusable) == (200, http1.LENGTH, 5, True)


@pytest.mark.parametrize(
    ("head", "head_request", "framing"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5", True, http1.NO_BODY),
        (b"HTTP/1.1 204 No Content", False, http1.NO_BODY),
        (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5", False, http1.NO_BODY),
        (b"HTTP/1.1 100 Continue", False, http1.NO_BODY),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0", False, http1.NO_BODY),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked", False, http1.CHUNKED),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip", False, http1.UNTIL_CLOSE),
        (b"HTTP/1.1 200 OK", False, http1.UNTIL_CLOSE),
    ],
)
def test_response_framing_follows_the_request_and_the_status(head: bytes, head_request: bool, framing: int):
    assert response(head, head_request=head_request).framing == framing


def test_a_response_ended_by_close_or_asking_to_close_is_not_reused():
    assert not response(b"HTTP/1.1 200 OK").reusable
    assert not response(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close").reusable


def test_an_http_1_0_response_is_relayed_as_http_1_1_and_reused_only_when_kept_alive():
    old = response(b"HTTP/1.0 200 OK\r\nContent-Length: 1")
    kept = response(b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive")

    assert old.head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert not old.reusable
    assert kept.reusable


def test_a_101_keeps_its_connection_and_upgrade_fields():
    switched = response(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-X: k")
    unnamed = response(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade")

    assert switched.upgrade
    assert switched.kept == (
        b"HTTP/1.1 101 Switching Protocols\r\nSec-X: k\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    )
    assert not unnamed.upgrade  # a 101 must say what it switched to


@pytest.mark.parametrize(
    ("head", "verbatim"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1", True),
        (b"HTTP/1.1 204 No Content", True),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=5", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2", False),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked", False),
    ],
)
def test_a_response_head_is_verbatim_only_when_the_client_gets_the_upstreams_bytes(head: bytes, verbatim: bool):
    parsed = response(head)

    assert parsed.verbatim == verbatim
    assert (parsed.kept == head + b"\r\n\r\n") == verbatim
    assert parsed.closing == parsed.head + b"Connection: close\r\n\r\n"


def test_transfer_encoding_overrides_content_length_in_a_response():
    parsed = response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked")

    assert parsed.framing == http1.CHUNKED
    assert b"Content-Length" not in parsed.head


@pytest.mark.parametrize(
    "head",
    [b"HTTP/1.1 20 OK", b"HTTP/2 200 OK", b"HTTP/1.1 200 OK\r\nBroken", b"HTTP/1.1 200 OK\r\nContent-Length: x"],
)
def test_a_malformed_response_is_a_bad_gateway(head: bytes):
    with pytest.raises(http1.HttpError) as caught:
        response(head)
    assert caught.value.status == 502


def test_error_responses_are_small_plain_text():
    raw = http1.error_response(502, "no upstream", close=True)

    assert raw == (
        b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 12\r\n"
        b"Connection: close\r\n\r\nno upstream\n"
    )


# -- the head cache


GET = b"GET / HTTP/1.1\r\nHost: shop\r\n\r\n"


def test_a_cached_head_serves_only_the_same_bytes_from_the_same_client():
    cache = heads.HeadCache(http1.parse_request)

    first = cache.parse(GET, b"10.0.0.1")
    again = cache.parse(bytes(bytearray(GET)), b"10.0.0.1")  # equal bytes, another object
    other_client = cache.parse(GET, b"10.0.0.2")
    other_host = cache.parse(GET.replace(b"shop", b"shoq"), b"10.0.0.1")

    assert again is first
    assert b"X-Forwarded-For: 10.0.0.2\r\n" in other_client.head
    assert b"Host: shoq\r\n" in other_host.head
    assert b"Host: shop\r\n" in cache.parse(GET, b"10.0.0.1").head
    assert len(cache) == 3


def test_a_cached_response_depends_on_whether_the_request_was_head():
    cache = heads.HeadCache(http1.parse_response)
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"

    assert cache.parse(head, False).framing == http1.LENGTH
    assert cache.parse(head, True).framing == http1.NO_BODY


def test_the_head_cache_is_bounded_and_drops_the_least_recently_used():
    cache = heads.HeadCache(http1.parse_request, entries=3)
    paths = [b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % number for number in range(4)]
    parsed = [cache.parse(path, CLIENT) for path in paths[:3]]
    assert cache.parse(paths[0], CLIENT) is parsed[0]  # used again: now the most recent

    cache.parse(paths[3], CLIENT)  # /1 goes, the least recently used

    assert len(cache) == 3
    assert cache.parse(paths[0], CLIENT) is parsed[0]
    assert cache.parse(paths[2], CLIENT) is parsed[2]
    assert cache.parse(paths[1], CLIENT) is not parsed[1]
    assert len(cache) == 3


def test_large_heads_and_refused_heads_are_not_kept():
    cache = heads.HeadCache(http1.parse_request, max_bytes=64)
    large = b"GET / HTTP/1.1\r\nHost: a\r\nCookie: " + b"c" * 64 + b"\r\n\r\n"

    assert cache.parse(large, CLIENT) is not cache.parse(large, CLIENT)
    for _ in range(2):
        with pytest.raises(http1.HttpError):
            cache.parse(b"GET / HTTP/1.1\r\n\r\n", CLIENT)  # no Host: refused every time
    assert len(cache) == 0
    with pytest.raises(ValueError, match="room"):
        heads.HeadCache(http1.parse_request, entries=0)


# -- bodies


CHUNKED = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"


def test_a_chunked_body_ends_after_its_trailers_whatever_the_pieces():
    whole = http1.ChunkedBody(400)
    assert whole.feed(CHUNKED + b"NEXT") == len(CHUNKED)
    assert whole.done

    bytewise = http1.ChunkedBody(400)
    taken = sum(bytewise.feed(CHUNKED[index : index + 1]) for index in range(len(CHUNKED)))
    assert taken == len(CHUNKED)
    assert bytewise.done


def test_a_chunked_body_is_not_done_before_its_last_chunk():
    body = http1.ChunkedBody(400)

    assert body.feed(b"5\r\nhel") == 6
    assert not body.done


@pytest.mark.parametrize("raw", [b"zz\r\n", b"5\r\nhelloXY", b"5\nhello\r\n", b"1" * 5000])
def test_malformed_chunks_are_refused(raw: bytes):
    with pytest.raises(http1.HttpError) as caught:
        http1.ChunkedBody(502).feed(raw)
    assert caught.value.status == 502


def test_a_length_body_takes_exactly_its_length():
    body = http1.LengthBody(5)

    assert body.feed(b"abc") == 3
    assert not body.done
    assert body.feed(b"defgh") == 2
    assert body.done


# -- choosing a version and a backend


def balancer(seed: int = 7, **versions: int) -> Balancer:
    chosen = Balancer(random.Random(seed))
    for index, version in enumerate(versions):
        chosen.set_backends(version, [("127.0.0.1", 9000 + index)])
    chosen.set_weights(versions)
    return chosen


def split(chosen: Balancer, count: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _ in range(count):
        backend = chosen.choose()
        assert backend is not None
        counts[backend.version] = counts.get(backend.version, 0) + 1
    return counts


def test_a_10_90_split_over_2000_requests_is_within_three_standard_deviations():
    counts = split(balancer(v1=10, v2=90), 2000)

    assert abs(counts["v1"] - 200) <= 40  # sigma = sqrt(2000 * 0.1 * 0.9) ~ 13.4
    assert counts["v1"] + counts["v2"] == 2000


def test_the_split_is_reproducible_with_a_seed_and_weights_are_relative():
    assert split(balancer(3, v1=1, v2=9), 500) == split(balancer(3, v1=10, v2=90), 500)


def test_zero_weights_drains_and_missing_backends_take_no_requests():
    chosen = balancer(v1=0, v2=100, v3=50)
    chosen.set_backends("v3", [])
    assert split(chosen, 50) == {"v2": 50}

    chosen.drain("v2")
    assert chosen.choose() is None
    chosen.undrain("v2")
    assert split(chosen, 5) == {"v2": 5}


def test_weights_are_replaced_whole_and_checked():
    chosen = balancer(v1=100, v2=0)
    chosen.set_weights({"v2": 1})

    assert chosen.weights() == {"v2": 1}
    assert split(chosen, 10) == {"v2": 10}
    with pytest.raises(ValueError, match="v1"):
        chosen.set_weights({"v1": -1})


def test_backends_are_chosen_round_robin():
    chosen = Balancer(random.Random(1))
    chosen.set_backends("v1", [("127.0.0.1", 1), ("127.0.0.1", 2), ("127.0.0.1", 3)])
    chosen.set_weights({"v1": 1})

    ports = [backend.address[1] for backend in (chosen.choose() for _ in range(6)) if backend is not None]

    assert ports == [1, 2, 3, 1, 2, 3]


def test_least_connections_prefers_the_backend_with_fewest_requests_in_flight():
    chosen = Balancer(random.Random(1), "least_connections")
    chosen.set_backends("v1", [("127.0.0.1", 1), ("127.0.0.1", 2)])
    chosen.set_weights({"v1": 1})
    busy = chosen.backends("v1")[0]
    busy.in_flight = 3

    assert {chosen.choose().address[1] for _ in range(4)} == {2}  # type: ignore[union-attr]


def test_replacing_backends_keeps_the_ones_that_stay():
    chosen = balancer(v1=1)
    kept = chosen.backends("v1")[0]
    chosen.set_backends("v1", [kept.address, ("127.0.0.1", 9100)])

    assert chosen.backends("v1")[0] is kept


def test_limits_must_be_positive():
    with pytest.raises(ValueError, match="read_timeout"):
        Limits(read_timeout=0)


# -- traffic counters


def test_percentiles_are_nearest_rank_in_milliseconds():
    traffic = VersionTraffic()
    for milliseconds in range(1, 101):
        traffic.requests += 1
        traffic.record(milliseconds / 1000)
    traffic.errors = 5

    stats = traffic.snapshot()

    assert stats == TrafficStats(requests=100, errors=5, in_flight=0, p50_ms=50.0, p99_ms=99.0)
    assert stats.error_rate == 0.05


def test_latency_samples_are_a_bounded_ring_of_the_most_recent():
    traffic = VersionTraffic(samples=10)
    for milliseconds in range(1, 21):
        traffic.record(milliseconds / 1000)

    assert traffic.snapshot().p50_ms == 15.0  # the ring holds 11..20


def test_reset_starts_a_new_window_but_keeps_requests_in_flight():
    traffic = VersionTraffic()
    traffic.requests, traffic.errors, traffic.in_flight = 4, 1, 2
    traffic.record(0.5)

    traffic.reset()

    assert traffic.snapshot() == TrafficStats(requests=0, errors=0, in_flight=2, p50_ms=0.0, p99_ms=0.0)
    assert TrafficStats(0, 0, 0, 0.0, 0.0).error_rate == 0.0
