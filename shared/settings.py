"""Settings every service reads from its environment (pydantic-settings).

The names are plain environment variables (`KAFKA_BOOTSTRAP_SERVERS`, `DATABASE_URL`, ...) so
that operators set the same words in a shell, docker-compose and a Kubernetes Deployment.
"""

from __future__ import annotations

from functools import lru_cache
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

from shared.consultation_settings import ConsultationSettings
from shared.crypto.keyring import KeyRing, open_key_ring
from shared.federation.settings import FederationSettings
from shared.kafka_settings import KafkaSettings
from shared.reference.localities import locality_codes

# `consultation` (视频会商, services/consultation) is built like the four but is no stage of an
# application's pipeline (SERVICES): it starts after them and nothing waits on it.
ServiceName = Literal["intake", "routing", "approval", "delivery", "consultation"]
SERVICES: tuple[ServiceName, ...] = ("intake", "routing", "approval", "delivery")
DEFAULT_PORTS: dict[str, int] = {
    "intake": 8001,
    "routing": 8002,
    "approval": 8003,
    "delivery": 8004,
    "carrier": 8005,  # the carrier simulator (tooling/carrier_simulator/) of local runs
    "console": 8006,  # the operator console (services/console)
    "portal": 8007,  # the applicants' portal (services/portal, 全程网办)
    "sms": 8008,  # the SMS gateway simulator (tooling/sms_gateway/) of local runs
    "federation": 8010,  # the federation gateway (services/federation; HTTPS, mutual TLS)
    "consultation": 8011,  # 视频会商收件 and 视频核验 (services/consultation)
}


# Public in this repository, so usable only in development mode (Settings.fail_closed).
DEVELOPMENT_KEY_RING_SECRET = "tongban-local-development-key-ring-secret"
DEVELOPMENT_PII_DIGEST_KEY = "tongban-local-development-digest-key"
DEVELOPMENT_CARRIER_WEBHOOK_SECRET = "tongban-local-development-carrier-webhook-secret"
DEVELOPMENT_PORTAL_SECRET = "tongban-local-development-portal-secret"
DEVELOPMENT_SMS_REPORT_SECRET = "tongban-local-development-sms-report-secret"


def _oidc_levels() -> dict[str, Literal[2, 3]]:
    return {"L2": 2, "L3": 3}


class InsecureConfiguration(RuntimeError):
    """A service outside development mode was given no secret, or a development default."""


class Settings(KafkaSettings, ConsultationSettings, FederationSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # The PostgreSQL *server*; each service uses its own database on it (tongban_<service>),
    # unless <SERVICE>_DATABASE_URL names one explicitly.
    database_url: str = "postgresql+asyncpg://tongban@127.0.0.1:5432/postgres"
    intake_database_url: str | None = None
    routing_database_url: str | None = None
    approval_database_url: str | None = None
    delivery_database_url: str | None = None

    # `development` (what `make run` and the tests set) lets a service start on the built-in
    # development secrets and sign its own tokens' key; anything else fails closed: a service
    # refuses to start while a secret is missing or still the development default.
    tongban_env: Literal["development", "production"] = "production"

    # Bearer tokens (asymmetric, EdDSA or ES256) are checked against the issuer's JWKS:
    # JWT_JWKS_URL (any OIDC provider, e.g. Keycloak's .../protocol/openid-connect/certs) or,
    # in development only, the key ring's `token-issuer` key that `tongban token` signs with.
    jwt_jwks_url: str | None = None
    jwt_issuer: str = "tongban"
    # The audience this service accepts (each service's own, in its environment).
    jwt_audience: str = "tongban"
    # A token living longer than this (exp - iat) is refused, whoever signed it.
    jwt_max_lifetime_minutes: float = Field(default=12 * 60, gt=0)
    # The JWKS is fetched off the event loop and given at most this long (a provider that hangs
    # holds no request longer); it is fetched again in the background after this long, while
    # the keys held go on verifying (shared.auth.IssuerKeys).
    jwt_jwks_timeout_seconds: float = Field(default=2.0, gt=0)
    jwt_jwks_refresh_seconds: float = Field(default=300.0, gt=0)

    # The key ring: this workload's own private keys (event signatures, the localities' seals
    # an approval group serves, personal-data keys; shared.crypto.keyring). KEY_RING_SECRET is
    # stretched with scrypt, or taken as 256 random bits when it is 64 hex characters.
    key_ring_dir: str = ".tongban/keys"
    # The public keys every verifier trusts: the trust list the province key authority signs
    # (`tongban keys issue`), and that authority's public key it is checked against. Neither is
    # written by a service; by default both are in KEY_RING_DIR (where development makes them).
    trust_list: str | None = None
    trust_anchor: str | None = None
    # The registry of service-hall windows (CSV: window_id,locality,name); the built-in one
    # gives every locality windows W<code>-01..09 (shared.reference.windows).
    windows_file: str | None = None
    key_ring_secret: SecretStr = SecretStr(DEVELOPMENT_KEY_RING_SECRET)
    # Keys the ID-number digests in events (approval) and at hand-over (delivery).
    pii_digest_key: SecretStr = SecretStr(DEVELOPMENT_PII_DIGEST_KEY)

    # Localities whose approval topics this approval instance consumes; empty means all known.
    approval_localities: Annotated[list[str], NoDecode] = Field(default_factory=list)
    approval_consumer_group: str = "tongban.approval"
    # A claimed case left idle this long is free for another approver of the locality.
    claim_lapse_minutes: float = 240
    # How often approval looks for cases due a deadline warning or overdue (限时办结).
    deadline_scan_seconds: float = 60
    # A window whose hand-overs were refused this often within this many minutes is stopped
    # (429) until the older refusals age out: ID numbers are not guessed at a counter.
    handover_max_failures: int = Field(default=5, ge=1)
    handover_failure_window_minutes: float = Field(default=15, gt=0)
    # How often routing signs and publishes a checkpoint of its audit ledger's head (when the
    # head moved since the last one), and after how many entries appended it does so sooner:
    # entries are not signed one by one, so the tail after the latest checkpoint is held by the
    # hash chain alone until the next one (contracts/audit-ledger.md).
    ledger_checkpoint_seconds: float = Field(default=2.0, gt=0)
    ledger_checkpoint_entries: int = Field(default=500, ge=1)
    # How often routing verifies the entries appended since its last verification (in the
    # background; the console shows the last verdict and its time).
    ledger_verify_seconds: float = Field(default=30.0, gt=0)
    # `tongban audit watch`'s own store of the checkpoints it saw (DATABASE_URL with the
    # database tongban_audit unless given): never routing's database.
    audit_watch_database_url: str | None = None

    # A fallback only: commits that add outbox rows wake the relay of their own process at once
    # (shared.messaging.outbox); the poll finds rows that another process wrote.
    outbox_poll_seconds: float = 5.0
    consumer_max_attempts: int = 4
    consumer_backoff_seconds: float = 0.2
    # A consumer task that dies is started again after this long, doubled at each failure in a
    # row (at most a minute); after `consumer_restart_limit` failures in a row it is given up
    # and the service's liveness fails, so the orchestrator restarts the whole process.
    consumer_restart_backoff_seconds: float = Field(default=1.0, gt=0)
    consumer_restart_limit: int = Field(default=5, ge=1)
    # Housekeeping of the outbox and inbox tables (shared.messaging.relay.prune).
    prune_interval_seconds: float = Field(default=600.0, gt=0)
    # Sent outbox rows are kept a while for operators to look into; unsent or parked ones always.
    outbox_retention_hours: float = Field(default=24.0, ge=0)
    # An inbox row is what turns a redelivered event into a no-op: it must outlive any window in
    # which the event can come again (a consumer group rewound, a topic replayed after an
    # outage), so well beyond the topics' retention (Kafka's default: 7 days).
    inbox_retention_days: float = Field(default=14.0, ge=0)

    otel_exporter_otlp_endpoint: str | None = None
    # A span per SQL statement (asyncpg's instrumentation), besides those per request and per
    # event: for looking into a slow query; off by default, as it costs CPU on every statement.
    telemetry_sql_spans: bool = False
    log_level: str = "INFO"
    # One log line per request; the traces already record every request, so off by default.
    access_log: bool = False
    # Connections of each service process to its database (a fixed pool, no overflow).
    database_pool_size: int = 10
    # The largest request body a service reads (413 beyond): a window's application is a few
    # kilobytes; this keeps one request from growing an event past what the broker accepts.
    max_request_body_bytes: int = 256 * 1024
    # Scans of materials (收件转交), content-addressed: a folder (a path, or a file:// URL) by
    # default, any S3-compatible store with s3://bucket and the options below. Intake writes,
    # approval reads; both must point at the same store.
    blob_store_url: str = ".tongban/blobs"
    blob_store_endpoint: str | None = None
    blob_store_region: str | None = None
    blob_store_access_key_id: str | None = None
    blob_store_secret_access_key: SecretStr | None = None
    blob_store_allow_http: bool = False
    # The largest scan a window may upload (API.md: 20 MiB); 413 beyond.
    max_scan_bytes: int = 20 * 1024 * 1024

    # Where the public reaches delivery: the QR code of a printed certificate carries
    # <PUBLIC_BASE_URL>/v1/certificates/<no>/verify?code=<its verification code>.
    public_base_url: str = "http://127.0.0.1:8004"
    # Public verification (GET /v1/certificates/{no}/verify, no token): requests per minute
    # from one client address, counted in delivery's database (shared by its processes).
    verify_rate_limit_per_minute: int = Field(default=60, ge=1)
    # Proxies in front of delivery (CIDRs, comma-separated: the ingress, a load balancer) whose
    # X-Forwarded-For names the client; none by default: the peer address is the client.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # 免证办 and validity: years a certificate is valid from its issue date when the catalog
    # item says nothing (0: without limit, 长期有效).
    certificate_valid_years: int = Field(default=0, ge=0, le=100)

    # 邮政寄递: the carrier's HTTP API (the simulator of local runs by default), and the secret
    # its webhooks (POST /v1/carrier/events) are signed with (HMAC-SHA256 of the raw body).
    carrier_base_url: str = "http://127.0.0.1:8005"
    carrier_name: str = "sim-post"
    carrier_webhook_secret: SecretStr = SecretStr(DEVELOPMENT_CARRIER_WEBHOOK_SECRET)
    carrier_timeout_seconds: float = Field(default=5.0, gt=0)
    # Attempts of one call before the dispatch waits for the next round of the dispatcher.
    carrier_max_attempts: int = Field(default=3, ge=1)
    # How often delivery's dispatcher looks for dispatches to hand to the carrier.
    carrier_poll_seconds: float = Field(default=2.0, gt=0)

    # 短信: the SMS gateway's HTTP API (the simulator of local runs by default; shared.sms), and
    # the secret its delivery reports are signed with (HMAC-SHA256, hex, X-Tongban-Signature).
    sms_gateway_url: str = "http://127.0.0.1:8008"
    sms_report_secret: SecretStr = SecretStr(DEVELOPMENT_SMS_REPORT_SECRET)
    sms_timeout_seconds: float = Field(default=5.0, gt=0)

    # The operator console (services/console) calls the services' APIs at these addresses,
    # with the operator's own token; JAEGER_UI_URL (e.g. http://127.0.0.1:16686) links an
    # application's trace id to its trace there.
    intake_url: str = "http://127.0.0.1:8001"
    routing_url: str = "http://127.0.0.1:8002"
    approval_url: str = "http://127.0.0.1:8003"
    delivery_url: str = "http://127.0.0.1:8004"
    jaeger_ui_url: str | None = None
    supervisor_state_file: Path | None = None  # make run's restarts, shown on the overview

    # The applicants' portal (services/portal): its own database (DATABASE_URL with the
    # database tongban_portal unless given); its secret, which keys the one-time codes' hashes,
    # the session cookies' signatures and the client digests; the registry of residents it
    # signs in against (CSV id_number,name,phone; the built-in one has the sample applicants);
    # and its own credential towards intake and delivery (a bearer token of the role `portal`
    # from the identity provider; in development the portal signs one itself).
    portal_database_url: str | None = None
    portal_secret: SecretStr = SecretStr(DEVELOPMENT_PORTAL_SECRET)
    portal_residents_file: str | None = None
    portal_service_token: SecretStr | None = None
    # A province's own identity provider (统一身份认证, OpenID Connect) in place of the built-in
    # sign-in by SMS code (services/portal/oidc.py, contracts/portal.md). Set the issuer and the
    # portal signs applicants in there only (authorization code flow with PKCE): the ID number
    # comes from the ID token's claim PORTAL_OIDC_ID_CLAIM, the level from
    # PORTAL_OIDC_LEVEL_CLAIM through PORTAL_OIDC_LEVELS (the claim's value → 2 or 3; any
    # other value is refused). The redirect URI registered with the provider is
    # PORTAL_OIDC_REDIRECT_URL, or this portal's own /signin/oidc/callback as requested.
    portal_oidc_issuer: str | None = None
    portal_oidc_client_id: str | None = None
    portal_oidc_client_secret: SecretStr | None = None
    portal_oidc_id_claim: str = "id_number"
    portal_oidc_level_claim: str = "acr"
    portal_oidc_levels: dict[str, Literal[2, 3]] = Field(default_factory=_oidc_levels)
    portal_oidc_scope: str = "openid"
    portal_oidc_redirect_url: str | None = None
    portal_oidc_timeout_seconds: float = Field(default=10.0, gt=0)

    @property
    def development(self) -> bool:
        return self.tongban_env == "development"

    def insecure_settings(self, service: str | None = None) -> list[str]:
        """What keeps this configuration (of `service`, when given) from running outside
        development mode."""
        problems = []
        if self.key_ring_secret.get_secret_value() in ("", DEVELOPMENT_KEY_RING_SECRET):
            problems.append("KEY_RING_SECRET is missing or the public development default")
        if self.pii_digest_key.get_secret_value() in ("", DEVELOPMENT_PII_DIGEST_KEY):
            problems.append("PII_DIGEST_KEY is missing or the public development default")
        if not self.jwt_jwks_url:
            problems.append(
                "JWT_JWKS_URL is not set (the issuer's JWKS that tokens are checked against)"
            )
        # Only delivery takes the carrier's webhooks; anyone knowing the secret can fake them.
        if service == "delivery" and self.carrier_webhook_secret.get_secret_value() in (
            "",
            DEVELOPMENT_CARRIER_WEBHOOK_SECRET,
        ):
            problems.append("CARRIER_WEBHOOK_SECRET is missing or the public development default")
        if service == "portal":
            if self.portal_secret.get_secret_value() in ("", DEVELOPMENT_PORTAL_SECRET):
                problems.append("PORTAL_SECRET is missing or the public development default")
            if self.portal_service_token is None:
                problems.append("PORTAL_SERVICE_TOKEN is not set (the portal's own credential)")
            issuer = self.portal_oidc_issuer
            # The ID token's keys and the code exchange travel over this: never in clear.
            if issuer and not issuer.startswith("https://"):
                problems.append("PORTAL_OIDC_ISSUER is not an https:// URL")
        # Only the portal takes the SMS gateway's delivery reports.
        if service == "portal" and self.sms_report_secret.get_secret_value() in (
            "",
            DEVELOPMENT_SMS_REPORT_SECRET,
        ):
            problems.append("SMS_REPORT_SECRET is missing or the public development default")
        return problems

    def fail_closed(self, what: str, service: str | None = None) -> None:
        """Refuse to go on outside development mode while a secret (of `service`, when given)
        is missing or a default."""
        if self.development:
            return
        problems = self.insecure_settings(service)
        if problems:
            raise InsecureConfiguration(
                f"{what} refuses to start outside development mode (TONGBAN_ENV="
                f"{self.tongban_env}): " + "; ".join(problems) + ". Set them (see README, "
                "'Production configuration'), or set TONGBAN_ENV=development on a developer's "
                "machine."
            )

    def key_ring(self) -> KeyRing:
        return open_key_ring(
            self.key_ring_dir,
            self.key_ring_secret.get_secret_value(),
            self.development,
            self.trust_list,
            self.trust_anchor,
        )

    def served_localities(self) -> list[str]:
        """The localities this approval instance serves (APPROVAL_LOCALITIES, or all known)."""
        return sorted(self.approval_localities or locality_codes())

    def check_keys(self, service: str) -> None:
        """Outside development, refuse to start (KeyRingError, naming them) while the key ring
        lacks a key `service` will need or the trust list does not verify."""
        from shared.crypto.workloads import WORKLOADS, check_workload_keys

        if service in WORKLOADS:
            localities = self.served_localities() if service == "approval" else ()
            check_workload_keys(self.key_ring(), service, localities)

    def blob_store_options(self) -> tuple[str, dict[str, str]]:
        """The blob store's URL and its options, as `BlobStore.from_url` takes them."""
        url = self.blob_store_url
        if "://" not in url:
            return Path(url).resolve().as_uri(), {}
        options = {
            "endpoint": self.blob_store_endpoint,
            "region": self.blob_store_region,
            "access_key_id": self.blob_store_access_key_id,
            "secret_access_key": (
                self.blob_store_secret_access_key.get_secret_value()
                if self.blob_store_secret_access_key
                else None
            ),
            "allow_http": "true" if self.blob_store_allow_http else None,
        }
        return url, {name: value for name, value in options.items() if value}

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        # "10.0.0.0/8,fd00::/8" in the environment.
        if isinstance(value, str):
            value = [cidr.strip() for cidr in value.split(",") if cidr.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ip_network(cidr, strict=False)  # ValueError: not an address or network
        return value

    @field_validator("approval_localities", mode="before")
    @classmethod
    def _split_codes(cls, value: object) -> object:
        # "340100,340500" in the environment; NoDecode keeps pydantic-settings from JSON-parsing it.
        if isinstance(value, str):
            return [code.strip() for code in value.split(",") if code.strip()]
        return value

    def service_database_url(self, service: ServiceName) -> str:
        explicit: str | None = getattr(self, f"{service}_database_url")
        if explicit:
            return explicit
        return with_database(self.database_url, database_name(service))

    def portal_database(self) -> str:
        """The URL of the portal's own database."""
        return self.portal_database_url or with_database(self.database_url, PORTAL_DATABASE)

    def audit_watch_database(self) -> str:
        """The URL of `tongban audit watch`'s own database."""
        return self.audit_watch_database_url or with_database(self.database_url, AUDIT_DATABASE)


# `tongban audit watch`'s store: a database of its own, which routing's credentials do not reach.
AUDIT_DATABASE = "tongban_audit"
PORTAL_DATABASE = "tongban_portal"


def with_database(server_url: str, database: str) -> str:
    """The URL of `database` on the server that `server_url` points at."""
    return make_url(server_url).set(database=database).render_as_string(hide_password=False)


def database_name(service: ServiceName) -> str:
    return f"tongban_{service}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
