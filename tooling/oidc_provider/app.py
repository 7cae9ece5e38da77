"""The simulator's HTTP app: discovery, JWKS, authorize, token, and the control API that spoils
the next ID token (tooling/oidc_provider/__init__.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote_plus, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

CODE_SECONDS = 120
ID_TOKEN_SECONDS = 300
LEVELS = ("L2", "L3")
Algorithm = Literal["RS256", "ES256"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str | None  # None: a public client, PKCE alone


@dataclass(frozen=True)
class Grant:
    """A code handed out at /authorize, waiting for the client at /token."""

    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str
    id_number: str
    level: str
    expires: float


class SpoilIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    claims: dict[str, Any] = Field(default_factory=dict)
    remove: list[str] = Field(default_factory=list)
    foreign_key: bool = False


@dataclass
class Provider:
    issuer: str
    client: Client
    algorithm: Algorithm
    id_claim: str
    level_claim: str
    key: PrivateKey
    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    grants: dict[str, Grant] = field(default_factory=dict)
    spoil: SpoilIn | None = None

    def jwk(self) -> dict[str, Any]:
        public = self.key.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            exported = jwt.algorithms.RSAAlgorithm.to_jwk(public, as_dict=True)
        else:
            exported = jwt.algorithms.ECAlgorithm.to_jwk(public, as_dict=True)
        return {**exported, "kid": self.kid, "use": "sig", "alg": self.algorithm}

    def id_token(self, grant: Grant) -> str:
        now = int(time.time())
        subject = hashlib.sha256(f"{self.issuer}\x00{grant.id_number}".encode()).hexdigest()
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": subject[:32],
            "aud": grant.client_id,
            "iat": now,
            "exp": now + ID_TOKEN_SECONDS,
            "auth_time": now,
            "nonce": grant.nonce,
            self.id_claim: grant.id_number,
            self.level_claim: grant.level,
        }
        key = self.key
        spoil, self.spoil = self.spoil, None
        if spoil is not None:
            claims |= spoil.claims
            for name in spoil.remove:
                claims.pop(name, None)
            if spoil.foreign_key:
                key = new_key(self.algorithm)
        return jwt.encode(claims, key, algorithm=self.algorithm, headers={"kid": self.kid})


def new_key(algorithm: Algorithm) -> PrivateKey:
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _client_of(request: Request, form_id: str, form_secret: str) -> tuple[str, str]:
    """The client's id and secret: HTTP Basic (form-encoded parts, RFC 6749 2.3.1) or form."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        decoded = base64.b64decode(header[6:]).decode()
        client_id, _colon, secret = decoded.partition(":")
        return unquote_plus(client_id), unquote_plus(secret)
    return form_id, form_secret


def _token_error(error: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error}, status)


PAGE = """<!doctype html><html lang="zh-CN"><meta charset="utf-8">
<title>统一身份认证（模拟）</title>
<h1>统一身份认证（模拟）</h1><form method="post" action="/authorize">{hidden}
<label for="id_number">身份证号</label> <input id="id_number" name="id_number" required>
<label for="level">认证等级</label> <select id="level" name="level">{levels}</select>
<button type="submit" name="decision" value="allow">登录</button>
<button type="submit" name="decision" value="deny">取消</button></form></html>"""
AUTHORIZE_FIELDS = ("client_id", "redirect_uri", "state", "nonce", "code_challenge")


def create_app(
    issuer: str,
    client: Client,
    *,
    algorithm: Algorithm = "RS256",
    id_claim: str = "id_number",
    level_claim: str = "acr",
) -> FastAPI:
    issuer = issuer.rstrip("/")
    provider = Provider(issuer, client, algorithm, id_claim, level_claim, new_key(algorithm))
    app = FastAPI(title="Identity provider simulator (统一身份认证)", docs_url=None, redoc_url=None)
    app.state.provider = provider

    @app.get("/.well-known/openid-configuration")
    async def discovery() -> dict[str, Any]:
        return {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "jwks_uri": f"{issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [algorithm],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid"],
            "claims_supported": ["sub", id_claim, level_claim],
        }

    @app.get("/jwks")
    async def jwks() -> dict[str, Any]:
        return {"keys": [provider.jwk()]}

    @app.get("/authorize")
    async def authorize_page(request: Request) -> Response:
        query = request.query_params
        if query.get("response_type") != "code" or query.get("client_id") != client.client_id:
            return HTMLResponse("unknown client or response type", 400)
        if query.get("code_challenge_method") != "S256" or not all(
            query.get(name) for name in AUTHORIZE_FIELDS
        ):
            return HTMLResponse("PKCE (S256), state, nonce and redirect_uri are required", 400)
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(query[name])}">'
            for name in AUTHORIZE_FIELDS
        )
        levels = "".join(f'<option value="{level}">{level}</option>' for level in LEVELS)
        return HTMLResponse(PAGE.format(hidden=hidden, levels=levels))

    @app.post("/authorize")
    async def authorize(
        client_id: str = Form(),
        redirect_uri: str = Form(),
        state: str = Form(),
        nonce: str = Form(),
        code_challenge: str = Form(),
        id_number: str = Form(""),
        level: str = Form("L2"),
        decision: str = Form("allow"),
    ) -> Response:
        if client_id != client.client_id:
            return HTMLResponse("unknown client", 400)
        if decision != "allow":
            answer = {"error": "access_denied", "state": state}
        else:
            now = time.monotonic()
            for stale in [code for code, grant in provider.grants.items() if grant.expires < now]:
                del provider.grants[stale]
            code = secrets.token_urlsafe(24)
            provider.grants[code] = Grant(
                client_id, redirect_uri, code_challenge, nonce, id_number, level,
                now + CODE_SECONDS,
            )  # fmt: skip
            answer = {"code": code, "state": state}
        separator = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{separator}{urlencode(answer)}", 303)

    @app.post("/token")
    async def token(
        request: Request,
        grant_type: str = Form(),
        code: str = Form(),
        redirect_uri: str = Form(),
        code_verifier: str = Form(""),
        client_id: str = Form(""),
        client_secret: str = Form(""),
    ) -> Response:
        given_id, given_secret = _client_of(request, client_id, client_secret)
        if given_id != client.client_id or (
            client.secret is not None
            and not hmac.compare_digest(given_secret.encode(), client.secret.encode())
        ):
            return _token_error("invalid_client", 401)
        if grant_type != "authorization_code":
            return _token_error("unsupported_grant_type")
        grant = provider.grants.pop(code, None)  # once, whatever follows
        if (
            grant is None
            or grant.expires < time.monotonic()
            or grant.client_id != given_id
            or grant.redirect_uri != redirect_uri
            or not hmac.compare_digest(s256(code_verifier).encode(), grant.challenge.encode())
        ):
            return _token_error("invalid_grant")
        return JSONResponse(
            {
                "access_token": secrets.token_urlsafe(24),
                "token_type": "Bearer",
                "expires_in": ID_TOKEN_SECONDS,
                "id_token": provider.id_token(grant),
            },
            headers={"Cache-Control": "no-store"},
        )

    @app.post("/control/spoil")
    async def spoil(order: SpoilIn) -> dict[str, str]:
        provider.spoil = order
        return {"status": "ok"}

    @app.post("/control/reset")
    async def reset() -> dict[str, str]:
        provider.grants.clear()
        provider.spoil = None
        return {"status": "ok"}

    return app
