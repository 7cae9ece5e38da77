"""Messages between two provinces' federation gateways, signed end to end.

Mutual TLS authenticates the connection; the SM2 signature authenticates the message, and stays
with it after TLS ends (the receiver keeps it: proof of what the partner sent). A message is

    {"format": "tongban.federation-message.v1", "id", "from_province", "to_province", "type",
     "time", "body", "signer", "signature"}

and the signature (SM2 with SM3, raw r‖s, base64) covers the RFC 8785 bytes of
[format, id, from_province, to_province, type, time, body]. `time` is when it was *sent*
(signed again at each attempt of the store-and-forward sender), so a receiver refuses a stale
one without refusing a message that waited in the sender's outbox while the partner was away;
`id` stays the same across attempts and is what the receiver deduplicates by.

`verify_message` is the receiver's whole check, before any effect; every refusal names its
reason (`Refusal.reason`), which the gateway logs and answers with.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from shared.canonical import canonical_json
from shared.crypto.keyring import SoftwareSigner
from shared.crypto.sm import sm2_verify
from shared.federation.anchors import TrustedPartners

MESSAGE_FORMAT = "tongban.federation-message.v1"

RefusalReason = Literal[
    "malformed",
    "wrong_recipient",
    "unknown_province",
    "anchor_not_valid",
    "unsigned",
    "unknown_key",
    "bad_signature",
    "stale",
    # A scan on request (services/federation/usecases/scans.py): a message that verifies, about
    # an application not handed over between the two provinces, a scan it does not name, a
    # scan the window's province does not have, bytes that are not the digest, too many bytes.
    "not_handed_over",
    "not_of_the_application",
    "scan_not_found",
    "digest_mismatch",
    "too_large",
]


class Refusal(Exception):
    """A message refused before any effect, with the reason the gateway logs and answers."""

    def __init__(self, reason: RefusalReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Message:
    id: str
    from_province: str
    to_province: str
    type: str
    time: datetime
    body: dict[str, Any]
    signer: str = ""
    signature: str = ""

    def signed_bytes(self) -> bytes:
        return canonical_json(
            [
                MESSAGE_FORMAT,
                self.id,
                self.from_province,
                self.to_province,
                self.type,
                self.time.isoformat(),
                self.body,
            ]
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "format": MESSAGE_FORMAT,
            "id": self.id,
            "from_province": self.from_province,
            "to_province": self.to_province,
            "type": self.type,
            "time": self.time.isoformat(),
            "body": self.body,
            "signer": self.signer,
            "signature": self.signature,
        }


def sign_message(
    signer: SoftwareSigner,
    *,
    id: str,
    from_province: str,
    to_province: str,
    type: str,
    body: dict[str, Any],
    now: datetime | None = None,
) -> Message:
    unsigned = Message(id, from_province, to_province, type, now or datetime.now(UTC), body)
    signature = base64.b64encode(signer.sign(unsigned.signed_bytes())).decode("ascii")
    return replace(unsigned, signer=signer.kid, signature=signature)


def parse_message(data: Any) -> Message:
    if not isinstance(data, dict) or data.get("format") != MESSAGE_FORMAT:
        raise Refusal("malformed", f"not a {MESSAGE_FORMAT}")
    try:
        body = data["body"]
        fields = [data[name] for name in ("id", "from_province", "to_province", "type")]
        if not isinstance(body, dict) or not all(isinstance(f, str) and f for f in fields):
            raise TypeError("id, from_province, to_province and type are strings; body an object")
        time = datetime.fromisoformat(data["time"])
        if time.tzinfo is None:
            raise ValueError("the time has no offset")
        signer, signature = data.get("signer") or "", data.get("signature") or ""
        if not isinstance(signer, str) or not isinstance(signature, str):
            raise TypeError("signer and signature are strings")
    except (KeyError, TypeError, ValueError) as exc:
        raise Refusal("malformed", repr(exc)) from exc
    if len(fields[0]) > 64 or len(fields[3]) > 64:
        raise Refusal("malformed", "id and type are at most 64 characters")
    id_, from_province, to_province, type_ = fields
    return Message(id_, from_province, to_province, type_, time, body, signer, signature)


def verify_message(
    data: Any,
    *,
    own_province: str,
    partners: TrustedPartners,
    max_skew: timedelta,
    now: datetime | None = None,
) -> Message:
    """The message, once it is for this province, from a trusted partner whose anchor is valid,
    signed by a key that anchor names, unaltered and fresh; Refusal otherwise."""
    message = parse_message(data)
    now = now or datetime.now(UTC)
    if message.to_province != own_province:
        raise Refusal("wrong_recipient", f"addressed to {message.to_province}")
    anchor = partners.get(message.from_province)
    if anchor is None:
        raise Refusal("unknown_province", f"no trusted anchor of {message.from_province}")
    if not anchor.valid_at(now):
        raise Refusal("anchor_not_valid", f"the anchor of {anchor.province} is not valid now")
    if not message.signer or not message.signature:
        raise Refusal("unsigned", "no signer or signature")
    key = anchor.keys.get(message.signer)
    if key is None:
        raise Refusal("unknown_key", f"{message.signer} is not in the anchor of {anchor.province}")
    try:
        signature = base64.b64decode(message.signature, validate=True)
        signed = message.signed_bytes()
    except (binascii.Error, ValueError) as exc:  # NotCanonical is a ValueError
        raise Refusal("bad_signature", f"not verifiable: {exc}") from exc
    if not sm2_verify(key, signed, signature):
        raise Refusal("bad_signature", f"does not verify with {message.signer}")
    if abs(now - message.time) > max_skew:
        raise Refusal("stale", f"sent at {message.time.isoformat()}, now {now.isoformat()}")
    return message
