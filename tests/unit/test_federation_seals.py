"""What a partner's anchor says of its seals (contracts/federation.md §11), and which
applications a province's own services leave to the receiving province (shared.federation.
cases)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.crypto.keyring import SoftwareSigner
from shared.crypto.sm import sm2_generate
from shared.federation.anchors import AnchorError, SealKey, make_anchor, read_anchor
from shared.federation.cases import from_partner_window, numbered_by_partner

SIGNER_PRIVATE, SIGNER_PUBLIC = sm2_generate()
SIGNER = SoftwareSigner("federation#1", "SM2-SM3", SIGNER_PRIVATE)
_, NANJING_SEAL = sm2_generate()


def anchor_file(tmp_path: Path, seals: tuple[SealKey, ...]) -> Path:
    anchor = make_anchor(
        province="32",
        name="江苏省",
        gateway_url="https://127.0.0.1:9010",
        signer=SIGNER,
        keys={SIGNER.kid: SIGNER_PUBLIC},
        valid_days=30,
        seals=seals,
    )
    path = tmp_path / "32.json"
    path.write_text(json.dumps(anchor.as_json(), ensure_ascii=False), encoding="utf-8")
    return path


def test_an_anchor_names_its_localities_seals_under_its_signature(tmp_path: Path) -> None:
    seal = SealKey(kid="seal-320100#1", locality="320100", public_key=NANJING_SEAL)
    anchor = read_anchor(anchor_file(tmp_path, (seal,)))
    assert anchor.seal_key("seal-320100#1") == seal
    assert anchor.seal_key("seal-320500#1") is None


def test_an_anchor_without_seals_signs_the_bytes_it_always_did(tmp_path: Path) -> None:
    anchor = read_anchor(anchor_file(tmp_path, ()))
    assert "seals" not in anchor.body() and anchor.seals == ()


def test_a_seal_added_or_changed_in_the_file_breaks_the_anchor(tmp_path: Path) -> None:
    path = anchor_file(tmp_path, (SealKey("seal-320100#1", "320100", NANJING_SEAL),))
    data = json.loads(path.read_text(encoding="utf-8"))
    _, other = sm2_generate()
    data["seals"][0]["public_key"] = SealKey("seal-320100#1", "320100", other).as_json()[
        "public_key"
    ]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(AnchorError, match="altered"):
        read_anchor(path)


@pytest.mark.parametrize(
    ("kid", "locality"),
    [("seal-340100#1", "340100"), ("seal-320500#1", "320100"), ("federation#1", "320100")],
)
def test_a_seal_of_another_province_or_locality_is_refused(
    tmp_path: Path, kid: str, locality: str
) -> None:
    with pytest.raises(AnchorError):
        read_anchor(anchor_file(tmp_path, (SealKey(kid, locality, NANJING_SEAL),)))


def test_a_partner_windows_application_is_told_by_its_window_or_number() -> None:
    # The tests run as Anhui (340000).
    assert from_partner_window("320102") and not from_partner_window("341200")
    assert numbered_by_partner("TB32010220261203000001")
    assert not numbered_by_partner("TB34120020261203000001")
    assert not numbered_by_partner("YJS341200202501070001")  # not an application number
