"""Intake's rules at the window, called as its endpoints and consumers call them: an application
judged at intake (accepted with its commitments and 容缺 materials, or a one-time notice listing
every problem, or refused), and the supplements handed in for it afterwards."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from services.intake.db import ApplicationNumbers, ApplicationRow, NoticeRow
from services.intake.schemas import ApplicationIn, SupplementIn
from services.intake.usecases.catalog import Catalog
from services.intake.usecases.judging import Answer, SubmitApplication
from services.intake.usecases.notices import OneTimeNotice
from services.intake.usecases.progress import record_progress
from services.intake.usecases.scans import ScanRegistry
from services.intake.usecases.submission import submit_application
from services.intake.usecases.supplements import (
    HandInSupplement,
    SupplementTaken,
    hand_in_supplement,
)
from shared import clock
from shared.auth import Principal
from shared.errors import Conflict, Forbidden
from shared.jurisdiction import Agreement, JurisdictionRule, RuleBook
from shared.messaging import events, topics
from shared.reference.catalog import CATALOG
from shared.vocabulary import ApplicationStatus, Right
from tests import factories
from tests.usecases.conftest import DIGEST_KEY, Unit
from tooling.journey import HOUSEHOLD_REGISTER_SCAN, ID_CARD_SCAN, sample_pdf, scan_digest

FUYANG, HEFEI = "341200", "340100"
RULES = RuleBook.of(
    [
        JurisdictionRule(item.item_code, item.jurisdiction, item.competent_level, item.department)
        for item in CATALOG
    ],
    # 合肥 lets 阜阳's windows act for it on every item (GA-HJ-001 of a 合肥 applicant).
    [Agreement(HEFEI, FUYANG, ("*",), frozenset(Right), id="a1")],
)
CATALOG_NOW = Catalog.fixed({item.item_code: item for item in CATALOG})
# The kinship proof (M03), promised by commitment at the window and asked for by 补正.
KIN_PROOF_SCAN = sample_pdf("Proof of kinship (scan)")
ACCEPTED = events.ApplicationAccepted.event_type
SUPPLEMENTED = events.ApplicationSupplemented.event_type


class Window:
    """One window of a test: its clerk, the scans it uploaded, and intake's collaborators."""

    def __init__(self, intake: Unit, clerk: Principal) -> None:
        self.intake = intake
        self.clerk = clerk
        self.scans = ScanRegistry(intake.db)
        for content in (ID_CARD_SCAN, HOUSEHOLD_REGISTER_SCAN, KIN_PROOF_SCAN):
            assert clerk.window_id is not None
            self.scans.remember(scan_digest(content), clerk.window_id, 1000, "application/pdf")

    async def submit(self, body: dict[str, Any], key: str = "") -> Answer:
        command = SubmitApplication(
            ApplicationIn.model_validate(body), self.clerk, key or f"key-{factories.unique()}"
        )
        return await submit_application(
            self.intake.db,
            command,
            outbox=self.intake.outbox,
            catalog=CATALOG_NOW,
            rules=RULES,
            numbers=ApplicationNumbers(self.intake.db),
            scans=self.scans,
            digest_key=DIGEST_KEY,
        )

    async def supplement(
        self, application_no: str, *materials: tuple[str, bytes]
    ) -> SupplementTaken | OneTimeNotice:
        body = SupplementIn.model_validate(
            {"materials": [{"material_code": c, "sha256": scan_digest(s)} for c, s in materials]}
        )
        async with self.intake.transaction() as session:
            return await hand_in_supplement(
                session,
                HandInSupplement(application_no, body, self.clerk),
                outbox=self.intake.outbox,
                catalog=CATALOG_NOW,
                rules=RULES,
                scans=self.scans,
            )


@pytest.fixture
def window(intake: Unit) -> Window:
    return Window(intake, factories.clerk(FUYANG))


async def application(intake: Unit, application_no: str) -> ApplicationRow:
    async with intake.transaction() as session:
        row = await session.get(ApplicationRow, application_no)
    assert row is not None
    return row


async def notices(intake: Unit) -> int:
    return int(await intake.connection.scalar(select(func.count()).select_from(NoticeRow)) or 0)


async def accepted(window: Window) -> str:
    answer = await window.submit(factories.household_body("340104"))
    assert answer.status_code == 201, answer.body
    return str(answer.body["application_no"])


async def test_a_complete_application_is_accepted_with_its_deferred_material_and_announced(
    intake: Unit, window: Window
) -> None:
    answer = await window.submit(factories.household_body("340104"))

    assert answer.status_code == 201
    body = answer.body
    assert (body["status"], body["competent_locality"], body["deferred"]) == (
        ApplicationStatus.ACCEPTED,
        HEFEI,
        ["M02"],
    )
    assert body["deferred_due_on"] is not None
    row = await application(intake, body["application_no"])
    # The kinship proof promised by commitment (告知承诺), the register copy deferred (容缺).
    assert (row.window_id, row.commitments, row.deferred) == (
        window.clerk.window_id,
        ["M03"],
        ["M02"],
    )
    assert await intake.events(body["application_no"]) == [(ACCEPTED, topics.INTAKE_EVENTS)]


async def test_a_retry_with_the_same_key_gets_the_first_answer_and_writes_nothing_more(
    intake: Unit, window: Window
) -> None:
    body = factories.household_body("340104")
    first = await window.submit(body, key="retry-me")
    again = await window.submit(body, key="retry-me")

    assert again == first
    assert await intake.event_types() == [ACCEPTED]


async def test_a_key_reused_for_another_application_is_refused(window: Window) -> None:
    await window.submit(factories.household_body("340104"), key="reused")
    with pytest.raises(Conflict) as refused:
        await window.submit(factories.household_body("340104"), key="reused")
    assert refused.value.code == "idempotency_key_reused"


async def test_an_incomplete_application_gets_one_notice_listing_every_problem(
    intake: Unit, window: Window
) -> None:
    body = factories.household_body("340104", materials=[], commitments=[])
    body["applicant"]["locality"] = "349999"

    answer = await window.submit(body)

    assert answer.status_code == 422
    assert answer.body["error"]["code"] == "incomplete_application"
    problems = {
        (p.get("field"), p.get("material_code"), p["code"])
        for p in answer.body["error"]["details"]["problems"]
    }
    assert ("applicant.locality", None, "unknown_locality") in problems
    assert {code for _, material, code in problems if material} >= {"material_missing"}
    assert await notices(intake) == 1
    assert await intake.event_types() == []  # nothing accepted, nothing announced


async def test_a_window_without_an_agreement_may_not_accept_for_another_city(
    intake: Unit,
) -> None:
    # 芜湖's window, a 合肥 application: no agreement lets 芜湖 act for 合肥.
    wuhu = Window(intake, factories.clerk("340200"))
    with pytest.raises(Forbidden) as refused:
        await wuhu.submit(factories.household_body("340104"))
    assert refused.value.code == "no_accept_right"
    assert await intake.event_types() == []


async def test_the_deferred_material_handed_in_later_is_taken_and_announced(
    intake: Unit, window: Window
) -> None:
    application_no = await accepted(window)

    taken = await window.supplement(application_no, ("M02", HOUSEHOLD_REGISTER_SCAN))

    assert isinstance(taken, SupplementTaken)
    assert (taken.materials, taken.deferred) == (["M02"], [])
    assert (await application(intake, application_no)).deferred == []
    assert await intake.event_types(application_no) == [ACCEPTED, SUPPLEMENTED]


async def test_a_supplement_nobody_expects_is_refused(window: Window) -> None:
    application_no = await accepted(window)
    await window.supplement(application_no, ("M02", HOUSEHOLD_REGISTER_SCAN))
    with pytest.raises(Conflict) as refused:
        await window.supplement(application_no, ("M02", HOUSEHOLD_REGISTER_SCAN))
    assert refused.value.code == "no_supplement_expected"


async def test_a_supplement_citing_a_scan_never_uploaded_gets_a_notice_and_changes_nothing(
    intake: Unit, window: Window
) -> None:
    application_no = await accepted(window)

    outcome = await window.supplement(application_no, ("M02", b"never uploaded"))

    assert isinstance(outcome, OneTimeNotice)
    assert {p["code"] for p in outcome.body["error"]["details"]["problems"]} == {
        "scan_not_uploaded"
    }
    assert (await application(intake, application_no)).deferred == ["M02"]
    assert await intake.event_types(application_no) == [ACCEPTED]


async def test_a_window_of_a_locality_without_the_notify_right_may_not_take_a_supplement(
    intake: Unit, window: Window
) -> None:
    application_no = await accepted(window)
    wuhu = Window(intake, factories.clerk("340200"))
    with pytest.raises(Forbidden) as refused:
        await wuhu.supplement(application_no, ("M02", HOUSEHOLD_REGISTER_SCAN))
    assert refused.value.code == "no_notify_right"


async def test_requested_materials_are_taken_at_the_window_and_the_request_is_met(
    intake: Unit, window: Window
) -> None:
    application_no = await accepted(window)
    # Routing's fact, then the competent locality's 补正, as intake's consumers record them.
    now = clock.now()
    async with intake.transaction() as session:
        await record_progress(
            session,
            events.Routed(
                application_no=application_no,
                competent_locality=HEFEI,
                department="公安局",
                receiving_locality=FUYANG,
                routed_at=now,
            ),
            now,
        )
        await record_progress(
            session,
            events.CaseSupplementRequested(
                application_no=application_no,
                locality=HEFEI,
                materials=["M03"],
                reason="亲属关系证明需补交",
                requested_at=now,
            ),
            now,
        )
    assert (await application(intake, application_no)).status == (
        ApplicationStatus.SUPPLEMENT_REQUESTED
    )

    taken = await window.supplement(application_no, ("M03", KIN_PROOF_SCAN))

    assert isinstance(taken, SupplementTaken)
    assert (taken.requested_materials, taken.deferred) == ([], ["M02"])
    after = await application(intake, application_no)
    assert after.requested_materials is None
    # 补正材料已提交: the answer says so until the competent locality resumes its review.
    assert taken.status == after.status == ApplicationStatus.SUPPLEMENT_SUBMITTED
