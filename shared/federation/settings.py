"""The federation gateway's settings (contracts/federation.md), a part of `shared.settings.Settings`
(which inherits them), kept here so each module stays readable."""

from __future__ import annotations

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings
from sqlalchemy.engine import make_url

from shared.reference.localities import PROVINCE

FEDERATION_DATABASE = "tongban_federation"


class ProvinceSettings(BaseSettings):
    # The province this Tongban serves. Chosen at import by shared.reference.localities (its
    # localities and catalog files are read then), from TONGBAN_PROVINCE or PROVINCE; a setting
    # naming another (say PROVINCE in .env, TONGBAN_PROVINCE in the shell) stops the start.
    province: str = Field(
        default=PROVINCE, validation_alias=AliasChoices("tongban_province", "province")
    )

    @field_validator("province")
    @classmethod
    def _the_province_the_data_is_of(cls, value: str) -> str:
        if value != PROVINCE:
            raise ValueError(
                f"the province {value} is not {PROVINCE}, whose reference data this process "
                "read: set TONGBAN_PROVINCE (and PROVINCE, if set) in its environment"
            )
        return value


class FederationSettings(ProvinceSettings):
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
    # The largest scan the gateway sends or accepts on request (a `scan` message carries it in
    # base64, so the gateway takes requests of about 4/3 of it); intake's MAX_SCAN_BYTES.
    federation_max_scan_bytes: int = Field(default=20 * 1024 * 1024, gt=0)

    def federation_max_message_bytes(self, other_requests: int) -> int:
        """The largest request body the gateway takes: a scan in base64 and its envelope, or
        `other_requests` (the services' limit) if that is more."""
        return max(other_requests, (self.federation_max_scan_bytes + 2) // 3 * 4 + 64 * 1024)

    def federation_database(self) -> str:
        """The URL of the federation gateway's own database."""
        return self.federation_database_url or make_url(self.database_url).set(
            database=FEDERATION_DATABASE
        ).render_as_string(hide_password=False)
