"""Text messages (短信) through an SMS gateway's HTTP API: the client senders use, and the check of
the gateway's signed delivery reports (contracts/sms-gateway.md).

`send` makes one attempt and says how it went; it does not retry. The caller owns redelivery
(an outbox-like sender tries again on its own schedule, a sign-in page asks the applicant to
ask again), and `reference`, the caller's idempotency key, makes every retry safe: the gateway
answers the message id it already gave for a known reference and sends nothing twice, so a
retry after an answer that was lost costs no second text.

Nothing here logs the number or the text: a one-time code is a credential, a number personal
data. Log lines carry the reference and the message id only.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from datetime import datetime
from typing import Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from shared.settings import Settings

log = logging.getLogger(__name__)

MESSAGES_PATH = "/v1/messages"
# Where the receiver of delivery reports (the portal) takes them; the launcher points the
# simulator at <receiver>/v1/sms/reports.
REPORT_PATH = "/v1/sms/reports"
# The header a delivery report's signature travels in (report_signature of the raw body).
SIGNATURE_HEADER = "X-Tongban-Signature"
# A mainland mobile number, 11 digits: what the gateway takes.
MOBILE_NUMBER = re.compile(r"^1[3-9]\d{9}$")
# Longer texts go out as several concatenated parts; beyond this a sender has a bug.
MAX_TEXT_LENGTH = 500
MAX_REFERENCE_LENGTH = 128

ReportStatus = Literal["delivered", "failed"]


class SmsUnavailable(Exception):
    """The gateway did not take the message: unreachable, timed out or answered 5xx. Sending
    again later with the same reference is safe and is how to recover."""


class SmsRefused(Exception):
    """The gateway refused the message itself (4xx: a malformed number, an empty text). The same
    request will not do better later; `status_code` says which answer it was."""

    def __init__(self, reason: str, status_code: int) -> None:
        super().__init__(reason)
        self.status_code = status_code


class DeliveryReport(BaseModel):
    """The body of a delivery report the gateway posts to the report URL (after checking its
    signature with report_is_authentic)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    message_id: str = Field(min_length=1, max_length=64)
    reference: str = Field(min_length=1, max_length=MAX_REFERENCE_LENGTH)
    status: ReportStatus
    at: datetime


def report_signature(secret: bytes, body: bytes) -> str:
    """HMAC-SHA256 of a report's raw body under the shared report secret, in hex."""
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def report_is_authentic(secret: bytes, body: bytes, signature: str) -> bool:
    """Whether `signature` is the report secret's signature of exactly `body` (compared in
    constant time, so a forger learns nothing from how long a refusal takes)."""
    expected = report_signature(secret, body)
    return hmac.compare_digest(expected.encode(), signature.strip().lower().encode())


class SmsGateway:
    """One gateway's `POST /v1/messages`, over one connection pool; close with `aclose`."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport)

    @classmethod
    def of(cls, settings: Settings) -> SmsGateway:
        """The gateway SMS_GATEWAY_URL names, with SMS_TIMEOUT_SECONDS per send."""
        return cls(settings.sms_gateway_url, timeout=settings.sms_timeout_seconds)

    async def send(self, to: str, text: str, *, reference: str) -> str:
        """Hand `text` to the gateway for `to`; the gateway's message id. Raises SmsUnavailable
        (try again later, same reference) or SmsRefused (do not)."""
        if not reference or len(reference) > MAX_REFERENCE_LENGTH:
            raise ValueError("A reference of 1 to 128 characters identifies each message.")
        body = {"to": to, "text": text, "reference": reference}
        try:
            response = await self._http.post(MESSAGES_PATH, json=body)
        except httpx.TimeoutException as exc:
            # The gateway may have taken it and its answer be lost: the same reference again
            # finds the same message.
            log.warning("SMS %s: gateway timed out", reference)
            raise SmsUnavailable(f"timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            log.warning("SMS %s: gateway unreachable (%s)", reference, type(exc).__name__)
            raise SmsUnavailable(f"unreachable ({type(exc).__name__})") from exc
        if response.status_code >= 500:
            log.warning("SMS %s: gateway answered %s", reference, response.status_code)
            raise SmsUnavailable(f"answered {response.status_code}")
        if response.status_code >= 400:
            log.error("SMS %s refused: %s", reference, response.status_code)
            raise SmsRefused(f"refused ({response.status_code})", response.status_code)
        try:
            message_id = response.json()["message_id"]
        except (ValueError, KeyError, TypeError) as exc:
            # Taken or not, we cannot tell: treated as unavailable, the retry is idempotent.
            raise SmsUnavailable("answered without a message id") from exc
        if not isinstance(message_id, str) or not message_id:
            raise SmsUnavailable("answered without a message id")
        log.info("SMS %s accepted as %s", reference, message_id)
        return message_id

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> SmsGateway:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()
