"""The host the local router serves (``network.domain``): what a request's Host names, and whether it matches."""

from __future__ import annotations

import pytest

from uno.deployment.adapters.platforms.local import hosts


@pytest.mark.parametrize(
    ("head", "host"),
    [
        (b"GET / HTTP/1.1\r\nHost: Shop.Example.Test\r\n\r\n", "shop.example.test"),
        (b"GET / HTTP/1.1\r\nAccept: */*\r\nhost:shop.example.test:8443 \r\n\r\n", "shop.example.test"),
        (b"GET / HTTP/1.1\r\nHost: shop.example.test.\r\n\r\n", "shop.example.test"),
        (b"GET / HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n", "[::1]"),
        (b"GET / HTTP/1.0\r\n\r\n", None),
        (b"GET / HTTP/1.1\r\nX-Host: shop.example.test\r\n\r\n", None),
    ],
)
def test_the_host_a_request_names(head, host):
    assert hosts.host_of(head) == host


@pytest.mark.parametrize(
    ("domain", "host", "served"),
    [
        ("shop.example.test", "shop.example.test", True),
        ("shop.example.test", "other.example.test", False),
        ("shop.example.test", None, False),
        ("*.example.test", "shop.example.test", True),
        ("*.example.test", "a.shop.example.test", False),
        ("*.example.test", "example.test", False),
    ],
)
def test_only_the_domain_is_served(domain, host, served):
    assert hosts.matches(domain, host) is served
