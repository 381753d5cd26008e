"""The served name: requests for another host are refused, as an ingress with a host rule does.

With ``network.domain`` set, the router serves that name only (over TLS or not). A
request whose ``Host`` names another host, or names none, is answered ``421 Misdirected
Request`` and never reaches a replica: the application would otherwise answer for any
name pointed at this machine. The port in ``Host`` is not compared (clients send it only
when it is not the scheme's default). A wildcard domain (``*.example.com``) matches one
label in its place, as a certificate's does.
"""

from __future__ import annotations

import re
from typing import Final

_HOST: Final = re.compile(rb"\r\nhost:[ \t]*([^\r\n]*?)[ \t]*\r\n", re.IGNORECASE)


def host_of(head: bytes) -> str | None:
    """The host a request head names (lowercase, no port, no final dot), or None without one."""
    found = _HOST.search(head)
    if found is None:
        return None
    value = found.group(1).decode("latin-1").lower()
    bracketed = value.startswith("[")  # an IPv6 literal: [::1]:8443
    name = value[: value.find("]") + 1] if bracketed else value.partition(":")[0]
    return name.rstrip(".") or None


def matches(domain: str, host: str | None) -> bool:
    """Whether ``host`` is ``domain`` (or one of the names a ``*.`` domain stands for)."""
    if host is None:
        return False
    if domain.startswith("*."):
        label, _, rest = host.partition(".")
        return bool(label) and rest == domain[2:]
    return host == domain
