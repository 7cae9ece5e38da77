"""How every Tongban HTTP server speaks HTTP: HTTP/1.1, with an upgrade offer ignored.

Java's `java.net.http.HttpClient` (and Spring's RestClient) default to HTTP/2 and, on
`http://`, offer it in-band: `Connection: Upgrade, HTTP2-Settings`, `Upgrade: h2c`. A server
may ignore the offer and answer in HTTP/1.1 (RFC 9110 §7.8), which is what uvicorn means to
do; but with httptools, llhttp stops parsing at the end of the headers of any request offering
an upgrade, so the body never reaches the application and every POST answers 422 "body: Field
required" (uvicorn issue 2722). `IgnoreUpgradeProtocol` keeps httptools' parser and, when an
upgrade is offered that it will not make, parses the same request again without the offer, so
its body is read like any other's.

Every server passes `HTTP_PROTOCOL` as uvicorn's `http=` (`tongban serve`, the tests' stack,
the benchmarks, the carrier simulator).
"""

from __future__ import annotations

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# Connection tokens that only mean something together with the upgrade being dropped.
_UPGRADE_TOKENS = frozenset({b"upgrade", b"http2-settings"})


class IgnoreUpgradeProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering a request that offers an upgrade it does not
    make (h2c; websocket without a websocket library) as the plain HTTP/1.1 request it also is.
    """

    _declined_upgrade = False

    def on_message_begin(self) -> None:
        self._declined_upgrade = False
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        offered = self.parser.should_upgrade() and self._get_upgrade() is not None
        if offered and not self._should_upgrade():
            # llhttp skips the body of an upgrade request: start nothing now, the request is
            # parsed again without the offer (data_received).
            self._declined_upgrade = True
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._declined_upgrade:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._declined_upgrade:
            super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            message = "Invalid HTTP request received."
            self.logger.warning(message)
            self.send_400_response(message)
        except httptools.HttpParserUpgrade as upgrade:
            if self._declined_upgrade:
                (offset,) = upgrade.args
                self._parse_again_without_upgrade(data[offset:])
            elif self._should_upgrade():
                self.handle_websocket_upgrade()
            else:  # pragma: no cover - every declined upgrade takes the first branch
                self._unsupported_upgrade_warning()

    def _parse_again_without_upgrade(self, rest: bytes) -> None:
        """Feed a fresh parser the request's head without `Upgrade` (and without the
        connection tokens that go with it), then whatever followed the head: the body, and
        any pipelined request after it. Later data goes to the fresh parser as well."""
        head = [self.parser.get_method(), b" ", self.url, b" HTTP/"]
        head.append(self.parser.get_http_version().encode("ascii") + b"\r\n")
        for name, value in self.headers:
            if name in (b"upgrade", b"http2-settings"):
                continue
            if name == b"connection":
                tokens = [t.strip() for t in value.split(b",")]
                value = b", ".join(t for t in tokens if t.lower() not in _UPGRADE_TOKENS)
                if not value:
                    continue
            head += [name, b": ", value, b"\r\n"]
        head.append(b"\r\n")
        self.parser = httptools.HttpRequestParser(self)
        self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self._feed(b"".join(head) + rest)


# uvicorn's `http=` for every Tongban server.
HTTP_PROTOCOL = IgnoreUpgradeProtocol
