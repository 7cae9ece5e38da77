"""The personal-data cipher (shared.crypto.personal): at rest, blind index, sealed for a service."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from shared.crypto import personal as personal_module
from shared.crypto.keyring import KeyRing, KeyRingError
from shared.crypto.personal import DecryptionFailed, PersonalData, is_token, place
from shared.messaging.outbox import UnbuildableRecord, open_payload, seal_payload

ID_NUMBER = "34010419880314002X"
WHERE = place("intake.applications.applicant", "TB34010020260101000001")


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    return KeyRing(tmp_path / "keys", "a test secret", development=True)


@pytest.fixture
def personal(ring: KeyRing) -> PersonalData:
    return PersonalData(ring, service="routing")


def test_a_value_is_stored_as_a_token_naming_its_key_and_reads_back(
    personal: PersonalData,
) -> None:
    token = personal.encrypt_json({"id_number": ID_NUMBER, "name": "张三"}, where=WHERE)
    assert is_token(token) and token.startswith("sm4gcm:pii#1:")
    assert ID_NUMBER not in token and "张三" not in token
    assert personal.decrypt_json(token, where=WHERE) == {"id_number": ID_NUMBER, "name": "张三"}
    # A fresh nonce each time: the same value never gives the same token.
    assert personal.encrypt(ID_NUMBER, where=WHERE) != personal.encrypt(ID_NUMBER, where=WHERE)


def test_after_rotation_new_values_use_the_new_key_and_old_ones_still_decrypt(
    ring: KeyRing, personal: PersonalData
) -> None:
    old = personal.encrypt(ID_NUMBER, where=WHERE)
    assert ring.rotate("pii") == "pii#2"
    new = personal.encrypt(ID_NUMBER, where=WHERE)
    assert new.startswith("sm4gcm:pii#2:")
    assert personal.decrypt(old, where=WHERE) == ID_NUMBER
    assert personal.decrypt(new, where=WHERE) == ID_NUMBER


def test_a_rotation_by_another_process_is_found_when_a_value_names_the_new_key(
    tmp_path: Path,
) -> None:
    mine = PersonalData(KeyRing(tmp_path / "keys", "s", development=True))
    mine.encrypt("warm the cache", where=WHERE)
    theirs = KeyRing(tmp_path / "keys", "s", development=True)
    theirs.rotate("pii")
    token = PersonalData(theirs).encrypt(ID_NUMBER, where=WHERE)
    assert mine.decrypt(token, where=WHERE) == ID_NUMBER


def test_a_token_moved_to_another_row_or_column_does_not_decrypt(personal: PersonalData) -> None:
    token = personal.encrypt(ID_NUMBER, where=WHERE)
    with pytest.raises(DecryptionFailed):
        personal.decrypt(token, where=place("intake.applications.applicant", "TB-OTHER"))
    with pytest.raises(DecryptionFailed):
        personal.decrypt(token, where=place("intake.applications.agent", "TB34010020260101000001"))


def test_an_altered_token_or_a_foreign_key_id_does_not_decrypt(personal: PersonalData) -> None:
    token = personal.encrypt(ID_NUMBER, where=WHERE)
    prefix, kid, body = token.split(":")
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    for bad in (f"{prefix}:{kid}:{flipped}", f"{prefix}:pii#9:{body}", f"{prefix}:seal-1#1:{body}"):
        with pytest.raises(DecryptionFailed):
            personal.decrypt(bad, where=WHERE)
    with pytest.raises(DecryptionFailed):
        personal.decrypt(ID_NUMBER, where=WHERE)  # not a token at all


def test_another_key_ring_cannot_read_the_tokens(tmp_path: Path, personal: PersonalData) -> None:
    token = personal.encrypt(ID_NUMBER, where=WHERE)
    stranger = PersonalData(KeyRing(tmp_path / "elsewhere", "another secret", development=True))
    with pytest.raises(DecryptionFailed):
        stranger.decrypt(token, where=WHERE)


def test_seal_fields_encrypts_only_the_personal_parts_of_a_document(
    personal: PersonalData,
) -> None:
    document = {
        "application_no": "TB1",
        "applicant": {"id_number": ID_NUMBER},
        "delivery": {"method": "window_pickup", "address": None},
        "agent": None,
        "promised_date": "2026-01-09",
    }
    sealed = personal.seal_fields(document, where="approval.cases.application:TB1")
    assert sealed["application_no"] == "TB1" and sealed["promised_date"] == "2026-01-09"
    assert sealed["agent"] is None
    assert is_token(sealed["applicant"]) and is_token(sealed["delivery"])
    assert ID_NUMBER not in str(sealed)
    # Sealing twice changes nothing; opening gives the document back.
    assert personal.seal_fields(sealed, where="approval.cases.application:TB1") == sealed
    assert personal.open_fields(sealed, where="approval.cases.application:TB1") == document
    with pytest.raises(DecryptionFailed):
        personal.open_fields(sealed, where="approval.cases.application:TB2")


def test_the_blind_index_is_stable_normalized_and_keyed(tmp_path: Path) -> None:
    one = PersonalData(KeyRing(tmp_path / "one", "s", development=True))
    index = one.index(ID_NUMBER, kind="id_number")
    assert len(index) == 64 and ID_NUMBER not in index
    assert one.index(ID_NUMBER, kind="id_number") == index
    # Spaces, full-width digits and a lower-case x are the same number.
    assert one.index("340104 19880314002x", kind="id_number") == index
    assert one.index("３４０１０４19880314002X", kind="id_number") == index
    assert one.index("340104198803140038", kind="id_number") != index
    # Another kind of value, or another key, gives an unrelated index.
    assert one.index(ID_NUMBER, kind="phone") != index
    assert (
        PersonalData(KeyRing(tmp_path / "two", "s", development=True)).index(
            ID_NUMBER, kind="id_number"
        )
        != index
    )


def test_what_is_sealed_for_a_service_opens_for_it_only_and_in_its_context(
    ring: KeyRing,
) -> None:
    routing = PersonalData(ring, service="routing")
    routing.ensure_own_key()
    delivery = PersonalData(ring, service="delivery")
    delivery.ensure_own_key()
    intake = PersonalData(ring, service="intake")
    sealed = intake.seal_for("routing", {"id_number": ID_NUMBER}, context="TB1")
    assert sealed["recipient"] == "sealing-routing#1"
    assert ID_NUMBER not in str(sealed)
    assert routing.unseal(sealed, context="TB1") == {"id_number": ID_NUMBER}
    with pytest.raises(DecryptionFailed):
        routing.unseal(sealed, context="TB2")  # copied into another application's event
    with pytest.raises(DecryptionFailed):
        delivery.unseal(sealed, context="TB1")  # not its to open
    with pytest.raises(DecryptionFailed):
        routing.unseal({**sealed, "key": sealed["key"][:-8] + "AAAAAAA="}, context="TB1")


def test_what_was_sealed_to_a_retired_key_still_opens_after_rotation(ring: KeyRing) -> None:
    routing = PersonalData(ring, service="routing")
    routing.ensure_own_key()
    intake = PersonalData(ring, service="intake")
    before = intake.seal_for("routing", "first", context="TB1")
    assert ring.rotate("sealing-routing") == "sealing-routing#2"
    after = intake.seal_for("routing", "second", context="TB1")
    assert after["recipient"] == "sealing-routing#2"
    assert routing.unseal(before, context="TB1") == "first"
    assert routing.unseal(after, context="TB1") == "second"


def test_a_content_key_seals_a_bounded_number_of_messages_each_bound_to_its_context(
    ring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    routing = PersonalData(ring, service="routing")
    routing.ensure_own_key()
    intake = PersonalData(ring, service="intake")
    monkeypatch.setattr(personal_module, "SEAL_KEY_USES", 3)
    sealed = [intake.seal_for("routing", f"value {n}", context=f"TB{n}") for n in range(4)]

    # One SM2-wrapped key for the first three, a new one after: a leaked content key exposes
    # a bounded number of messages.
    assert len({s["key"] for s in sealed[:3]}) == 1
    assert sealed[3]["key"] != sealed[0]["key"]
    assert len({s["ciphertext"] for s in sealed}) == 4
    assert [routing.unseal(s, context=f"TB{n}") for n, s in enumerate(sealed)] == [
        f"value {n}" for n in range(4)
    ]
    # The shared key does not let a message pass for another application's.
    with pytest.raises(DecryptionFailed):
        routing.unseal(sealed[1], context="TB0")
    with pytest.raises(DecryptionFailed):
        PersonalData(ring, service="delivery").unseal(sealed[0], context="TB0")


def test_a_content_key_is_replaced_after_its_time(
    ring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    PersonalData(ring, service="routing").ensure_own_key()
    intake = PersonalData(ring, service="intake")
    first = intake.seal_for("routing", "x", context="TB1")
    later = time.monotonic() + personal_module.SEAL_KEY_SECONDS
    monkeypatch.setattr(personal_module.time, "monotonic", lambda: later)
    assert intake.seal_for("routing", "x", context="TB1")["key"] != first["key"]


def test_a_sender_needs_the_recipients_public_key_outside_development(ring: KeyRing) -> None:
    with pytest.raises(KeyRingError, match="sealing-delivery"):
        PersonalData(ring, service="approval").seal_for("delivery", "x", context="TB1")
    sealed = PersonalData(ring, service="approval", create_missing_recipients=True).seal_for(
        "delivery", "x", context="TB1"
    )
    assert PersonalData(ring, service="delivery").unseal(sealed, context="TB1") == "x"


def test_outbox_payloads_are_encrypted_at_rest_and_opened_for_the_relay(
    personal: PersonalData,
) -> None:
    payload = {"applicant": {"id_number": ID_NUMBER}}
    stored = seal_payload(payload, "event-1", personal)
    assert set(stored) == {"encrypted"} and ID_NUMBER not in str(stored)
    assert open_payload(stored, "event-1", personal) == payload
    assert seal_payload(payload, "event-1", None) == payload  # no cipher: in clear, as before
    assert open_payload(payload, "event-1", None) == payload
    with pytest.raises(UnbuildableRecord):
        open_payload(stored, "event-2", personal)  # another row's payload
    with pytest.raises(UnbuildableRecord):
        open_payload(stored, "event-1", None)
