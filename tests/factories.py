"""Test data that never collides: applicants with valid, unique ID numbers, the clerks and
approvers who act on them, application bodies and the events one service hands the next.

Each value is drawn from one counter of the test session, so tests no longer keep their data
apart with hand-picked sequence numbers, and any test may run in any order."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from typing import Any

from services.intake.domain.judgement import application_number
from shared import clock
from shared.auth import Principal
from shared.identity import id_number_digest, mask_name, sample_resident_id
from shared.messaging import events
from shared.reference.catalog import get_item
from shared.workdays import add_working_days
from tooling.journey import ITEM_CODE, household_application

_counter = itertools.count(1)
# Far from the hand-picked numbers of older tests (1990-05-17, sequences 1–999): a factory's
# applicant is born on a day of its own from 1960 on, a thousand per day.
_FIRST_BIRTH = date(1960, 1, 1)


def unique() -> int:
    """The next number of this test session."""
    return next(_counter)


def resident_id(locality: str = "340104") -> str:
    """A valid resident ID number (check character included) no other call returns."""
    n = unique()
    return sample_resident_id(locality, _FIRST_BIRTH + timedelta(days=n // 1000), n % 1000)


def phone() -> str:
    return f"138{unique():08d}"


def applicant(locality: str = "340104", *, name: str = "张晓明") -> dict[str, Any]:
    """A person applying, as a window's request body carries them."""
    return {
        "kind": "person",
        "name": name,
        "id_type": "resident_id",
        "id_number": resident_id(locality),
        "phone": phone(),
        "locality": locality,
    }


def household_body(locality: str = "340104", **changes: Any) -> dict[str, Any]:
    """GA-HJ-001 for a new applicant: ID card checked, a commitment for the kinship proof, the
    household register copy deferred (容缺); `changes` replace top-level fields."""
    return {**household_application(applicant(locality)), **changes}


def application_no(receiving_locality: str = "341200") -> str:
    """An application number no other call returns, in intake's format."""
    return application_number(receiving_locality, clock.now().date(), unique())


def clerk(locality: str = "341200", window: int = 1) -> Principal:
    """A window clerk; each call is another person at that window."""
    return Principal(
        sub=f"clerk-{unique()}",
        role="window_clerk",
        locality=locality,
        window_id=f"W{locality}-{window:02d}",
    )


def approver(locality: str = "340100") -> Principal:
    """An approver of `locality`; each call is another person."""
    return Principal(sub=f"approver-{unique()}", role="approver", locality=locality)


def routed(
    competent_locality: str = "340100",
    *,
    receiving_locality: str = "341200",
    deferred: list[str] | None = None,
    accepted_at: datetime | None = None,
) -> events.ApplicationRouted:
    """An application of GA-HJ-001 as routing hands it to its competent locality."""
    item = get_item(ITEM_CODE)
    assert item is not None
    at = accepted_at or clock.now()
    deferred = list(deferred or [])
    return events.ApplicationRouted(
        application_no=application_no(receiving_locality),
        item_code=item.item_code,
        item_name=item.name,
        applicant=events.Applicant(**applicant(receiving_locality)),
        receiving_locality=receiving_locality,
        window_id=f"W{receiving_locality}-01",
        competent_locality=competent_locality,
        department=item.department,
        materials=[events.SubmittedMaterial(material_code="M01", sha256="a" * 64)],
        deferred=deferred,
        deferred_due_on=add_working_days(at.date(), 5) if deferred else None,
        delivery=events.Delivery(method="window_pickup"),
        accepted_at=at,
        promised_date=add_working_days(at.date(), item.promised_days),
        statutory_days=item.statutory_days,
        promised_days=item.promised_days,
        routed_at=at,
    )


def approved(
    holder_id_number: str,
    digest_key: bytes,
    *,
    window_id: str = "W341200-01",
    agent_id_number: str | None = None,
) -> events.ApplicationApproved:
    """An approval as delivery consumes it: the certificate to collect at `window_id`."""
    locality = window_id[1:7]
    return events.ApplicationApproved(
        application_no=application_no(locality),
        locality="340100",
        item_code=ITEM_CODE,
        item_name="户口迁移",
        decided_at=clock.now(),
        receiving_locality=locality,
        window_id=window_id,
        holder_name_masked=mask_name("张晓明"),
        holder_id_digest=id_number_digest(holder_id_number, digest_key),
        delivery=events.Delivery(method="window_pickup"),
        agent_name_masked=mask_name("李四") if agent_id_number else None,
        agent_id_digest=(
            id_number_digest(agent_id_number, digest_key) if agent_id_number else None
        ),
        certificate_no=f"CERT{unique():012d}",
    )
