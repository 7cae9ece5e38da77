"""The federation gateway's settings (contracts/federation.md), a part of `shared.settings.Settings`
(which inherits them), kept here so each module stays readable."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings
from sqlalchemy.engine import make_url

FEDERATION_DATABASE = "tongban_federation"


class FederationSettings(BaseSettings):
    # Declared again by Settings (the same default): the server the gateway's database is on.
    database_url: str = "postgresql+asyncpg://tongban@127.0.0.1:5432/postgres"

    # 跨省通办: the federation gateway (services/federation, contracts/federation.md). Its own
    # database (DATABASE_URL with tongban_federation unless given); the folder of the partner
    # provinces' anchors the operators imported (`tongban federation trust add`); the URL and
    # name this province's anchor gives partners; its TLS certificate and key, and the CA
    # bundle partners' gateways' certificates are checked against (both ways: mutual TLS).
    federation_database_url: str | None = None
    federation_trust_dir: str = ".tongban/federation/trusted"
    federation_gateway_url: str = "https://127.0.0.1:8010"
    federation_province_name: str = "安徽省"
    federation_tls_cert: str | None = None
    federation_tls_key: str | None = None
    federation_tls_ca: str | None = None
    # A message sent longer ago (or later) than this by the receiver's clock is refused.
    federation_max_skew_seconds: float = Field(default=300.0, gt=0)
    # The sender looks for due messages this often (a new message wakes it at once), waits at
    # most this long for a partner's answer, and retries after base * 2^attempts, at most max.
    federation_poll_seconds: float = Field(default=1.0, gt=0)
    federation_send_timeout_seconds: float = Field(default=5.0, gt=0)
    federation_retry_base_seconds: float = Field(default=0.5, gt=0)
    # Kafka inside the province (services/federation/bridge.py): read what routing hands over,
    # publish the message log the audit ledger chains. Off only for a gateway run alone.
    federation_kafka: bool = True
    federation_retry_max_seconds: float = Field(default=60.0, gt=0)

    def federation_database(self) -> str:
        """The URL of the federation gateway's own database."""
        return self.federation_database_url or make_url(self.database_url).set(
            database=FEDERATION_DATABASE
        ).render_as_string(hide_password=False)
