"""HTTP/1.1 messages for the router: heads parsed with bytes operations, bodies framed as they stream.

The router relays bodies byte for byte and only needs to know where each message ends
(RFC 9112, section 6), so a body is never decoded or held here: a framer is fed the bytes
as they arrive and says how many of them still belong to the message.

Invariants:
- A head is parsed whole, from its first line to the empty line that ends it.
- What would let the router and a server disagree on where a message ends is refused, not
  repaired: Content-Length together with Transfer-Encoding on a request, Content-Lengths
  that differ, a Transfer-Encoding whose last coding is not chunked on a request, whitespace
  before a colon, obsolete line folding, a bare CR or LF, a malformed chunk line.
- Hop-by-hop fields (Connection and the fields it names, Keep-Alive, Proxy-*, TE, Trailer,
  Upgrade) never cross the router. Transfer-Encoding does: bodies keep their framing, so
  the field is still true on the next hop. The one exception is an upgrade: a bodiless
  HTTP/1.1 request whose Connection names ``upgrade`` goes upstream with ``Connection:
  Upgrade`` and its Upgrade field, and a 101 comes back with them.
- A response's framing depends on its request: HEAD, 1xx, 204 and 304 have no body.
- A parsed head is a pure function of its bytes (and of the client's address, or of whether
  the request was HEAD), and is never changed once made, so one parse can serve every head
  with the same bytes (``heads``).
"""

from __future__ import annotations

import re
from typing import Final

CRLF: Final = b"\r\n"
HEAD_END: Final = b"\r\n\r\n"
CLOSE_END: Final = b"Connection: close\r\n\r\n"

# how a message's body ends
NO_BODY: Final = 0
LENGTH: Final = 1
CHUNKED: Final = 2
UNTIL_CLOSE: Final = 3

IDEMPOTENT_METHODS: Final = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})
MAX_CHUNK_LINE: Final = 4096
MAX_TRAILERS: Final = 64 * 1024

_TCHAR = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
_REQUEST_LINE: Final = re.compile(_TCHAR + rb"+ [\x21-\x7e\x80-\xff]+ HTTP/[0-9]\.[0-9]")
_STATUS_LINE: Final = re.compile(rb"HTTP/1\.[01] [0-9]{3}(?: [\t\x20-\x7e\x80-\xff]*)?")
# every field line: a token, a colon, visible characters, spaces and tabs (no CR, LF or NUL, no folding)
_FIELD_LINES: Final = re.compile(rb"(?:\r\n" + _TCHAR + rb"+:[\t\x20-\x7e\x80-\xff]*)*")
_HOP_BY_HOP = rb"connection|keep-alive|proxy-connection|te|trailer|upgrade|proxy-authenticate|proxy-authorization"
# the fields the router reads, searched in the lowercased head
_RESPONSE_NOTED: Final = re.compile(rb"\r\n(content-length|transfer-encoding|" + _HOP_BY_HOP + rb"):[ \t]*([^\r\n]*)")
_REQUEST_NOTED: Final = re.compile(
    rb"\r\n(content-length|transfer-encoding|host|x-forwarded-for|x-forwarded-proto|"
    + _HOP_BY_HOP
    + rb"):[ \t]*([^\r\n]*)"
)
# the Upgrade field as sent (its protocol names are case-insensitive, but relayed as they came)
_UPGRADE: Final = re.compile(rb"\r\nupgrade:[ \t]*([^\r\n]*)", re.IGNORECASE)
_HEX: Final = re.compile(rb"[0-9A-Fa-f]{1,16}")
_REASONS: Final = {
    400: b"Bad Request",
    408: b"Request Timeout",
    414: b"URI Too Long",
    421: b"Misdirected Request",
    431: b"Request Header Fields Too Large",
    501: b"Not Implemented",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
    504: b"Gateway Timeout",
    505: b"HTTP Version Not Supported",
}


class HttpError(Exception):
    """A message the router will not relay; ``status`` is what the client is answered."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str, *, close: bool) -> bytes:
    """A small plain-text response the router writes itself."""
    body = message.encode() + b"\n"
    connection = b"Connection: close\r\n" if close else b""
    reason = _REASONS.get(status, b"Error")
    return b"HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n%s\r\n%s" % (
        status,
        reason,
        len(body),
        connection,
        body,
    )


class Request:
    """A request head as it goes upstream (``head``, ending with the empty line) and its framing.

    ``upgrade`` is true when the client asks to switch protocols (``Connection: upgrade``).
    """

    __slots__ = ("framing", "head", "http11", "idempotent", "is_head", "keep_alive", "length", "upgrade")

    def __init__(
        self, head: bytes, method: bytes, http11: bool, framing: int, length: int, keep_alive: bool, upgrade: bool
    ) -> None:
        self.head = head
        self.http11 = http11
        self.framing = framing
        self.length = length
        self.keep_alive = keep_alive
        self.upgrade = upgrade
        self.is_head = method == b"HEAD"
        self.idempotent = method in IDEMPOTENT_METHODS


class Response:
    """A response head: ``head`` is the status line and end-to-end fields, each ending with CRLF.

    The caller ends it: ``kept`` is the head ended for a client connection that stays open,
    ``closing`` the head ended with ``Connection: close``. ``verbatim`` says that ``kept`` is
    exactly the upstream's head, empty line included, so those bytes can be relayed as they
    are. ``upgrade`` marks a 101 that names the protocol switched to (its head keeps
    ``Connection: Upgrade`` and ``Upgrade``).
    """

    __slots__ = ("closing", "framing", "head", "kept", "length", "reusable", "status", "upgrade", "verbatim")

    def __init__(
        self, status: int, head: bytes, framing: int, length: int, reusable: bool, block: bytes, upgrade: bool = False
    ) -> None:
        self.status = status
        self.head = head
        self.framing = framing
        self.length = length
        self.reusable = reusable
        self.kept = head + CRLF
        self.closing = head + CLOSE_END
        self.verbatim = len(self.kept) == len(block) + 4 and self.kept.startswith(block)
        self.upgrade = upgrade


def parse_request(block: bytes, client: bytes) -> Request:
    """Parse a request head (``block`` is everything before its empty line); ``client`` is the peer's address."""
    line_end = _line_end(block)
    if not _REQUEST_LINE.fullmatch(block, 0, line_end):
        raise HttpError(400, "malformed request line")
    method, _, version = block[:line_end].split(b" ")
    if version not in (b"HTTP/1.1", b"HTTP/1.0"):
        raise HttpError(505, "only HTTP/1.0 and HTTP/1.1 are supported")
    if method == b"CONNECT":
        raise HttpError(501, "CONNECT is not supported")
    http11 = version == b"HTTP/1.1"
    fields = _Fields(block, line_end, _REQUEST_NOTED, 400)
    framing, length = _request_framing(fields, http11)
    if fields.hosts > 1 or (http11 and fields.hosts == 0):
        raise HttpError(400, "a request needs exactly one Host field")
    forwarded = client if fields.forwarded_for is None else fields.forwarded_for + b", " + client
    ending = (
        b"\r\nX-Forwarded-Proto: http\r\n\r\n"
        if http11
        else b"\r\nX-Forwarded-Proto: http\r\nConnection: close\r\n\r\n"
    )
    upgrade = http11 and framing == NO_BODY and fields.upgrade and fields.says(b"upgrade")
    passed = fields.passed()
    if upgrade:
        passed += b"\r\nConnection: Upgrade\r\nUpgrade: " + _upgrade_value(block)
    head = passed + b"\r\nX-Forwarded-For: " + forwarded + ending
    keep_alive = http11 and not fields.says(b"close")
    return Request(head, method, http11, framing, length, keep_alive, upgrade)


def parse_response(block: bytes, head_request: bool) -> Response:
    """Parse a response head (``block`` is everything before its empty line)."""
    line_end = _line_end(block)
    if not _STATUS_LINE.fullmatch(block, 0, line_end):
        raise HttpError(502, "the upstream sent a malformed status line")
    status = int(block[9:12])
    fields = _Fields(block, line_end, _RESPONSE_NOTED, 502)
    framing, length = _response_framing(fields, status, head_request)
    if block[7] == 0x30:  # HTTP/1.0
        reusable = framing != UNTIL_CLOSE and fields.says(b"keep-alive")
        head = b"HTTP/1.1" + fields.passed(drop_length=fields.codings is not None)[8:] + CRLF
    else:
        reusable = framing != UNTIL_CLOSE and not fields.says(b"close")
        head = fields.passed(drop_length=fields.codings is not None) + CRLF
    upgrade = status == 101 and fields.upgrade
    if upgrade:
        head += b"Connection: Upgrade\r\nUpgrade: " + _upgrade_value(block) + CRLF
    return Response(status, head, framing, length, reusable, block, upgrade)


def _upgrade_value(block: bytes) -> bytes:
    return b", ".join(value.strip(b" \t") for value in _UPGRADE.findall(block))


def _line_end(block: bytes) -> int:
    end = block.find(CRLF)
    return len(block) if end < 0 else end


class _Fields:
    """The header fields of one head: those the router reads, and the head without those it drops.

    One regular expression checks every line, another finds the fields the router reads
    in the lowercased head: a head is split into lines only when fields must be dropped.
    """

    __slots__ = (
        "block",
        "codings",
        "connection",
        "dropped",
        "forwarded_for",
        "hosts",
        "length",
        "lowered",
        "status",
        "upgrade",
    )

    def __init__(self, block: bytes, start: int, noted: re.Pattern[bytes], status: int) -> None:
        if not _FIELD_LINES.fullmatch(block, start):
            raise HttpError(status, "malformed header field")
        self.block = block
        self.lowered = block.lower()
        self.status = status
        self.dropped: set[bytes] | None = None
        self.length = -1
        self.codings: bytes | None = None
        self.connection: list[bytes] | None = None
        self.forwarded_for: bytes | None = None
        self.upgrade = False
        self.hosts = 0
        for name, value in noted.findall(self.lowered, start):
            if name == b"host":  # the common cases first, without a call
                self.hosts += 1
            elif name == b"content-length" and self.length < 0 and value.isdigit() and len(value) <= 18:
                self.length = int(value)
            else:
                self._note(name, value.strip(b" \t"))

    def _note(self, name: bytes, value: bytes) -> None:
        if name == b"content-length":
            self._content_length(value)
        elif name == b"transfer-encoding":
            self.codings = value if self.codings is None else self.codings + b"," + value
        else:  # hop-by-hop, or X-Forwarded-*, which the router writes itself
            if self.dropped is None:
                self.dropped = set()
            self.dropped.add(name)
            if name == b"x-forwarded-for":
                self.forwarded_for = value if self.forwarded_for is None else self.forwarded_for + b", " + value
            elif name == b"connection":
                tokens = [token.strip(b" \t") for token in value.split(b",")]
                self.connection = tokens if self.connection is None else self.connection + tokens
            elif name == b"upgrade":
                self.upgrade = self.upgrade or bool(value)

    def _content_length(self, value: bytes) -> None:
        for item in value.split(b","):
            digits = item.strip(b" \t")
            if not digits.isdigit() or len(digits) > 18 or (self.length >= 0 and int(digits) != self.length):
                raise HttpError(self.status, "invalid Content-Length")
            self.length = int(digits)

    def says(self, token: bytes) -> bool:
        return self.connection is not None and token in self.connection

    def passed(self, drop_length: bool = False) -> bytes:
        """The head without the dropped fields, the fields Connection names, and Content-Length if asked."""
        if self.dropped is None and not drop_length:
            return self.block  # Connection is one of the dropped fields: nothing is named either
        names = set(self.dropped or ())
        names.update(self.connection or ())
        if drop_length:
            names.add(b"content-length")
        lines = self.block.split(CRLF)
        kept = [line for line in lines[1:] if line[: line.find(b":")].lower() not in names]
        return CRLF.join([lines[0], *kept])


def _request_framing(fields: _Fields, http11: bool) -> tuple[int, int]:
    if fields.codings is not None:
        if not http11 or fields.length >= 0:
            raise HttpError(400, "Transfer-Encoding with Content-Length or on HTTP/1.0")
        if not _chunked_last(fields.codings):
            raise HttpError(400, "a request's last transfer coding must be chunked")
        return CHUNKED, -1
    if fields.length > 0:
        return LENGTH, fields.length
    return NO_BODY, 0


def _response_framing(fields: _Fields, status: int, head_request: bool) -> tuple[int, int]:
    if head_request or status < 200 or status in (204, 304):
        return NO_BODY, 0
    if fields.codings is not None:
        return (CHUNKED, -1) if _chunked_last(fields.codings) else (UNTIL_CLOSE, -1)
    if fields.length > 0:
        return LENGTH, fields.length
    if fields.length == 0:
        return NO_BODY, 0
    return UNTIL_CLOSE, -1


def _chunked_last(codings: bytes) -> bool:
    names = [name.strip(b" \t").lower() for name in codings.split(b",")]
    return names[-1] == b"chunked" and names.count(b"chunked") == 1


class LengthBody:
    """A body of Content-Length bytes."""

    __slots__ = ("done", "remaining")

    def __init__(self, length: int) -> None:
        self.remaining = length
        self.done = length == 0

    def feed(self, data: bytes) -> int:
        """How many bytes of ``data`` belong to the body."""
        size = len(data)
        if size < self.remaining:
            self.remaining -= size
            return size
        taken, self.remaining, self.done = self.remaining, 0, True
        return taken


class UntilCloseBody:
    """A response body that ends when the upstream closes its connection."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = False

    def feed(self, data: bytes) -> int:
        return len(data)


_SIZE, _DATA, _DATA_END, _TRAILER, _DONE = range(5)


class ChunkedBody:
    """A chunked body, relayed as it is: chunk lines are read only to find the end."""

    __slots__ = ("done", "line", "remaining", "state", "status", "trailers")

    def __init__(self, status: int) -> None:
        self.status = status  # answered when the chunks are malformed: 400 for requests, 502 for responses
        self.state = _SIZE
        self.remaining = 0
        self.line = b""
        self.trailers = 0
        self.done = False

    def feed(self, data: bytes) -> int:
        """How many bytes of ``data`` belong to the body; sets ``done`` at its last byte."""
        position, size = 0, len(data)
        while position < size and not self.done:
            if self.state == _DATA:
                taken = min(self.remaining, size - position)
                position += taken
                self.remaining -= taken
                if not self.remaining:
                    self.state, self.remaining = _DATA_END, 2
            elif self.state == _DATA_END:
                position = self._data_end(data, position)
            else:
                position = self._line(data, position)
        return position

    def _data_end(self, data: bytes, position: int) -> int:
        expected = b"\r\n"[2 - self.remaining]
        if data[position] != expected:
            raise HttpError(self.status, "malformed chunked body")
        self.remaining -= 1
        if not self.remaining:
            self.state = _SIZE
        return position + 1

    def _line(self, data: bytes, position: int) -> int:
        end = data.find(b"\n", position)
        if end < 0:
            self.line += data[position:]
            if len(self.line) > MAX_CHUNK_LINE:
                raise HttpError(self.status, "chunk line too long")
            return len(data)
        line, self.line = self.line + data[position : end + 1], b""
        if not line.endswith(CRLF) or b"\r" in line[:-2]:
            raise HttpError(self.status, "malformed chunk line")
        if self.state == _SIZE:
            self._size_line(line)
        else:
            self._trailer_line(line)
        return end + 1

    def _size_line(self, line: bytes) -> None:
        digits = line[:-2].split(b";", 1)[0].strip(b" \t")
        if not _HEX.fullmatch(digits):
            raise HttpError(self.status, "malformed chunk size")
        self.remaining = int(digits, 16)
        self.state = _DATA if self.remaining else _TRAILER

    def _trailer_line(self, line: bytes) -> None:
        self.trailers += len(line)
        if self.trailers > MAX_TRAILERS:
            raise HttpError(self.status, "trailers too large")
        if line == CRLF:
            self.state, self.done = _DONE, True


Framer = LengthBody | ChunkedBody | UntilCloseBody


def framer(framing: int, length: int, status: int) -> Framer | None:
    """The framer for a message's body, or None when it has none."""
    if framing == LENGTH:
        return LengthBody(length)
    if framing == CHUNKED:
        return ChunkedBody(status)
    if framing == UNTIL_CLOSE:
        return UntilCloseBody()
    return None
