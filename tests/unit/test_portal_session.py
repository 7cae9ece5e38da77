"""The portal's session cookie and redirects: a cookie is the token and its HMAC under the
portal's secret, so an altered or foreign one is no session; after sign-in only a path of the
portal itself is followed."""

from __future__ import annotations

import pytest

from services.portal.deps import csrf_token, sign, unsigned
from services.portal.pages import safe_next

SECRET = b"portal-test-secret"


def test_a_signed_cookie_gives_its_token_back() -> None:
    assert unsigned(SECRET, sign(SECRET, "token-1")) == "token-1"


@pytest.mark.parametrize(
    "cookie",
    [
        "token-1",  # no signature
        sign(SECRET, "token-1").replace("token-1", "token-2"),  # another token, same signature
        sign(b"another-secret", "token-1"),
        sign(SECRET, "token-1")[:-1] + "0",
        "",
        ".",
    ],
)
def test_an_altered_or_foreign_cookie_is_no_session(cookie: str) -> None:
    assert unsigned(SECRET, cookie) is None


def test_the_csrf_token_is_the_sessions_own() -> None:
    assert csrf_token(SECRET, "token-1") != csrf_token(SECRET, "token-2")
    assert csrf_token(SECRET, "token-1") != csrf_token(b"another-secret", "token-1")


@pytest.mark.parametrize(
    ("target", "followed"),
    [
        ("/applications/TB1", "/applications/TB1"),
        ("/guides/GA-HJ-001/apply", "/guides/GA-HJ-001/apply"),
        ("https://evil.example/", "/applications"),
        ("//evil.example/", "/applications"),
        ("/\\evil.example/", "/applications"),
        ("", "/applications"),
    ],
)
def test_after_sign_in_only_a_path_of_the_portal_is_followed(target: str, followed: str) -> None:
    assert safe_next(target) == followed
