"""Mutual TLS between gateways: this gateway's certificate and key (FEDERATION_TLS_CERT,
FEDERATION_TLS_KEY) serve its HTTPS and authenticate its own requests to partners; the CA
bundle (FEDERATION_TLS_CA) is what a partner's certificate must chain to, both ways. A gateway
never speaks plain HTTP across the border: without the three it refuses to start."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from shared.settings import Settings


class TlsNotConfigured(RuntimeError):
    pass


@dataclass(frozen=True)
class TlsFiles:
    cert: str
    key: str
    ca: str

    @classmethod
    def of(cls, settings: Settings) -> TlsFiles:
        cert, key, ca = (
            settings.federation_tls_cert,
            settings.federation_tls_key,
            settings.federation_tls_ca,
        )
        if not (cert and key and ca):
            raise TlsNotConfigured(
                "The federation gateway speaks only HTTPS with mutual TLS: set "
                "FEDERATION_TLS_CERT, FEDERATION_TLS_KEY and FEDERATION_TLS_CA."
            )
        return cls(cert, key, ca)

    def client_context(self) -> ssl.SSLContext:
        """For requests to partners: their certificate checked against the CA bundle (and the
        host name of the anchor's URL), ours presented."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=self.ca)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert, self.key)
        return context

    def server_options(self) -> dict[str, object]:
        """uvicorn's options: a client without a certificate from the CA bundle is refused in
        the handshake, before any HTTP."""
        return {
            "ssl_certfile": self.cert,
            "ssl_keyfile": self.key,
            "ssl_ca_certs": self.ca,
            "ssl_cert_reqs": ssl.CERT_REQUIRED,
        }
