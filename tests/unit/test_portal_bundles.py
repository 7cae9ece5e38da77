"""The portal's combined form of a bundle (一件事): each document once, referenced by every chosen
member that lists it; what a sibling's certificate proves not asked for; commitments and
deferred materials per member. The backend is a stand-in recording what intake would be sent."""

from __future__ import annotations

from typing import Any

from services.portal.backend import Answer
from services.portal.residents import Resident
from services.portal.usecases import bundles
from services.portal.usecases.submission import Scan

ZHANG = Resident("340104199005170018", "张晓明", "13805510000")


class Recorder:
    """Intake as the portal calls it: every upload gets the content's own digest."""

    def __init__(self) -> None:
        self.uploads: list[str] = []
        self.sent: dict[str, Any] = {}

    async def upload(self, window_id: str, filename: str, content: bytes) -> Answer:
        self.uploads.append(filename)
        return Answer(201, {"sha256": f"sha-{filename}"})

    async def submit_bundle(
        self, applicant: str, window_id: str, body: dict[str, Any], key: str
    ) -> Answer:
        self.sent = body
        return Answer(201, {"bundle_no": "YJS34120020261203000001"})


def test_a_document_several_members_list_is_one_scan_and_certificates_are_not_asked_for() -> None:
    guide = bundles.the_guide("YJS-XSECS")
    by_name = {slot.name: slot for slot in guide.scans}
    shared = by_name["父母双方居民身份证"]
    assert [(u.item_code, u.material_code) for u in shared.uses] == [
        ("WJ-CS-001", "M01"),
        ("GA-HJ-003", "M03"),
    ]
    # 出生医学证明 is proven by the first member's certificate for 入户 and 预防接种证.
    assert "出生医学证明" not in by_name
    assert by_name["父母结婚证"].commitment_allowed
    assert by_name["近期免冠证件照片电子版"].deferrable
    registration = next(m for m in guide.members if m.item.item_code == "GA-HJ-003")
    assert [(w.item.item_code, w.material) for w in registration.waits_for] == [
        ("WJ-CS-001", "出生医学证明")
    ]
    assert guide.delivery_methods == ["window_pickup", "postal"]


async def test_the_body_references_one_upload_from_each_member_and_only_chosen_members() -> None:
    guide = bundles.the_guide("YJS-XSECS")
    slot = {s.name: s.slot for s in guide.scans}
    recorder = Recorder()
    form = bundles.OnlineBundle(
        guide=guide,
        window_id="W341200-01",
        optional={"WJ-YM-001"},
        shared_fields={"newborn_name": "张小满", "birth_place": ""},
        scans={slot["父母双方居民身份证"]: Scan("父母双方居民身份证", "id.pdf", b"%PDF")},
        commitments={slot["父母结婚证"]},
        delivery_method="window_pickup",
        address=None,
        key="k",
    )
    outcome = await bundles.submit(recorder, ZHANG, "d" * 64, form)  # type: ignore[arg-type]
    assert outcome.bundle_no == "YJS34120020261203000001"
    assert recorder.uploads == ["id.pdf"]  # once, for two members
    sent = recorder.sent
    members = {m["item_code"]: m for m in sent["members"]}
    # The required four and the optional one chosen (生育津贴 not).
    assert list(members) == ["WJ-CS-001", "GA-HJ-003", "YL-CB-001", "SB-SBK-002", "WJ-YM-001"]
    assert members["WJ-CS-001"]["materials"] == [{"material_code": "M01", "sha256": "sha-id.pdf"}]
    assert members["GA-HJ-003"]["materials"] == [{"material_code": "M03", "sha256": "sha-id.pdf"}]
    assert members["GA-HJ-003"]["commitments"] == ["M04"]
    assert sent["shared_fields"] == {"newborn_name": "张小满"}  # empty fields left out
    assert sent["applicant"]["id_number"] == ZHANG.id_number
    assert sent["delivery"] == {"method": "window_pickup"}
