"""Intake's rules: 一次性告知, 容缺受理, 告知承诺制, 原件核验, numbers and the status timeline."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from services.intake.domain import (
    Assessment,
    Problem,
    Submission,
    SubmittedMaterial,
    TimelineFact,
    advanced_status,
    application_number,
    assess,
    note_text,
    status_after,
    status_after_supplement,
    timeline_fact,
)
from services.intake.usecases.notices import problems_in
from shared.i18n import CHINESE, ENGLISH, use_locale
from shared.identity import id_number_digest, mask_name, sample_resident_id, sample_uscc
from shared.messaging import events
from shared.reference.catalog import CatalogItem, get_item
from shared.vocabulary import ApplicationStatus

S = ApplicationStatus

PERSON_ID = sample_resident_id("341202", date(1988, 3, 14), 21)
ENTERPRISE_ID = sample_uscc("340111", 42)
APPLICATION_NO = "TB34120020250613000001"
AT = datetime(2025, 6, 13, 9, 30, tzinfo=UTC)


def item(code: str) -> CatalogItem:
    found = get_item(code)
    assert found is not None, code
    return found


def handed(code: str, *, verified: bool = False) -> SubmittedMaterial:
    return SubmittedMaterial(material_code=code, original_verified=verified)


# A complete 户口迁移证明 application from a 颍州区 resident, every material handed in.
HUKOU = item("GA-HJ-001")  # M01 身份证 (original), M02 户口簿 (deferrable), M03 (commitment)
COMPLETE = Submission(
    applicant_kind="person",
    id_type="resident_id",
    id_number=PERSON_ID,
    applicant_locality="341202",
    materials=[handed("M01", verified=True), handed("M02"), handed("M03")],
    commitments=[],
    delivery_method="window_pickup",
    has_postal_address=False,
)


def codes(assessment: Assessment) -> list[tuple[str, str]]:
    """(where, code) of every problem, in the order they are reported."""
    return [(p.material_code or p.field or "", p.code) for p in assessment.problems]


# --- completeness -----------------------------------------------------------------------------


def test_a_complete_application_has_no_problems_and_nothing_deferred() -> None:
    result = assess(HUKOU, COMPLETE, may_verify_originals=True)
    assert result.complete
    assert result.problems == []
    assert result.deferred == []


def test_a_deferrable_missing_material_is_deferred_not_a_problem() -> None:
    submission = replace(COMPLETE, materials=[handed("M01", verified=True), handed("M03")])
    result = assess(HUKOU, submission, may_verify_originals=True)
    assert result.complete
    assert result.deferred == ["M02"]


def test_a_missing_key_material_is_a_problem() -> None:
    submission = replace(COMPLETE, materials=[handed("M02"), handed("M03")])
    result = assess(HUKOU, submission, may_verify_originals=True)
    assert not result.complete
    assert codes(result) == [("M01", "material_missing")]
    assert result.deferred == []


def test_a_deferrable_material_that_needs_its_original_is_still_deferred_when_missing() -> None:
    # 企业变更登记 M05 营业执照正、副本: deferrable, original checked when it comes.
    enterprise = replace(
        COMPLETE,
        applicant_kind="enterprise",
        id_type="uscc",
        id_number=ENTERPRISE_ID,
        applicant_locality="340111",
        materials=[handed("M01"), handed("M02", verified=True), handed("M03"), handed("M04")],
    )
    result = assess(item("SJ-DJ-001"), enterprise, may_verify_originals=True)
    assert result.complete
    assert result.deferred == ["M05"]


def test_several_deferrable_materials_are_all_deferred() -> None:
    # 住房公积金异地贷款: M03 and M04 may both follow later.
    submission = replace(
        COMPLETE,
        property_locality="340104",
        materials=[handed("M01", verified=True), handed("M02", verified=True), handed("M05")],
    )
    result = assess(item("ZF-GJJ-001"), submission, may_verify_originals=True)
    assert result.complete
    assert result.deferred == ["M03", "M04"]


def test_a_signed_commitment_replaces_a_material_that_allows_it() -> None:
    submission = replace(
        COMPLETE, materials=[handed("M01", verified=True), handed("M02")], commitments=["M03"]
    )
    result = assess(HUKOU, submission, may_verify_originals=True)
    assert result.complete
    assert result.deferred == []


def test_a_commitment_allowed_material_is_still_required_without_a_commitment() -> None:
    submission = replace(COMPLETE, materials=[handed("M01", verified=True), handed("M02")])
    result = assess(HUKOU, submission, may_verify_originals=True)
    assert codes(result) == [("M03", "material_missing")]


def test_a_commitment_cannot_replace_a_key_material() -> None:
    submission = replace(COMPLETE, materials=[handed("M02"), handed("M03")], commitments=["M01"])
    result = assess(HUKOU, submission, may_verify_originals=True)
    # One problem for M01, and it says why: not "missing" but "no commitment allowed".
    assert codes(result) == [("M01", "commitment_not_allowed")]


def test_an_optional_material_may_be_left_out() -> None:
    # 身份证换领 M03 户口簿复印件 is optional.
    submission = replace(COMPLETE, materials=[handed("M01", verified=True), handed("M02")])
    result = assess(item("GA-SFZ-001"), submission, may_verify_originals=True)
    assert result.complete
    assert result.deferred == []


def test_a_material_the_item_does_not_have_is_a_problem() -> None:
    submission = replace(
        COMPLETE, materials=[*COMPLETE.materials, handed("M99")], commitments=["X01"]
    )
    result = assess(HUKOU, submission, may_verify_originals=True)
    assert codes(result) == [("M99", "unknown_material"), ("X01", "unknown_material")]


# --- originals (原件核验) ---------------------------------------------------------------------


def test_an_original_that_must_be_verified_but_is_not_is_a_problem() -> None:
    submission = replace(COMPLETE, materials=[handed("M01"), handed("M02"), handed("M03")])
    result = assess(HUKOU, submission, may_verify_originals=True)
    assert codes(result) == [("M01", "original_not_verified")]


def test_a_window_without_the_verify_right_cannot_vouch_for_an_original() -> None:
    result = assess(HUKOU, COMPLETE, may_verify_originals=False)
    # Only M01 is flagged: M02 and M03, handed in as copies, need no right.
    assert codes(result) == [("M01", "no_verify_original_right")]


# --- the applicant and delivery --------------------------------------------------------------


# 企业变更登记 with everything handed in; M02 and M05 are originals checked at the window.
ENTERPRISE_MATERIALS = [
    handed("M01"),
    handed("M02", verified=True),
    handed("M03"),
    handed("M04"),
    handed("M05", verified=True),
]


def test_an_enterprise_applies_with_its_credit_code() -> None:
    submission = replace(
        COMPLETE,
        applicant_kind="enterprise",
        id_type="uscc",
        id_number=ENTERPRISE_ID,
        materials=ENTERPRISE_MATERIALS,
    )
    assert assess(item("SJ-DJ-001"), submission, may_verify_originals=True).complete


def test_a_person_cannot_apply_for_an_enterprise_item() -> None:
    submission = replace(COMPLETE, materials=ENTERPRISE_MATERIALS)
    result = assess(item("SJ-DJ-001"), submission, may_verify_originals=True)
    assert codes(result) == [("applicant.kind", "applicant_kind_not_allowed")]


def test_an_enterprise_with_a_resident_id_number_is_an_id_type_mismatch() -> None:
    submission = replace(
        COMPLETE,
        applicant_kind="enterprise",
        materials=ENTERPRISE_MATERIALS,
    )
    result = assess(item("SJ-DJ-001"), submission, may_verify_originals=True)
    assert codes(result) == [("applicant.id_type", "id_type_mismatch")]


@pytest.mark.parametrize(
    "id_number",
    [
        PERSON_ID[:-1] + ("0" if PERSON_ID[-1] != "0" else "1"),  # wrong check character
        PERSON_ID[:17],  # too short
        "341202198813140211",  # 13th month
        "",
    ],
)
def test_an_invalid_id_number_is_a_problem(id_number: str) -> None:
    result = assess(HUKOU, replace(COMPLETE, id_number=id_number), may_verify_originals=True)
    assert codes(result) == [("applicant.id_number", "invalid_id_number")]
    assert result.problems[0].message  # says what is wrong


def test_a_property_item_needs_the_property_locality() -> None:
    loan = item("ZF-GJJ-001")
    submission = replace(
        COMPLETE,
        materials=[handed("M01", verified=True), handed("M02", verified=True), handed("M05")],
    )
    result = assess(loan, submission, may_verify_originals=True)
    assert codes(result) == [("property_locality", "property_locality_required")]
    with_property = replace(submission, property_locality="340104")
    assert assess(loan, with_property, may_verify_originals=True).complete


def test_postal_delivery_needs_an_address() -> None:
    postal = replace(COMPLETE, delivery_method="postal")
    result = assess(HUKOU, postal, may_verify_originals=True)
    assert codes(result) == [("delivery.address", "postal_address_required")]
    with_address = replace(postal, has_postal_address=True)
    assert assess(HUKOU, with_address, may_verify_originals=True).complete


def test_a_delivery_method_the_item_does_not_offer_is_a_problem() -> None:
    # 异地就医备案 is collected at the window only.
    medical = item("YL-YB-001")
    submission = replace(
        COMPLETE,
        materials=[handed("M01", verified=True), handed("M02")],
        commitments=["M03"],
        delivery_method="postal",
        has_postal_address=True,
    )
    result = assess(medical, submission, may_verify_originals=True)
    assert codes(result) == [("delivery.method", "delivery_method_not_offered")]


# --- 一次性告知: every problem at once ------------------------------------------------------------


def test_every_problem_is_listed_at_once() -> None:
    bad = Submission(
        applicant_kind="enterprise",  # 户口迁移 is for persons
        id_type="resident_id",  # an enterprise uses its credit code
        id_number="123",
        applicant_locality="341202",
        materials=[handed("M01"), handed("M77")],  # M01 original not verified, M77 unknown
        commitments=["M01"],  # ignored: M01 was handed in
        delivery_method="postal",
        has_postal_address=False,
    )
    result = assess(HUKOU, bad, may_verify_originals=True)
    assert sorted(codes(result)) == sorted(
        [
            ("applicant.kind", "applicant_kind_not_allowed"),
            ("applicant.id_number", "invalid_id_number"),
            ("applicant.id_type", "id_type_mismatch"),
            ("delivery.address", "postal_address_required"),
            ("M77", "unknown_material"),
            ("M01", "original_not_verified"),
            ("M03", "material_missing"),
        ]
    )
    # The deferrable M02 is not a problem, even on an application that is sent back.
    assert result.deferred == ["M02"]
    assert not result.complete


def test_a_problem_names_either_its_material_or_its_field() -> None:
    on_material = Problem("material_missing", "居民身份证 is required.", material_code="M01")
    on_field = Problem("invalid_id_number", "bad", field="applicant.id_number")
    assert on_material.as_dict() == {
        "material_code": "M01",
        "code": "material_missing",
        "message": "居民身份证 is required.",
    }
    assert on_field.as_dict() == {
        "field": "applicant.id_number",
        "code": "invalid_id_number",
        "message": "bad",
    }


def test_a_problem_is_answered_in_the_readers_language_and_stored_to_be_read_in_any() -> None:
    missing = Problem(
        "material_missing", "{material} is required.", "M01", params={"material": "居民身份证"}
    )
    with use_locale(CHINESE):
        assert missing.as_dict()["message"] == "须提交居民身份证。"
    with use_locale(ENGLISH):
        assert missing.as_dict()["message"] == "居民身份证 is required."
    stored = missing.stored()
    assert problems_in(ENGLISH, [stored]) == [
        {"material_code": "M01", "code": "material_missing", "message": "居民身份证 is required."}
    ]
    assert problems_in(CHINESE, [stored])[0]["message"] == "须提交居民身份证。"


def test_a_notice_stored_before_problems_had_parameters_is_shown_as_written() -> None:
    old = {"material_code": "M01", "code": "material_missing", "message": "居民身份证 is required."}
    assert problems_in(CHINESE, [old]) == [old]


# --- application numbers ---------------------------------------------------------------------


def test_application_number_is_tb_locality_date_and_sequence() -> None:
    assert application_number("341200", date(2026, 11, 23), 1) == "TB34120020261123000001"
    assert application_number("340104", date(2025, 1, 5), 123456) == "TB34010420250105123456"


def test_application_numbers_differ_by_window_locality_day_and_sequence() -> None:
    day = date(2025, 6, 13)
    numbers = {
        application_number("341200", day, 1),
        application_number("340100", day, 1),
        application_number("341200", date(2025, 6, 14), 1),
        application_number("341200", day, 2),
    }
    assert len(numbers) == 4
    assert all(len(number) == 22 for number in numbers)


# --- timeline and status ---------------------------------------------------------------------

APPLICANT = events.Applicant(
    kind="person",
    name="张三",
    id_type="resident_id",
    id_number=PERSON_ID,
    phone="13812345678",
    locality="341202",
)
PICKUP = events.Delivery(method="window_pickup")


def _routed() -> events.ApplicationRouted:
    return events.ApplicationRouted(
        application_no=APPLICATION_NO,
        item_code="GA-HJ-001",
        item_name="户口迁移证明开具",
        applicant=APPLICANT,
        receiving_locality="341202",
        window_id="W-341202-01",
        competent_locality="340100",
        department="公安局",
        materials=[events.SubmittedMaterial(material_code="M01", sha256="0" * 64)],
        delivery=PICKUP,
        accepted_at=AT,
        promised_date=date(2025, 6, 20),
        statutory_days=20,
        promised_days=5,
        routed_at=AT,
    )


def _decided() -> dict[str, object]:
    return {
        "application_no": APPLICATION_NO,
        "locality": "340100",
        "item_code": "GA-HJ-001",
        "decided_at": AT,
        "receiving_locality": "341202",
        "window_id": "W-341202-01",
        "holder_name_masked": mask_name(APPLICANT.name),
        "holder_id_digest": id_number_digest(PERSON_ID, b"test-key"),
        "delivery": PICKUP,
    }


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (
            events.Routed(
                application_no=APPLICATION_NO,
                competent_locality="340100",
                department="公安局",
                receiving_locality="341202",
                routed_at=AT,
            ),
            TimelineFact(S.ROUTED, "340100", "Sent to 合肥市公安局", competent_locality="340100"),
        ),
        (
            events.Unroutable(
                application_no=APPLICATION_NO,
                reason="right_revoked",
                message="Windows of 341202 held no accept right.",
                receiving_locality="341202",
                decided_at=AT,
            ),
            TimelineFact(
                S.UNROUTABLE,
                "341202",
                "Cannot be routed (right_revoked): Windows of 341202 held no accept right.",
            ),
        ),
        (
            events.CaseOpened(
                application_no=APPLICATION_NO,
                locality="340100",
                deadline=date(2025, 6, 20),
                opened_at=AT,
            ),
            TimelineFact(S.IN_REVIEW, "340100", "Under review, due 2025-06-20"),
        ),
        (
            events.ApplicationApproved(
                **_decided(), certificate_no="ZZ34010020250000001", item_name="户口迁移证明开具"
            ),
            TimelineFact(S.APPROVED, "340100", "Approved, certificate ZZ34010020250000001"),
        ),
        (
            events.ApplicationRejected(**_decided(), reason="迁移事由不符合政策"),
            TimelineFact(S.REJECTED, "340100", "迁移事由不符合政策"),
        ),
        (
            events.ApplicationRejected(**_decided()),
            TimelineFact(S.REJECTED, "340100", "Rejected"),
        ),
        (
            events.CertificateReadyForPickup(
                application_no=APPLICATION_NO,
                certificate_no="ZZ34010020250000001",
                window_id="W-341202-01",
                locality="341202",
                queued_at=AT,
            ),
            TimelineFact(S.READY_FOR_PICKUP, "341202", "Ready for pickup at window W-341202-01"),
        ),
        (
            events.CertificateDelivered(
                application_no=APPLICATION_NO,
                certificate_no="ZZ34010020250000001",
                locality="341202",
                delivered_at=AT,
                channel="postal",
            ),
            TimelineFact(S.DELIVERED, "341202", "Delivered by post"),
        ),
        (
            events.CertificateDelivered(
                application_no=APPLICATION_NO,
                certificate_no="ZZ34010020250000001",
                locality="341202",
                delivered_at=AT,
                channel="postal",
                tracking_no="SP0000000042",
            ),
            TimelineFact(S.DELIVERED, "341202", "Delivered by post, tracking SP0000000042"),
        ),
        (
            events.CertificateDelivered(
                application_no=APPLICATION_NO,
                certificate_no="ZZ34010020250000001",
                locality="341202",
                delivered_at=AT,
                channel="window",
                collected_by="agent",
            ),
            TimelineFact(S.DELIVERED, "341202", "Delivered (window, to the agent)"),
        ),
        (
            events.CertificateDispatched(
                application_no=APPLICATION_NO,
                certificate_no="ZZ34010020250000001",
                locality="341202",
                carrier="sim-post",
                tracking_no="SP0000000042",
                dispatched_at=AT,
            ),
            TimelineFact(
                S.DISPATCHED, "341202", "Dispatched by post (sim-post), tracking SP0000000042"
            ),
        ),
        (
            events.CertificateInTransit(
                application_no=APPLICATION_NO,
                certificate_no="ZZ34010020250000001",
                locality="341202",
                tracking_no="SP0000000042",
                carrier_event="picked_up",
                at=AT,
            ),
            TimelineFact(
                S.DISPATCHED,
                "341202",
                "Picked up by the carrier, tracking SP0000000042",
                entry_status="in_transit",
            ),
        ),
        (
            events.CertificateInTransit(
                application_no=APPLICATION_NO,
                certificate_no="ZZ34010020250000001",
                locality="341202",
                tracking_no="SP0000000042",
                carrier_event="in_transit",
                at=AT,
            ),
            TimelineFact(
                S.DISPATCHED,
                "341202",
                "In transit, tracking SP0000000042",
                entry_status="in_transit",
            ),
        ),
    ],
    ids=[
        "routed",
        "unroutable",
        "opened",
        "approved",
        "rejected",
        "rejected-no-reason",
        "ready",
        "delivered-by-post",
        "delivered-by-post-tracked",
        "delivered-at-window",
        "dispatched",
        "picked-up",
        "in-transit",
    ],
)
def test_each_event_becomes_one_timeline_entry(
    payload: events.EventPayload, expected: TimelineFact
) -> None:
    fact = timeline_fact(payload)
    assert fact is not None
    # The note is stored as its source and parameters; `expected` says how English reads it.
    in_english = note_text(fact.note, fact.note_params, ENGLISH)
    assert replace(fact, note=in_english, note_params={}) == expected


@pytest.mark.parametrize(
    ("payload", "chinese"),
    [
        (
            events.Routed(
                application_no=APPLICATION_NO,
                competent_locality="340100",
                department="公安局",
                receiving_locality="341202",
                routed_at=AT,
            ),
            "已分送合肥市公安局审批",
        ),
        (
            events.CaseSupplementRequested(
                application_no=APPLICATION_NO,
                locality="340100",
                materials=["M01", "M02"],
                reason="请补交户口簿复印件",
                requested_at=AT,
            ),
            "要求补正材料：居民身份证、户口簿。请补交户口簿复印件",
        ),
        (
            events.CertificateDelivered(
                application_no=APPLICATION_NO,
                certificate_no="ZZ34010020250000001",
                locality="341202",
                delivered_at=AT,
                channel="window",
                collected_by="applicant",
            ),
            "已在窗口送达申请人",
        ),
    ],
    ids=["routed", "supplement-requested", "delivered-at-window"],
)
def test_a_note_reads_in_chinese_with_places_and_materials_named(
    payload: events.EventPayload, chinese: str
) -> None:
    fact = timeline_fact(payload)
    assert fact is not None
    names = {"M01": "居民身份证", "M02": "户口簿"}
    assert note_text(fact.note, fact.note_params, CHINESE, names) == chinese


def test_a_note_written_before_notes_were_translated_is_shown_as_written() -> None:
    assert note_text("Accepted at window W341200-01", None, CHINESE) == (
        "Accepted at window W341200-01"
    )


def test_handing_in_what_was_requested_says_so_until_review_resumes() -> None:
    submitted = status_after_supplement(S.SUPPLEMENT_REQUESTED, answers_request=True)
    assert submitted == S.SUPPLEMENT_SUBMITTED
    # Deferred materials (容缺) handed in during review leave the status as it is.
    assert status_after_supplement(S.IN_REVIEW, answers_request=False) == S.IN_REVIEW
    resumed = events.CaseResumed(
        application_no=APPLICATION_NO,
        locality="340100",
        deadline=date(2025, 6, 27),
        paused_working_days=3,
        resumed_at=AT,
    )
    fact = timeline_fact(resumed)
    assert fact is not None
    assert status_after(submitted, "340100", fact) == S.IN_REVIEW


def test_the_acceptance_event_adds_nothing_to_the_timeline() -> None:
    # Intake wrote the "accepted" entry itself when it accepted the application.
    accepted = events.ApplicationAccepted(**_routed().model_dump(exclude={"routed_at"}))
    assert timeline_fact(accepted) is None


JOURNEY = [S.ACCEPTED, S.ROUTED, S.IN_REVIEW, S.APPROVED, S.READY_FOR_PICKUP, S.DELIVERED]
POSTAL_JOURNEY = [S.ACCEPTED, S.ROUTED, S.IN_REVIEW, S.APPROVED, S.DISPATCHED, S.DELIVERED]


@pytest.mark.parametrize(
    ("earlier", "later"),
    sorted(
        {
            (journey[i], journey[j])
            for journey in (JOURNEY, POSTAL_JOURNEY)
            for i in range(len(journey))
            for j in range(i + 1, len(journey))
        }
    ),
)
def test_status_moves_forward_and_never_backwards(
    earlier: ApplicationStatus, later: ApplicationStatus
) -> None:
    assert advanced_status(earlier, later) == later
    # A late event from another topic arrives after a later one: it is ignored.
    assert advanced_status(later, earlier) == later


@pytest.mark.parametrize("status", list(ApplicationStatus))
def test_the_same_status_again_changes_nothing(status: ApplicationStatus) -> None:
    assert advanced_status(status, status) == status


@pytest.mark.parametrize("late", [S.ROUTED, S.IN_REVIEW, S.APPROVED, S.READY_FOR_PICKUP])
def test_a_delivered_application_stays_delivered(late: ApplicationStatus) -> None:
    assert advanced_status(S.DELIVERED, late) == S.DELIVERED


@pytest.mark.parametrize("late", [S.ACCEPTED, S.ROUTED, S.IN_REVIEW])
def test_a_rejection_is_not_undone_by_late_review_events(late: ApplicationStatus) -> None:
    assert advanced_status(S.REJECTED, late) == S.REJECTED


def test_an_unroutable_application_is_not_reopened_by_a_late_routing_event() -> None:
    assert advanced_status(S.ACCEPTED, S.UNROUTABLE) == S.UNROUTABLE
    assert advanced_status(S.UNROUTABLE, S.ROUTED) == S.UNROUTABLE
    assert advanced_status(S.UNROUTABLE, S.IN_REVIEW) == S.UNROUTABLE


def _tracked(fact_of: events.EventPayload) -> TimelineFact:
    fact = timeline_fact(fact_of)
    assert fact is not None
    return fact


IN_TRANSIT = events.CertificateInTransit(
    application_no=APPLICATION_NO,
    certificate_no="ZZ34010020250000001",
    locality="341202",
    tracking_no="SP0000000042",
    carrier_event="in_transit",
    at=AT,
)


def test_a_parcel_in_transit_leaves_the_application_dispatched() -> None:
    fact = _tracked(IN_TRANSIT)
    assert status_after(S.DISPATCHED, "340100", fact) == S.DISPATCHED
    # The carrier's report came before delivery's own dispatch notice: it was dispatched.
    assert status_after(S.APPROVED, "340100", fact) == S.DISPATCHED


@pytest.mark.parametrize("late", ["dispatched", "in_transit"])
def test_a_late_postal_report_never_undoes_a_delivery(late: str) -> None:
    payload: events.EventPayload = IN_TRANSIT
    if late == "dispatched":
        payload = events.CertificateDispatched(
            application_no=APPLICATION_NO,
            certificate_no="ZZ34010020250000001",
            locality="341202",
            carrier="sim-post",
            tracking_no="SP0000000042",
            dispatched_at=AT,
        )
    assert status_after(S.DELIVERED, "340100", _tracked(payload)) == S.DELIVERED
