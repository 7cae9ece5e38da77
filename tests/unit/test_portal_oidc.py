"""Sign-in through a province's identity provider (services/portal/oidc.py), without I/O: an ID
token is taken only when its signature, issuer, audience, lifetime and this login's nonce hold;
the ID number becomes the same keyed digest the built-in sign-in makes, and only a mapped level
signs in; the login's cookie is signed and short-lived. (tests/integration/test_portal_oidc.py
signs in through the provider simulator over HTTP.)"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from services.portal import oidc
from services.portal.domain import Level
from services.portal.residents import load_residents
from shared.errors import Unavailable
from shared.settings import Settings

ISSUER = "https://idp.example.gov.cn/realms/anhui"
CLIENT = "tongban-portal"
NONCE = "nonce-of-this-login"
SECRET = b"portal-test-secret"
DIGEST_KEY = b"digest-key-of-the-tests"
ZHANG = "340104199005170018"  # in the built-in registry of residents
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
CONFIG = oidc.Config(
    issuer=ISSUER,
    client_id=CLIENT,
    client_secret=None,
    id_claim="id_number",
    level_claim="acr",
    levels={"urn:anhui:loa:2": Level.L2, "urn:anhui:loa:3": Level.L3},
    scope="openid",
    redirect_url=None,
    timeout=5,
)


def id_token(key: Any = RSA_KEY, algorithm: str = "RS256", **changes: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": "subject-1",
        "aud": CLIENT,
        "iat": now,
        "exp": now + 300,
        "nonce": NONCE,
        "id_number": ZHANG,
        "acr": "urn:anhui:loa:3",
    } | changes
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm=algorithm)


def check(token: str, key: Any = None) -> dict[str, Any]:
    return oidc.check_id_token(
        token, key or RSA_KEY.public_key(), issuer=ISSUER, client_id=CLIENT, nonce=NONCE
    )


@pytest.mark.parametrize(("key", "algorithm"), [(RSA_KEY, "RS256"), (EC_KEY, "ES256")])
def test_a_token_signed_by_the_provider_for_this_login_is_taken(key: Any, algorithm: str) -> None:
    claims = check(id_token(key, algorithm), key.public_key())
    assert claims["sub"] == "subject-1"


def test_a_token_for_several_audiences_is_taken_only_when_authorized_for_this_client() -> None:
    both = [CLIENT, "another-app"]
    assert check(id_token(aud=both, azp=CLIENT))["azp"] == CLIENT
    with pytest.raises(oidc.OidcRefused, match="azp"):
        check(id_token(aud=both))


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(id_token(nonce="another-login"), id="nonce of another login"),
        pytest.param(id_token(nonce=None), id="no nonce"),
        pytest.param(id_token(aud="another-app"), id="another audience"),
        pytest.param(id_token(iss="https://idp.example.com"), id="another issuer"),
        pytest.param(
            id_token(iat=int(time.time()) - 900, exp=int(time.time()) - 300), id="expired"
        ),
        pytest.param(id_token(exp=None), id="no expiry"),
        pytest.param(
            id_token(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            id="signed by another key",
        ),
        pytest.param(id_token()[:-8] + "AAAAAAAA", id="signature altered"),
        pytest.param(jwt.encode({"iss": ISSUER}, "", algorithm="none"), id="alg none"),
    ],
)
def test_any_other_token_is_refused(token: str) -> None:
    with pytest.raises(oidc.OidcRefused):
        check(token)


def test_a_token_signed_with_the_public_key_as_an_hmac_secret_is_refused() -> None:
    """The algorithm-confusion forgery: HS256 is no algorithm the portal takes."""
    pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256"}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps({"iss": ISSUER}).encode()).rstrip(b"=")
    signature = hmac.new(pem, header + b"." + body, hashlib.sha256).digest()
    forged = b".".join([header, body, base64.urlsafe_b64encode(signature).rstrip(b"=")])
    with pytest.raises(oidc.OidcRefused):
        check(forged.decode())


def test_the_applicant_is_the_same_digest_the_built_in_sign_in_makes() -> None:
    claims = check(id_token(id_number=" ３４０１０４１９９００５１７００１８ "))
    applicant, level = oidc.identify(claims, CONFIG, DIGEST_KEY)
    assert applicant == load_residents(None, DIGEST_KEY).digest(ZHANG)
    assert ZHANG not in applicant and level is Level.L3
    l2 = oidc.identify(check(id_token(acr="urn:anhui:loa:2")), CONFIG, DIGEST_KEY)
    assert l2 == (applicant, Level.L2)


@pytest.mark.parametrize("acr", [None, "urn:anhui:loa:1", "L3", 3])
def test_a_level_the_settings_do_not_map_signs_nobody_in(acr: Any) -> None:
    with pytest.raises(oidc.OidcRefused) as refused:
        oidc.identify(check(id_token(acr=acr)), CONFIG, DIGEST_KEY)
    assert refused.value.message == oidc.LEVEL_REFUSED
    assert ZHANG not in refused.value.reason


@pytest.mark.parametrize("number", [None, "", "   ", 340104199005170018, "1" * 33])
def test_a_token_without_an_id_number_signs_nobody_in(number: Any) -> None:
    with pytest.raises(oidc.OidcRefused, match="id_number"):
        oidc.identify(check(id_token(id_number=number)), CONFIG, DIGEST_KEY)


def test_the_pkce_challenge_is_rfc_7636s() -> None:
    # RFC 7636, Appendix B.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert oidc.code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_the_login_cookie_gives_back_only_its_own_fresh_login() -> None:
    pending = oidc.Pending(next="/guides/GA-HJ-001/apply")
    sealed = oidc.seal(SECRET, pending)
    assert "=" not in sealed and oidc.unseal(SECRET, sealed) == pending
    assert pending.state != oidc.Pending(next="/").state  # fresh each login
    assert len(pending.verifier) >= 43  # RFC 7636's minimum
    body, mac = sealed.split(".")
    other = oidc.seal(SECRET, oidc.Pending(next="/")).split(".")[0]
    assert oidc.unseal(SECRET, f"{other}.{mac}") is None
    assert oidc.unseal(b"another-secret", sealed) is None
    assert oidc.unseal(SECRET, body) is None
    expired = oidc.Pending(next="/", expires=int(time.time()) - 1)
    assert oidc.unseal(SECRET, oidc.seal(SECRET, expired)) is None


def test_the_settings_name_the_provider_and_its_levels() -> None:
    assert oidc.Config.from_settings(Settings()) is None  # the built-in sign-in
    settings = Settings(
        portal_oidc_issuer=ISSUER,
        portal_oidc_client_id=CLIENT,
        portal_oidc_levels={"urn:anhui:loa:3": 3},
        portal_oidc_scope="profile",
    )
    config = oidc.Config.from_settings(settings)
    assert config is not None and config.levels == {"urn:anhui:loa:3": Level.L3}
    assert config.scope == "openid profile"
    with pytest.raises(RuntimeError, match="PORTAL_OIDC_CLIENT_ID"):
        oidc.Config.from_settings(Settings(portal_oidc_issuer=ISSUER))
    with pytest.raises(ValueError):
        Settings(portal_oidc_levels={"urn:anhui:loa:1": 1})


def test_outside_development_the_provider_is_reached_over_https_only() -> None:
    plain = Settings(portal_oidc_issuer="http://idp.example.gov.cn", portal_oidc_client_id=CLIENT)
    secure = plain.model_copy(update={"portal_oidc_issuer": ISSUER})
    assert "PORTAL_OIDC_ISSUER is not an https:// URL" in plain.insecure_settings("portal")
    assert "PORTAL_OIDC_ISSUER is not an https:// URL" not in secure.insecure_settings("portal")


def discovery_answering(status: int, body: dict[str, Any]) -> oidc.Provider:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url == f"{ISSUER}/.well-known/openid-configuration"
        return httpx.Response(status, json=body)

    return oidc.Provider(CONFIG, httpx.AsyncClient(transport=httpx.MockTransport(answer)))


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, {}),
        # Another issuer's document (OpenID Connect Discovery 4.3): not this provider.
        (200, {"issuer": "https://idp.example.com", "authorization_endpoint": "x"}),
    ],
)
async def test_a_provider_that_cannot_describe_itself_is_unavailable_not_trusted(
    status: int, body: dict[str, Any]
) -> None:
    provider = discovery_answering(status, body)
    with pytest.raises(Unavailable):
        await provider.authorization_url(oidc.Pending(next="/"), "https://portal/cb")
    await provider.aclose()


async def test_the_way_to_the_provider_asks_for_a_code_with_pkce_state_and_nonce() -> None:
    provider = discovery_answering(
        200,
        {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/protocol/openid-connect/auth",
            "token_endpoint": f"{ISSUER}/protocol/openid-connect/token",
            "jwks_uri": f"{ISSUER}/protocol/openid-connect/certs",
        },
    )
    pending = oidc.Pending(next="/")
    url = httpx.URL(await provider.authorization_url(pending, "https://portal/cb"))
    await provider.aclose()
    assert str(url).startswith(f"{ISSUER}/protocol/openid-connect/auth?")
    assert dict(url.params) == {
        "response_type": "code",
        "client_id": CLIENT,
        "redirect_uri": "https://portal/cb",
        "scope": "openid",
        "state": pending.state,
        "nonce": pending.nonce,
        "code_challenge": oidc.code_challenge(pending.verifier),
        "code_challenge_method": "S256",
    }
