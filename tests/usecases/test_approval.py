"""Approval's rules, called as its endpoints and consumers call them: cases opened once, claims
held and lapsing, decisions (补正 pausing the deadline clock, 容缺 needing an override), 移交."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from services.approval.db import CaseRow
from services.approval.seals import Seals
from services.approval.usecases.cases import claim_case, open_case, release_case
from services.approval.usecases.certificates import Issuer
from services.approval.usecases.decisions import (
    Decide,
    Transfer,
    decide,
    receive_supplement,
    transfer_case,
)
from shared import clock
from shared.auth import Principal
from shared.clock import FixedClock, use_clock
from shared.crypto.keyring import KeyRing
from shared.errors import Conflict, DomainError, Invalid, NotFound
from shared.messaging import events, topics
from shared.telemetry import Telemetry
from shared.vocabulary import CaseStatus, Decision
from tests import factories
from tests.usecases.conftest import DIGEST_KEY, Unit

LAPSE = timedelta(minutes=30)
HEFEI = "340100"

OPENED = events.CaseOpened.event_type


@pytest.fixture
def fixed_clock() -> Iterator[FixedClock]:
    # A Tuesday morning, China time: working days ahead.
    with use_clock(FixedClock(datetime(2026, 3, 3, 1, 0, tzinfo=UTC))) as fixed:
        assert isinstance(fixed, FixedClock)
        yield fixed


async def opened(approval: Unit, **routed: object) -> events.ApplicationRouted:
    application = factories.routed(HEFEI, **routed)  # type: ignore[arg-type]
    async with approval.transaction() as session:
        await open_case(session, approval.outbox, application)
    return application


async def claimed(approval: Unit, **routed: object) -> tuple[str, Principal]:
    application = await opened(approval, **routed)
    approver = factories.approver(HEFEI)
    async with approval.transaction() as session:
        await claim_case(session, application.application_no, approver, lapse=LAPSE)
    return application.application_no, approver


async def run_decision(
    approval: Unit, key_ring: KeyRing, telemetry: Telemetry, command: Decide
) -> CaseStatus:
    async with approval.transaction() as session:
        case = await decide(
            session,
            approval.outbox,
            command,
            digest_key=DIGEST_KEY,
            telemetry=telemetry,
            lapse=LAPSE,
            issuer=Issuer(Seals(key_ring)),
        )
    return case.status


async def case_row(approval: Unit, application_no: str) -> CaseRow:
    async with approval.transaction() as session:
        row = await session.get(CaseRow, application_no)
    assert row is not None
    return row


def code_of(error: pytest.ExceptionInfo[DomainError]) -> str:
    return error.value.code


async def test_a_routed_application_opens_one_case_however_often_it_arrives(
    approval: Unit,
) -> None:
    application = await opened(approval)
    async with approval.transaction() as session:
        await open_case(session, approval.outbox, application)

    row = await case_row(approval, application.application_no)
    assert (row.status, row.locality) == (CaseStatus.IN_REVIEW, HEFEI)
    assert await approval.events(application.application_no) == [(OPENED, topics.APPROVAL_EVENTS)]


async def test_an_approver_claims_a_case_and_another_is_refused(approval: Unit) -> None:
    application_no, _ = await claimed(approval)
    with pytest.raises(Conflict) as refused:
        async with approval.transaction() as session:
            await claim_case(session, application_no, factories.approver(HEFEI), lapse=LAPSE)
    assert code_of(refused) == "case_claimed"


async def test_another_localitys_approver_does_not_see_the_case(approval: Unit) -> None:
    application = await opened(approval)
    with pytest.raises(NotFound) as absent:
        async with approval.transaction() as session:
            await claim_case(
                session, application.application_no, factories.approver("341200"), lapse=LAPSE
            )
    assert code_of(absent) == "case_not_found"


async def test_only_the_holder_releases_and_then_another_may_claim(approval: Unit) -> None:
    application_no, holder = await claimed(approval)
    other = factories.approver(HEFEI)
    with pytest.raises(Conflict) as refused:
        async with approval.transaction() as session:
            await release_case(session, application_no, other, lapse=LAPSE)
    assert code_of(refused) == "not_claimed"

    async with approval.transaction() as session:
        await release_case(session, application_no, holder, lapse=LAPSE)
        case = await claim_case(session, application_no, other, lapse=LAPSE)
    assert case.claimed_by == other.sub


async def test_an_idle_claim_lapses_and_the_case_is_free_again(
    approval: Unit, fixed_clock: FixedClock
) -> None:
    application_no, _ = await claimed(approval)
    other = factories.approver(HEFEI)
    fixed_clock.advance(LAPSE - timedelta(minutes=1))
    with pytest.raises(Conflict):
        async with approval.transaction() as session:
            await claim_case(session, application_no, other, lapse=LAPSE)

    fixed_clock.advance(timedelta(minutes=2))
    async with approval.transaction() as session:
        case = await claim_case(session, application_no, other, lapse=LAPSE)
    assert case.claimed_by == other.sub


async def test_a_lapsed_holder_can_no_longer_decide(
    approval: Unit, key_ring: KeyRing, telemetry: Telemetry, fixed_clock: FixedClock
) -> None:
    application_no, holder = await claimed(approval)
    fixed_clock.advance(LAPSE + timedelta(minutes=1))
    with pytest.raises(Conflict) as refused:
        await run_decision(
            approval,
            key_ring,
            telemetry,
            Decide(application_no, Decision.REJECT, "材料不符", holder),
        )
    assert code_of(refused) == "not_claimed"


async def test_a_decision_needs_the_claim(
    approval: Unit, key_ring: KeyRing, telemetry: Telemetry
) -> None:
    application = await opened(approval)
    with pytest.raises(Conflict) as refused:
        await run_decision(
            approval,
            key_ring,
            telemetry,
            Decide(application.application_no, Decision.APPROVE, "", factories.approver(HEFEI)),
        )
    assert code_of(refused) == "not_claimed"


async def test_approving_issues_the_certificate_and_announces_it(
    approval: Unit, key_ring: KeyRing, telemetry: Telemetry
) -> None:
    application_no, holder = await claimed(approval)
    status = await run_decision(
        approval, key_ring, telemetry, Decide(application_no, Decision.APPROVE, "", holder)
    )

    row = await case_row(approval, application_no)
    assert (status, row.decision, row.decided_by) == (
        CaseStatus.APPROVED,
        Decision.APPROVE,
        holder.sub,
    )
    assert row.certificate_no
    assert events.ApplicationApproved.event_type in await approval.event_types(application_no)


async def test_a_rejection_must_give_its_reason(
    approval: Unit, key_ring: KeyRing, telemetry: Telemetry
) -> None:
    application_no, holder = await claimed(approval)
    with pytest.raises(Invalid) as refused:
        await run_decision(
            approval, key_ring, telemetry, Decide(application_no, Decision.REJECT, "  ", holder)
        )
    assert code_of(refused) == "reason_required"
    assert (await case_row(approval, application_no)).status == CaseStatus.IN_REVIEW


async def test_a_rejection_is_recorded_and_announced(
    approval: Unit, key_ring: KeyRing, telemetry: Telemetry
) -> None:
    application_no, holder = await claimed(approval)
    status = await run_decision(
        approval,
        key_ring,
        telemetry,
        Decide(application_no, Decision.REJECT, "不符合迁入条件", holder),
    )
    assert status == CaseStatus.REJECTED
    assert events.ApplicationRejected.event_type in await approval.event_types(application_no)


async def test_approving_with_deferred_materials_needs_an_override_reason(
    approval: Unit, key_ring: KeyRing, telemetry: Telemetry
) -> None:
    application_no, holder = await claimed(approval, deferred=["M02"])
    with pytest.raises(Conflict) as refused:
        await run_decision(
            approval, key_ring, telemetry, Decide(application_no, Decision.APPROVE, "", holder)
        )
    assert code_of(refused) == "deferred_outstanding"

    override = "申请人急需办理，承诺补交"
    await run_decision(
        approval,
        key_ring,
        telemetry,
        Decide(application_no, Decision.APPROVE, "", holder, override_reason=override),
    )
    row = await case_row(approval, application_no)
    assert (row.status, row.override_reason) == (CaseStatus.APPROVED, override)


async def test_requesting_a_supplement_names_materials_of_the_item(
    approval: Unit, key_ring: KeyRing, telemetry: Telemetry
) -> None:
    application_no, holder = await claimed(approval)
    for materials, code in (([], "materials_required"), (["M99"], "unknown_material")):
        with pytest.raises(Invalid) as refused:
            await run_decision(
                approval,
                key_ring,
                telemetry,
                Decide(application_no, Decision.REQUEST_SUPPLEMENT, "缺材料", holder, materials),
            )
        assert code_of(refused) == code


async def test_a_supplement_pauses_the_deadline_clock_until_every_material_is_in(
    approval: Unit, key_ring: KeyRing, telemetry: Telemetry, fixed_clock: FixedClock
) -> None:
    application_no, holder = await claimed(approval)
    deadline = (await case_row(approval, application_no)).deadline
    status = await run_decision(
        approval,
        key_ring,
        telemetry,
        Decide(
            application_no,
            Decision.REQUEST_SUPPLEMENT,
            "户口簿复印件不清晰",
            holder,
            ["M02", "M03"],
        ),
    )
    assert status == CaseStatus.SUPPLEMENT_REQUESTED
    fixed_clock.advance(timedelta(days=7))  # a whole week: five working days

    row = await case_row(approval, application_no)
    await hand_in(approval, row, ["M02"])
    assert (await case_row(approval, application_no)).status == CaseStatus.SUPPLEMENT_REQUESTED
    await hand_in(approval, row, ["M03"])

    row = await case_row(approval, application_no)
    assert (row.status, row.paused_working_days) == (CaseStatus.IN_REVIEW, 5)
    assert row.deadline > deadline
    assert await approval.event_types(application_no) == [
        OPENED,
        events.CaseSupplementRequested.event_type,
        events.CaseResumed.event_type,
    ]


async def hand_in(approval: Unit, row: CaseRow, codes: list[str]) -> None:
    supplement = events.SupplementRouted(
        application_no=row.application_no,
        item_code=row.item_code,
        materials=[events.SubmittedMaterial(material_code=c, sha256="b" * 64) for c in codes],
        receiving_locality="341200",
        window_id="W341200-01",
        competent_locality=row.locality,
        supplemented_at=clock.now(),
        routed_at=clock.now(),
    )
    async with approval.transaction() as session:
        await receive_supplement(session, approval.outbox, supplement)


async def test_a_deferred_material_handed_in_is_no_longer_outstanding(
    approval: Unit, key_ring: KeyRing, telemetry: Telemetry
) -> None:
    application_no, holder = await claimed(approval, deferred=["M02"])
    await hand_in(approval, await case_row(approval, application_no), ["M02"])
    assert (await case_row(approval, application_no)).deferred == []
    # ... so approving needs no override any more.
    status = await run_decision(
        approval, key_ring, telemetry, Decide(application_no, Decision.APPROVE, "", holder)
    )
    assert status == CaseStatus.APPROVED


async def test_a_transfer_hands_the_case_to_the_other_locality(approval: Unit) -> None:
    application_no, holder = await claimed(approval)
    async with approval.transaction() as session:
        case = await transfer_case(
            session,
            approval.outbox,
            Transfer(application_no, "340200", "属芜湖市管辖", holder),
            lapse=LAPSE,
        )
    assert (case.status, case.transferred_to) == (CaseStatus.TRANSFERRED, "340200")
    assert events.CaseTransferred.event_type in await approval.event_types(application_no)
    # The giving locality no longer sees it.
    with pytest.raises(NotFound):
        async with approval.transaction() as session:
            await claim_case(session, application_no, holder, lapse=LAPSE)


async def test_a_transfer_must_name_another_known_locality_and_a_reason(approval: Unit) -> None:
    application_no, holder = await claimed(approval)
    for to_locality, reason, code in (
        (HEFEI, "移交", "same_locality"),
        ("999999", "移交", "unknown_locality"),
        ("340200", " ", "reason_required"),
    ):
        with pytest.raises(Invalid) as refused:
            async with approval.transaction() as session:
                await transfer_case(
                    session,
                    approval.outbox,
                    Transfer(application_no, to_locality, reason, holder),
                    lapse=LAPSE,
                )
        assert [p["code"] for p in refused.value.details] == [code]
    assert (await case_row(approval, application_no)).status == CaseStatus.IN_REVIEW


async def test_a_transferred_case_routed_back_reopens_at_the_new_locality(approval: Unit) -> None:
    application = await opened(approval)
    holder = factories.approver(HEFEI)
    async with approval.transaction() as session:
        await claim_case(session, application.application_no, holder, lapse=LAPSE)
        await transfer_case(
            session,
            approval.outbox,
            Transfer(application.application_no, "340200", "属芜湖市管辖", holder),
            lapse=LAPSE,
        )
    rerouted = application.model_copy(update={"competent_locality": "340200"})
    async with approval.transaction() as session:
        await open_case(session, approval.outbox, rerouted)

    row = await case_row(approval, application.application_no)
    assert (row.status, row.locality, row.claimed_by) == (CaseStatus.IN_REVIEW, "340200", None)
    assert (await approval.event_types(application.application_no)).count(OPENED) == 2
