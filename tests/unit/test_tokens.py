"""Bearer tokens: asymmetric, from the issuer's keys only, for this audience, short-lived; a
verified token is not verified again, but never outlives its expiry."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from shared import auth
from shared.auth import decode_token, mint_token
from shared.errors import ApiError
from shared.settings import DEVELOPMENT_KEY_RING_SECRET, InsecureConfiguration, Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(tongban_env="development", key_ring_dir=str(tmp_path / "keys"))


def clerk_token(settings: Settings, ttl: timedelta = timedelta(hours=1)) -> str:
    return mint_token(
        settings, role="window_clerk", locality="341200", window_id="W341200-01", ttl=ttl
    )


async def refused(settings: Settings, token: str) -> bool:
    try:
        await decode_token(settings, token)
    except ApiError as error:
        assert error.status_code == 401
        return True
    return False


async def test_the_same_token_is_verified_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real_decode = jwt.decode

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real_decode(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(auth.jwt, "decode", counting)
    token = clerk_token(settings)
    first, again = await decode_token(settings, token), await decode_token(settings, token)
    assert first == again and first.window_id == "W341200-01"
    assert len(calls) == 1


async def test_a_verified_token_is_refused_once_it_has_expired(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = clerk_token(settings, ttl=timedelta(minutes=5))
    assert (await decode_token(settings, token)).role == "window_clerk"
    later = auth.time.time() + 600
    monkeypatch.setattr(auth.time, "time", lambda: later)
    # PyJWT reads its own clock; ten minutes on, it would answer this.
    monkeypatch.setattr(auth.jwt, "decode", _expired)
    assert await refused(settings, token)


def _expired(*_: object, **__: object) -> object:
    raise jwt.ExpiredSignatureError("expired")


async def test_a_tampered_copy_of_a_verified_token_is_refused(settings: Settings) -> None:
    token = clerk_token(settings)
    await decode_token(settings, token)
    header, claims, signature = token.split(".")
    tampered = f"{header}.{claims}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    assert await refused(settings, tampered)


def _claims(**overrides: object) -> dict[str, object]:
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": "intruder",
        "role": "admin",
        "locality": "340000",
        "iss": "tongban",
        "aud": "tongban",
        "iat": now,
        "exp": now + timedelta(hours=1),
    }
    return {**claims, **overrides}


async def test_a_token_signed_with_the_old_shared_development_secret_is_refused(
    settings: Settings,
) -> None:
    # The attack of the old design: anyone who read the public default secret was an admin.
    forged = jwt.encode(_claims(), "tongban-local-development-secret-change-me", "HS256")
    assert await refused(settings, forged)
    unsigned = jwt.encode(_claims(), "", algorithm="none")
    assert await refused(settings, unsigned)


async def test_a_token_from_another_key_ring_or_for_another_audience_is_refused(
    settings: Settings, tmp_path: Path
) -> None:
    elsewhere = Settings(tongban_env="development", key_ring_dir=str(tmp_path / "other"))
    assert await refused(settings, clerk_token(elsewhere))
    for_delivery = Settings(
        tongban_env="development", key_ring_dir=settings.key_ring_dir, jwt_audience="delivery"
    )
    assert not await refused(for_delivery, clerk_token(for_delivery))
    assert await refused(settings, clerk_token(for_delivery))


async def test_a_token_living_longer_than_allowed_is_refused(settings: Settings) -> None:
    assert await refused(settings, clerk_token(settings, ttl=timedelta(days=30)))
    assert not await refused(settings, clerk_token(settings, ttl=timedelta(hours=12)))


class _Jwks(BaseHTTPRequestHandler):
    body = b""
    # Set: the provider takes the request and never answers (until the test ends).
    hanging = threading.Event()
    released = threading.Event()

    def do_GET(self) -> None:
        if self.hanging.is_set():
            self.released.wait(60)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def identity_provider() -> Iterator[tuple[str, ec.EllipticCurvePrivateKey]]:
    """An OIDC provider's JWKS endpoint with one ES256 key, as Keycloak would serve it."""
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    _Jwks.body = json.dumps({"keys": [{**jwk, "kid": "idp-1", "alg": "ES256"}]}).encode()
    _Jwks.hanging.clear()
    _Jwks.released.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Jwks)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/certs", key
    _Jwks.released.set()
    server.shutdown()


async def test_production_trusts_the_identity_providers_jwks_and_not_the_development_key(
    settings: Settings, identity_provider: tuple[str, ec.EllipticCurvePrivateKey]
) -> None:
    url, key = identity_provider
    production = Settings(
        tongban_env="production",
        key_ring_dir=settings.key_ring_dir,
        jwt_jwks_url=url,
        jwt_issuer="https://idp.example.gov.cn/realms/anhui",
        jwt_audience="tongban-intake",
    )
    token = jwt.encode(
        _claims(
            role="approver",
            iss="https://idp.example.gov.cn/realms/anhui",
            aud="tongban-intake",
        ),
        key,
        algorithm="ES256",
        headers={"kid": "idp-1"},
    )
    assert (await decode_token(production, token)).role == "approver"
    # The development issuer's key is in the key ring, but production never trusts it.
    assert await refused(production, clerk_token(settings))


async def test_a_hanging_identity_provider_holds_no_request_and_unknown_keys_fail_fast(
    identity_provider: tuple[str, ec.EllipticCurvePrivateKey],
) -> None:
    url, key = identity_provider
    issuer = "https://idp.example.gov.cn/realms/anhui"
    production = Settings(
        tongban_env="production",
        jwt_jwks_url=url,
        jwt_issuer=issuer,
        jwt_audience="tongban-delivery",
        jwt_jwks_timeout_seconds=0.5,
        jwt_jwks_refresh_seconds=0.1,
    )

    def token(sub: str, kid: str = "idp-1") -> str:
        # Another subject each time: a token verified before would not need the key again.
        claims = _claims(role="approver", sub=sub, iss=issuer, aud="tongban-delivery")
        return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})

    # A key id unknown to the JWKS is looked up again after a second instead of ten.
    auth.issuer_keys(production).retry_unknown = 1.0
    assert (await decode_token(production, token("before"))).role == "approver"
    _Jwks.hanging.set()
    await asyncio.sleep(1.1)  # the keys held are due for a refresh, which will hang

    # The event loop stays free: a ticker sees no gap while requests come in.
    gaps: list[float] = []

    async def tick() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.005)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    try:
        started = time.monotonic()
        for n in range(20):
            assert (await decode_token(production, token(f"during-{n}"))).role == "approver"
        # Served with the keys held: none of them waited on the provider.
        assert time.monotonic() - started < 0.4

        # A key the provider never named: refused, waiting at most the timeout once (on the
        # refresh already under way), and at once after that.
        started = time.monotonic()
        assert await refused(production, token("forged", kid="idp-forged"))
        assert time.monotonic() - started < 0.5 + 0.3
        started = time.monotonic()
        assert await refused(production, token("forged-again", kid="idp-forged-2"))
        assert time.monotonic() - started < 0.1

        # The refresh gave up on the provider: the keys held still verify.
        assert (await decode_token(production, token("after"))).role == "approver"
    finally:
        ticker.cancel()
    assert gaps and max(gaps) < 0.2


def test_outside_development_a_service_refuses_to_start_on_default_secrets() -> None:
    with pytest.raises(InsecureConfiguration) as refusal:
        Settings(tongban_env="production").fail_closed("The intake service")
    message = str(refusal.value)
    for setting in ("KEY_RING_SECRET", "PII_DIGEST_KEY", "JWT_JWKS_URL"):
        assert setting in message
    with pytest.raises(InsecureConfiguration):
        Settings(
            tongban_env="production",
            key_ring_secret=DEVELOPMENT_KEY_RING_SECRET,
            pii_digest_key="a-real-secret",
            jwt_jwks_url="https://idp/certs",
        ).fail_closed("The intake service")
    Settings(
        tongban_env="production",
        key_ring_secret="a-real-secret",
        pii_digest_key="another-real-secret",
        jwt_jwks_url="https://idp/certs",
    ).fail_closed("The intake service")


def test_tokens_are_minted_locally_only_in_development(settings: Settings) -> None:
    with pytest.raises(RuntimeError, match="development"):
        clerk_token(settings.model_copy(update={"tongban_env": "production"}))


async def test_a_token_claiming_a_wildcard_locality_is_refused(settings: Settings) -> None:
    # "%" would have matched every locality's cases in a LIKE filter.
    for claim in ("%", "34%", "3401__"):
        token = mint_token(settings, role="approver", locality=claim)
        assert await refused(settings, token)


def test_locality_patterns_match_literally() -> None:
    from shared.reference.localities import within_pattern

    assert within_pattern("340000") == "34%"
    assert within_pattern("340100") == "3401%"
    assert within_pattern("340104") == "340104"
    assert within_pattern("%") == "\\%"
    assert within_pattern("3401_%") == "3401\\_\\%"
