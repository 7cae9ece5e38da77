"""视频核验 on approval's cases, as approval's consumer and case view call it: a verification is
kept once whatever order it comes in with the case, only for a served locality and an
application; the case shows those of its own locality (or the city above it) and item, each with
its call's recording once that is announced."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from services.approval.usecases.cases import open_case
from services.approval.usecases.video import (
    record_recording,
    record_verification,
    verifications_of,
)
from shared.messaging import events
from tests import factories
from tests.usecases.conftest import Unit

HEFEI, SHUSHAN, WUHU = "340100", "340104", "340200"
SERVED = frozenset({HEFEI, SHUSHAN})
AT = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)


def verified(
    application_no: str | None,
    *,
    locality: str = HEFEI,
    material: str = "M01",
    item_code: str = "GA-HJ-001",
    consultation_id: str = "VC0001",
) -> events.MaterialVerifiedByVideo:
    return events.MaterialVerifiedByVideo(
        consultation_id=consultation_id,
        application_no=application_no,
        item_code=item_code,
        locality=locality,
        window_id="W341200-02",
        material_code=material,
        note="原件与复印件一致",
        verified_by=events.ConsultationParty(
            sub="approver-hf-01", role="approver", locality=locality
        ),
        verified_at=AT,
    )


def recorded(application_no: str, consultation_id: str = "VC0001") -> events.ConsultationRecorded:
    return events.ConsultationRecorded(
        consultation_id=consultation_id,
        application_no=application_no,
        item_code="GA-HJ-001",
        locality=HEFEI,
        window_id="W341200-02",
        blob="b" * 64,
        sm3="c" * 64,
        size_bytes=123456,
        duration_seconds=42,
        parties=(),
        recorded_at=AT + timedelta(minutes=5),
        retained_until=date(2026, 8, 30),
    )


async def test_a_verification_before_its_case_is_kept_once_and_shown_with_its_recording(
    approval: Unit,
) -> None:
    application = factories.routed(HEFEI)
    number = application.application_no
    # The consultation's topic and routing's requests come in no order to one another.
    async with approval.transaction() as session:
        assert await record_verification(session, verified(number), SERVED) is True
        # The same fact again (another event id the inbox cannot catch): nothing more.
        assert await record_verification(session, verified(number), SERVED) is False
        await open_case(session, approval.outbox, application)
        shown = await verifications_of(session, number, HEFEI, "GA-HJ-001")
    assert [(v.material_code, v.material_name, v.recording) for v in shown] == [
        ("M01", "居民身份证", None)
    ]
    assert (
        shown[0].summary == "合肥市的 approver-hf-01 已在视频会商 VC0001 中视频核验居民身份证原件"
    )

    async with approval.transaction() as session:
        assert await record_recording(session, recorded(number), SERVED) is True
        assert await record_recording(session, recorded(number), SERVED) is False
        (seen,) = await verifications_of(session, number, HEFEI, "GA-HJ-001")
    assert seen.recording is not None
    assert (seen.recording.sm3, seen.recording.blob_sha256) == ("c" * 64, "b" * 64)
    assert seen.recording.duration_seconds == 42


async def test_only_a_served_localitys_verifications_of_an_application_are_kept(
    approval: Unit,
) -> None:
    async with approval.transaction() as session:
        assert await record_verification(session, verified("TB1", locality=WUHU), SERVED) is False
        # Before acceptance a consultation names no application: nothing of a case's.
        assert await record_verification(session, verified(None), SERVED) is False
        assert await verifications_of(session, "TB1", WUHU, "GA-HJ-001") == []


async def test_a_case_shows_its_own_localitys_and_items_verifications(approval: Unit) -> None:
    async with approval.transaction() as session:
        # 合肥's reviewers serve a 蜀山区 case; 蜀山区's do not serve a 合肥 case.
        await record_verification(session, verified("TB2"), SERVED)
        await record_verification(
            session, verified("TB2", locality=SHUSHAN, consultation_id="VC0002"), SERVED
        )
        # A consultation about another item that names this number (mistyped): not this case's.
        await record_verification(
            session, verified("TB2", item_code="MZ-HY-001", consultation_id="VC0003"), SERVED
        )
        county = await verifications_of(session, "TB2", SHUSHAN, "GA-HJ-001")
        city = await verifications_of(session, "TB2", HEFEI, "GA-HJ-001")
    assert sorted(v.consultation_id for v in county) == ["VC0001", "VC0002"]
    assert [v.consultation_id for v in city] == ["VC0001"]
