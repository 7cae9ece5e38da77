"""Federation anchors and signed messages (shared.federation): a partner is trusted only through
an anchor an operator imported, and a message is accepted only from a trusted, valid anchor's
key, unaltered and fresh; every other case is refused with its reason."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.canonical import NotCanonical
from shared.crypto.keyring import SoftwareSigner
from shared.crypto.sm import sm2_generate
from shared.federation.anchors import Anchor, AnchorError, TrustedPartners, make_anchor, read_anchor
from shared.federation.messages import Refusal, sign_message, verify_message

SKEW = timedelta(minutes=5)


def province_key(kid: str) -> tuple[SoftwareSigner, bytes]:
    private, public = sm2_generate()
    return SoftwareSigner(kid, "SM2-SM3", private), public


JIANGSU, JIANGSU_PUBLIC = province_key("federation#1")


def jiangsu_anchor(**changes: Any) -> Anchor:
    anchor = make_anchor(
        province="32",
        name="江苏省",
        gateway_url="https://127.0.0.1:9010",
        signer=JIANGSU,
        keys={JIANGSU.kid: JIANGSU_PUBLIC},
        valid_days=30,
    )
    return replace(anchor, **changes) if changes else anchor


def message(signer: SoftwareSigner = JIANGSU, **changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "id": "m-1",
        "from_province": "32",
        "to_province": "34",
        "type": "application.handed_over",
        "body": {"application_no": "AH-1", "item_code": "X"},
    }
    fields.update(changes)
    return sign_message(signer, **fields).as_json()


@pytest.fixture
def partners(tmp_path: Path) -> TrustedPartners:
    trusted = TrustedPartners(tmp_path / "trusted")
    trusted.add(jiangsu_anchor())
    return trusted


def verify(data: dict[str, Any], partners: TrustedPartners, **kwargs: Any) -> Any:
    return verify_message(data, own_province="34", partners=partners, max_skew=SKEW, **kwargs)


def refusal_of(data: dict[str, Any], partners: TrustedPartners, **kwargs: Any) -> str:
    with pytest.raises(Refusal) as refused:
        verify(data, partners, **kwargs)
    return refused.value.reason


# --- anchors -----------------------------------------------------------------------------------


def test_an_exported_anchor_reads_back_with_the_same_fingerprint(tmp_path: Path) -> None:
    anchor = jiangsu_anchor()
    TrustedPartners(tmp_path).add(anchor)
    again = read_anchor(tmp_path / "32.json")
    assert again == anchor
    assert again.fingerprint == anchor.fingerprint
    assert len(anchor.fingerprint.replace(" ", "")) == 64


@pytest.mark.parametrize(
    ("field", "value"),
    [("gateway_url", "https://evil.example"), ("province", "31"), ("name", "上海市")],
)
def test_an_altered_anchor_is_refused(tmp_path: Path, field: str, value: str) -> None:
    path = tmp_path / "anchor.json"
    document = jiangsu_anchor().as_json()
    document[field] = value
    path.write_text(json.dumps(document))
    with pytest.raises(AnchorError, match="altered"):
        read_anchor(path)


def test_an_anchor_signed_by_a_key_it_does_not_name_is_refused() -> None:
    other, _other_public = province_key("federation#9")
    with pytest.raises(AnchorError, match="does not name"):
        make_anchor(
            province="32",
            name="江苏省",
            gateway_url="https://127.0.0.1:9010",
            signer=other,
            keys={JIANGSU.kid: JIANGSU_PUBLIC},
            valid_days=30,
        )
    document = jiangsu_anchor().as_json()
    document["keys"] = [{"kid": "federation#9", "algorithm": "SM2-SM3", "public_key": ""}]
    with pytest.raises(AnchorError):
        Anchor.from_json(document)


def test_an_anchor_over_plain_http_is_refused() -> None:
    plain = make_anchor(
        province="32",
        name="江苏省",
        gateway_url="http://127.0.0.1:9010",
        signer=JIANGSU,
        keys={JIANGSU.kid: JIANGSU_PUBLIC},
        valid_days=30,
    )
    with pytest.raises(AnchorError, match="https"):
        Anchor.from_json(plain.as_json())


def test_no_partner_is_trusted_until_added_and_none_after_removal(tmp_path: Path) -> None:
    trusted = TrustedPartners(tmp_path / "trusted")
    assert trusted.all() == []
    trusted.add(jiangsu_anchor())
    assert [anchor.province for anchor in trusted.all()] == ["32"]
    assert trusted.remove("32")
    assert trusted.get("32") is None
    assert not trusted.remove("32")


def test_a_trusted_file_that_was_tampered_with_trusts_nobody(partners: TrustedPartners) -> None:
    assert partners.get("32") is not None
    path = partners.directory / "32.json"
    document = json.loads(path.read_text())
    document["gateway_url"] = "https://evil.example"
    path.write_text(json.dumps(document))
    assert partners.get("32") is None


# --- messages ----------------------------------------------------------------------------------


def test_a_signed_message_from_a_trusted_partner_verifies(partners: TrustedPartners) -> None:
    verified = verify(message(), partners)
    assert (verified.id, verified.from_province, verified.body["application_no"]) == (
        "m-1",
        "32",
        "AH-1",
    )


def test_an_unknown_province_is_refused(partners: TrustedPartners) -> None:
    shanghai, _public = province_key("federation#1")
    assert refusal_of(message(shanghai, from_province="31"), partners) == "unknown_province"


def test_a_removed_partner_is_refused_at_its_next_message(partners: TrustedPartners) -> None:
    verify(message(id="m-1"), partners)
    partners.remove("32")
    assert refusal_of(message(id="m-2"), partners) == "unknown_province"


def test_an_unsigned_message_is_refused(partners: TrustedPartners) -> None:
    data = message()
    data["signature"] = ""
    assert refusal_of(data, partners) == "unsigned"
    del data["signer"]
    assert refusal_of(data, partners) == "unsigned"


def test_a_key_the_anchor_does_not_hold_is_refused(partners: TrustedPartners) -> None:
    impostor, _public = province_key("federation#2")
    assert refusal_of(message(impostor), partners) == "unknown_key"
    # The anchor's kid, another key: the signature does not verify.
    thief, _public = province_key("federation#1")
    assert refusal_of(message(thief), partners) == "bad_signature"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("body", {"application_no": "AH-2", "item_code": "X"}),
        ("type", "application.decided"),
        ("id", "m-2"),
        ("time", "2026-01-01T00:00:00+00:00"),
    ],
)
def test_an_altered_message_is_refused(
    partners: TrustedPartners, field: str, value: object
) -> None:
    data = message()
    data[field] = value
    assert refusal_of(data, partners) == "bad_signature"


def test_a_stale_or_future_message_is_refused(partners: TrustedPartners) -> None:
    sent = datetime.now(UTC) - timedelta(minutes=6)
    assert refusal_of(message(now=sent), partners) == "stale"
    ahead = datetime.now(UTC) + timedelta(minutes=6)
    assert refusal_of(message(now=ahead), partners) == "stale"
    assert verify(message(now=datetime.now(UTC) - timedelta(minutes=4)), partners)


def test_a_message_for_another_province_is_refused(partners: TrustedPartners) -> None:
    assert refusal_of(message(to_province="33"), partners) == "wrong_recipient"


def test_an_expired_anchor_refuses_its_messages(partners: TrustedPartners) -> None:
    later = datetime.now(UTC) + timedelta(days=31)
    data = message(now=later)
    assert refusal_of(data, partners, now=later) == "anchor_not_valid"


@pytest.mark.parametrize(
    "data",
    [[], {"format": "other"}, {**message(), "body": "text"}, {**message(), "time": "yesterday"}],
)
def test_what_is_not_a_message_is_refused_as_malformed(
    partners: TrustedPartners, data: Any
) -> None:
    assert refusal_of(data, partners) == "malformed"


async def test_a_body_tongban_does_not_sign_is_refused_before_it_is_queued() -> None:
    from services.federation.usecases.outgoing import enqueue

    # No session is touched: the refusal comes first (a message that can never be signed would
    # otherwise wait in the outbox for ever).
    with pytest.raises(NotCanonical):
        await enqueue(None, to_province="32", type="x", body={"amount": 1.5})  # type: ignore[arg-type]
