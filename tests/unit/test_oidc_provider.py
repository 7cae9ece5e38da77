"""The identity provider simulator (tooling/oidc_provider) holds a client to what a real provider
does, so the portal's tests prove something: a code is taken once, only with the PKCE verifier
of its challenge, the redirect URI it was issued for and the client's secret; its ID tokens
verify against its own JWKS; a spoiling order spoils the next token only."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from services.portal.oidc import code_challenge
from tooling.oidc_provider.app import Client, create_app

ISSUER = "http://idp.test"
CLIENT = Client("portal", "client-secret")
REDIRECT = "http://portal.test/signin/oidc/callback"
VERIFIER = "v" * 43


@pytest.fixture
async def idp() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(ISSUER, CLIENT, algorithm="ES256"))
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as http:
        yield http


async def a_code(idp: httpx.AsyncClient, id_number: str = "340104199005170018") -> str:
    query = {
        "response_type": "code",
        "client_id": CLIENT.client_id,
        "redirect_uri": REDIRECT,
        "state": "state-1",
        "nonce": "nonce-1",
        "code_challenge": code_challenge(VERIFIER),
        "code_challenge_method": "S256",
    }
    page = await idp.get("/authorize", params=query)
    assert page.status_code == 200
    form = dict(re.findall(r'type="hidden" name="([a-z_]+)" value="([^"]*)"', page.text))
    answer = await idp.post("/authorize", data={**form, "id_number": id_number, "level": "L3"})
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?") and "state=state-1" in location
    found = re.search(r"code=([^&]+)", location)
    assert found is not None
    return found.group(1)


async def exchange(
    idp: httpx.AsyncClient, code: str, verifier: str = VERIFIER, **changes: Any
) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    form |= {"code_verifier": verifier, "client_id": CLIENT.client_id}
    form |= {"client_secret": CLIENT.secret or ""} | changes
    return await idp.post("/token", data=form)


async def verified(idp: httpx.AsyncClient, id_token: str) -> dict[str, Any]:
    jwks = jwt.PyJWKSet.from_dict((await idp.get("/jwks")).json())
    claims: dict[str, Any] = jwt.decode(
        id_token, jwks.keys[0].key, algorithms=["ES256"], audience=CLIENT.client_id, issuer=ISSUER
    )
    return claims


async def test_a_code_gives_an_id_token_once_that_verifies_against_the_jwks(
    idp: httpx.AsyncClient,
) -> None:
    discovery = (await idp.get("/.well-known/openid-configuration")).json()
    assert discovery["issuer"] == ISSUER and discovery["code_challenge_methods_supported"] == [
        "S256"
    ]
    code = await a_code(idp)
    answer = await exchange(idp, code)
    assert answer.status_code == 200
    claims = await verified(idp, answer.json()["id_token"])
    assert claims["nonce"] == "nonce-1" and claims["acr"] == "L3"
    assert claims["id_number"] == "340104199005170018"
    assert (await exchange(idp, code)).json() == {"error": "invalid_grant"}


@pytest.mark.parametrize(
    ("verifier", "changes", "status"),
    [
        ("w" * 43, {}, 400),  # not the challenge's verifier
        (VERIFIER, {"redirect_uri": "http://evil.test/cb"}, 400),
        (VERIFIER, {"client_secret": "guessed"}, 401),
    ],
)
async def test_a_code_is_refused_without_its_verifier_redirect_or_the_clients_secret(
    idp: httpx.AsyncClient, verifier: str, changes: dict[str, str], status: int
) -> None:
    code = await a_code(idp)
    assert (await exchange(idp, code, verifier, **changes)).status_code == status


async def test_a_spoiling_order_spoils_the_next_token_only(idp: httpx.AsyncClient) -> None:
    order = {"claims": {"aud": "someone-else"}, "remove": ["acr"], "foreign_key": True}
    (await idp.post("/control/spoil", json=order)).raise_for_status()
    spoilt = (await exchange(idp, await a_code(idp))).json()["id_token"]
    with pytest.raises(jwt.InvalidSignatureError):
        await verified(idp, spoilt)
    unverified = jwt.decode(spoilt, options={"verify_signature": False})
    assert unverified["aud"] == "someone-else" and "acr" not in unverified
    good = (await exchange(idp, await a_code(idp))).json()["id_token"]
    assert (await verified(idp, good))["acr"] == "L3"
