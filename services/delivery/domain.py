"""Delivery's rules, as pure functions: the carrier webhook's signature, how long a failed
dispatch waits, and how a certificate's verification code is looked up and carried."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

SIGNATURE_HEADER = "X-Carrier-Signature"
_SIGNATURE_PREFIX = "sha256="
# However often a dispatch failed, the dispatcher tries it again at least this often.
MAX_BACKOFF = timedelta(minutes=5)


# -- the webhook's signature -------------------------------------------------------------------


def webhook_signature(body: bytes, secret: str) -> str:
    """The header value the carrier sends: `sha256=` and the hex HMAC-SHA256 of the raw body."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return _SIGNATURE_PREFIX + digest


def signature_matches(body: bytes, header: str | None, secret: str) -> bool:
    """Whether `header` is the carrier's signature of exactly `body` (constant-time)."""
    if not header or not secret:
        return False
    return hmac.compare_digest(
        webhook_signature(body, secret).encode(), header.strip().encode(errors="replace")
    )


def retry_after(attempts: int, base_seconds: float) -> timedelta:
    """How long a dispatch that failed `attempts` times waits: doubling, at most MAX_BACKOFF."""
    seconds = base_seconds * 2 ** min(max(attempts - 1, 0), 20)
    return min(timedelta(seconds=seconds), MAX_BACKOFF)


# -- the verification code ---------------------------------------------------------------------


def code_digest(code: str) -> str:
    """How a verification code is looked up: 128 random bits need no salt or stretching."""
    return hashlib.sha256(code.encode()).hexdigest()


def verify_url(public_base_url: str, number: str, code: str) -> str:
    """What a printed certificate's QR code carries: the number, and the code without which
    verification answers nothing."""
    return f"{public_base_url.rstrip('/')}/v1/certificates/{number}/verify?code={code}"
