"""一件事: one rating (好差评) for a whole bundle application, once every member is finished.
The applicant rates once; each department's member gets that rating (its own EvaluationRow and
ApplicationEvaluated, so each department's statistics count it), a withdrawn member none, and a
member cannot be rated on its own (evaluations.evaluate refuses it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import domain
from services.intake.bundle_db import BundleChildRow, ChildStatus
from services.intake.db import ApplicationRow
from services.intake.domain.bundles import OPEN
from services.intake.usecases import evaluations
from services.intake.usecases.bundle_queries import bundle_state
from shared import clock
from shared.auth import Principal
from shared.errors import Conflict
from shared.i18n import _
from shared.messaging.outbox import Outbox
from shared.vocabulary import ApplicationStatus


@dataclass(frozen=True)
class BundleEvaluation:
    bundle_no: str
    score: int
    comment: str
    evaluated_at: datetime
    rated: list[str]  # the members' application numbers that took the rating


async def evaluate_bundle(
    session: AsyncSession,
    outbox: Outbox,
    bundle_no: str,
    score: int,
    comment: str,
    by: Principal,
) -> BundleEvaluation:
    state = await bundle_state(session, bundle_no, by)  # NotFound unless the caller follows it
    children = (
        await session.scalars(
            select(BundleChildRow)
            .where(BundleChildRow.bundle_no == bundle_no, BundleChildRow.status != ChildStatus.HELD)
            .order_by(BundleChildRow.application_no)
        )
    ).all()
    applications = [await session.get(ApplicationRow, c.application_no) for c in children]
    unfinished = [
        a.application_no
        for a in applications
        if a is not None
        and a.status not in domain.FINISHED
        and a.status != ApplicationStatus.WITHDRAWN
    ]
    if state.status == OPEN or unfinished:
        raise Conflict(
            "not_finished",
            _("A bundle is rated once every member is delivered or rejected."),
            {"unfinished": unfinished},
        )
    rated = []
    for application in applications:
        if application is None or application.status not in domain.FINISHED:
            continue  # withdrawn: no department decided it
        command = evaluations.Evaluate(application.application_no, score, comment, by)
        await evaluations.record(session, outbox, application, command)
        rated.append(application.application_no)
    return BundleEvaluation(bundle_no, score, comment, clock.now(), rated)
