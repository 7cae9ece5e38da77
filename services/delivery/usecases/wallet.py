"""The applicant's own e-certificates (电子证照 wallet), for the portal: every certificate of the
registry whose holder is the ID number's keyed digest, with its state and its verification code
(made here if it was never printed) to show or share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.delivery.db import CertificateRow
from services.delivery.domain import verify_url
from services.delivery.usecases.documents import PublicKeys
from services.delivery.usecases.printing import lock_certificate, verification_code
from services.delivery.usecases.revocations import revocation
from shared import clock
from shared.crypto.personal import PersonalData

MAX_HELD = 200


@dataclass(frozen=True)
class Held:
    certificate_no: str
    application_no: str
    item_code: str
    item_name: str
    issuer_locality: str
    issued_on: date
    valid_until: date | None
    revoked: bool
    # Valid today: not revoked and not past its validity (what 免证办 may cite).
    valid: bool
    verification_code: str
    verify_url: str


async def held_by(
    session: AsyncSession,
    id_digest: str,
    *,
    personal: PersonalData,
    public_key: PublicKeys,
    public_base_url: str,
) -> list[Held]:
    rows = (
        await session.scalars(
            select(CertificateRow)
            .where(
                CertificateRow.kind == "certificate",
                CertificateRow.content["holder_id_digest"].as_string() == id_digest,
            )
            .order_by(CertificateRow.issued_on.desc(), CertificateRow.number)
            .limit(MAX_HELD)
        )
    ).all()
    today = clock.today()
    held = []
    for row in rows:
        if row.verification_code is None:  # made once: under the print's lock, read again
            await lock_certificate(session, row.number)
            await session.refresh(row)
        revoked = revocation(row, public_key) is not None
        code = verification_code(row, personal)
        held.append(
            Held(
                certificate_no=row.number,
                application_no=row.application_no,
                item_code=row.item_code,
                item_name=row.item_name,
                issuer_locality=row.issuer_locality,
                issued_on=row.issued_on,
                valid_until=row.valid_until,
                revoked=revoked,
                valid=not revoked and (row.valid_until is None or row.valid_until >= today),
                verification_code=code,
                verify_url=verify_url(public_base_url, row.number, code),
            )
        )
    return held
