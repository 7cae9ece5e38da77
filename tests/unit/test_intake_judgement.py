"""How intake judges a submission from its replica of routing's rules, before writing anything."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from typing import Any

import pytest

from services.intake import domain
from services.intake.schemas import ApplicationAcceptedOut, ApplicationIn
from services.intake.usecases import acceptance, catalog, judging, submission
from shared.auth import Principal
from shared.clock import FixedClock, use_clock
from shared.crypto.keyring import KeyRing
from shared.crypto.personal import PersonalData
from shared.errors import Forbidden, Invalid, Unavailable
from shared.i18n import CHINESE, use_locale
from shared.jurisdiction import Agreement, JurisdictionRule, RuleBook
from shared.messaging.outbox import Outbox
from shared.reference.catalog import CATALOG
from shared.vocabulary import Right
from shared.workdays import add_working_days
from tooling.journey import household_application, sample_applicant

CLERK = Principal(sub="clerk", role="window_clerk", locality="341200", window_id="W341200-01")
RULES = [
    JurisdictionRule(item.item_code, item.jurisdiction, item.competent_level, item.department)
    for item in CATALOG
]
HEFEI_FOR_FUYANG = Agreement(
    id="a1",
    grantor_locality="340100",
    grantee_locality="341200",
    item_codes=("*",),
    rights=frozenset(Right),
)


# Acceptance writes personal data encrypted and sealed for routing: a key ring of this run.
KEY_RING = tempfile.TemporaryDirectory()
PERSONAL = PersonalData(
    KeyRing(KEY_RING.name, "tests", development=True),
    service="intake",
    create_missing_recipients=True,
)


DIGEST_KEY = b"test-digest-key"


CATALOG_2025 = catalog.Catalog.fixed({item.item_code: item for item in CATALOG})
OUTBOX = Outbox("/tests", personal=PERSONAL)


def judged(
    command: judging.SubmitApplication,
    book: RuleBook,
    scans: dict[str, tuple[int, str]],
    registry: dict[str, domain.RegisteredCertificate] | None = None,
) -> judging.Accept | judging.Notify:
    """The verdict with the built-in catalog, `book` as the replica of routing's rules, and the
    scans (and certificates) intake would have looked up."""
    return judging.judge(command, CATALOG_2025, book, DIGEST_KEY, scans, registry)


def uploaded(body: ApplicationIn) -> dict[str, tuple[int, str]]:
    """Every scan the body references, as if uploaded."""
    return {sha: (1000, "application/pdf") for sha in submission.referenced_scans(body)}


def judge(
    book: RuleBook, body: dict[str, Any], scans: dict[str, tuple[int, str]] | None = None
) -> judging.Accept | judging.Notify:
    command = judging.SubmitApplication(ApplicationIn.model_validate(body), CLERK, "key")
    known = uploaded(command.body) if scans is None else scans
    return judged(command, book, known)


def application(**changes: Any) -> dict[str, Any]:
    return {**household_application(sample_applicant("340104")), **changes}


def test_before_routing_has_published_its_rules_intake_says_try_again() -> None:
    with pytest.raises(Unavailable) as refused:
        judge(RuleBook(), application())
    assert refused.value.code == "routing_rules_unavailable"


def test_without_an_agreement_the_window_may_not_accept_for_another_city() -> None:
    with pytest.raises(Forbidden) as refused:
        judge(RuleBook.of(RULES, []), application())
    assert refused.value.code == "no_accept_right"
    assert refused.value.details == {"competent_locality": "340100", "item_code": "GA-HJ-001"}


def test_an_item_not_in_the_catalog_is_invalid_and_names_the_field() -> None:
    with pytest.raises(Invalid) as refused, use_locale(CHINESE):
        judge(RuleBook.of(RULES, [HEFEI_FOR_FUYANG]), application(item_code="XX-NONE-001"))
    assert refused.value.details == [
        {
            "field": "item_code",
            "code": "unknown_item",
            "message": "事项目录中没有事项 XX-NONE-001。",
        }
    ]


def test_an_unknown_applicant_locality_is_a_problem_of_the_one_time_notice() -> None:
    body = application()
    body["applicant"] = {**body["applicant"], "locality": "349999"}
    verdict = judge(RuleBook.of(RULES, [HEFEI_FOR_FUYANG]), body)
    assert isinstance(verdict, judging.Notify)
    assert ("applicant.locality", "unknown_locality") in {
        (p.field, p.code) for p in verdict.problems
    }


def test_with_the_agreement_in_the_replica_the_application_is_accepted() -> None:
    verdict = judge(RuleBook.of(RULES, [HEFEI_FOR_FUYANG]), application())
    assert isinstance(verdict, judging.Accept)
    assert verdict.resolution.competent_locality == "340100"
    assert verdict.deferred == ["M02"]


def test_the_receipt_counts_days_on_the_calendar_of_the_service_halls() -> None:
    # 16:30 UTC on 23 November is 00:30 on the 24th in 合肥 and 阜阳: the application is numbered
    # and its promise counted from the 24th, not from the server's UTC date.
    book = RuleBook.of(RULES, [HEFEI_FOR_FUYANG])
    command = judging.SubmitApplication(ApplicationIn.model_validate(application()), CLERK, "k")
    with use_clock(FixedClock(datetime(2026, 11, 23, 16, 30, tzinfo=UTC))):
        verdict = judged(command, book, uploaded(command.body))
        assert isinstance(verdict, judging.Accept)
        answer, values = acceptance.acceptance_of(command, verdict, OUTBOX, sequence=7)
    assert answer.body["application_no"] == "TB34120020261124000007"
    # The stored answer is the contract's ApplicationAcceptedOut, field for field.
    assert ApplicationAcceptedOut.model_validate(answer.body).model_dump(mode="json") == answer.body
    # GA-HJ-001 promises 5 working days: Tue 24 Nov + 5 → Tue 1 Dec.
    assert answer.body["promised_date"] == "2026-12-01"
    assert values["app_accepted_at"].isoformat().startswith("2026-11-24T00:30:00+08:00")


def test_a_scan_never_uploaded_is_a_problem_of_the_one_time_notice() -> None:
    verdict = judge(RuleBook.of(RULES, [HEFEI_FOR_FUYANG]), application(), scans={})
    assert isinstance(verdict, judging.Notify)
    assert [(p.code, p.material_code) for p in verdict.problems] == [("scan_not_uploaded", "M01")]


def test_an_agent_needs_a_valid_id_and_an_uploaded_letter_of_authorization() -> None:
    body = application()
    body["agent"] = {
        "name": "李代办",
        "id_type": "resident_id",
        "id_number": "340104199001010000",  # wrong check digit
        "phone": "13900000000",
        "authorization_sha256": "b" * 64,
    }
    scans = {body["materials"][0]["sha256"]: (1000, "application/pdf")}
    verdict = judge(RuleBook.of(RULES, [HEFEI_FOR_FUYANG]), body, scans=scans)
    assert isinstance(verdict, judging.Notify)
    assert sorted((p.code, p.field) for p in verdict.problems) == [
        ("invalid_id_number", "agent.id_number"),
        ("scan_not_uploaded", "agent.authorization_sha256"),
    ]


def test_deferred_materials_are_due_the_items_deferral_days_after_acceptance() -> None:
    book = RuleBook.of(RULES, [HEFEI_FOR_FUYANG])
    command = judging.SubmitApplication(ApplicationIn.model_validate(application()), CLERK, "k")
    with use_clock(FixedClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))):
        verdict = judged(command, book, uploaded(command.body))
        assert isinstance(verdict, judging.Accept)
        answer, values = acceptance.acceptance_of(command, verdict, OUTBOX, sequence=1)
    item = CATALOG_2025.current.items["GA-HJ-001"]
    assert answer.body["deferred"] == ["M02"]
    # Mon 23 Nov + the item's deferral days, in working days.
    assert answer.body["deferred_due_on"] == str(
        add_working_days(datetime(2026, 11, 23).date(), item.deferred_days)
    )
    # The event carries each material's stored scan: size and type, never the bytes.
    assert values["app_materials"][0]["content_type"] == "application/pdf"
