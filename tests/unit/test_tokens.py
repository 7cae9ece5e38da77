"""Bearer tokens: a verified token is not verified again, but never outlives its expiry, and no
other token string (tampered, or signed with another key) is taken for it."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
from pydantic import SecretStr

from shared import auth
from shared.auth import decode_token, mint_token
from shared.errors import ApiError
from shared.settings import Settings

SETTINGS = Settings(jwt_secret=SecretStr("unit-test-secret-of-enough-length-0123456789"))


def clerk_token(settings: Settings = SETTINGS, ttl: timedelta = timedelta(hours=1)) -> str:
    return mint_token(
        settings, role="window_clerk", locality="341200", window_id="W341200-01", ttl=ttl
    )


def test_the_same_token_is_verified_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real_decode = jwt.decode

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real_decode(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(auth.jwt, "decode", counting)
    token = clerk_token()
    first, again = decode_token(SETTINGS, token), decode_token(SETTINGS, token)
    assert first == again and first.window_id == "W341200-01"
    assert len(calls) == 1


def test_a_verified_token_is_refused_once_it_has_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    token = clerk_token(ttl=timedelta(minutes=5))
    assert decode_token(SETTINGS, token).role == "window_clerk"
    later = auth.time.time() + 600
    monkeypatch.setattr(auth.time, "time", lambda: later)
    monkeypatch.setattr(auth.jwt, "decode", _expired)
    with pytest.raises(ApiError) as refused:
        decode_token(SETTINGS, token)
    assert refused.value.status_code == 401


def _expired(*_: object, **__: object) -> object:
    raise jwt.ExpiredSignatureError("expired")


def test_a_tampered_copy_of_a_verified_token_is_refused() -> None:
    token = clerk_token()
    decode_token(SETTINGS, token)
    header, claims, signature = token.split(".")
    tampered = f"{header}.{claims}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    with pytest.raises(ApiError):
        decode_token(SETTINGS, tampered)


def test_a_token_verified_under_one_key_is_not_accepted_under_another() -> None:
    token = clerk_token()
    decode_token(SETTINGS, token)
    other = Settings(jwt_secret=SecretStr("another-secret-of-enough-length-9876543210"))
    with pytest.raises(ApiError):
        decode_token(other, token)
