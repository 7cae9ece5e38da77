"""The applicant's rating of a finished application (好差评), and ratings per group."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import domain
from services.intake.db import ApplicationRow, EvaluationRow
from services.intake.usecases.queries import may_follow
from shared import clock
from shared.auth import Principal
from shared.db import insert_if_absent
from shared.errors import Conflict, NotFound
from shared.i18n import _
from shared.messaging import events
from shared.messaging.outbox import Outbox
from shared.reference.localities import LIKE_ESCAPE, within_pattern


@dataclass(frozen=True)
class Evaluate:
    """Command: the applicant rates a finished application at a window (好差评)."""

    application_no: str
    score: int
    comment: str
    by: Principal


@dataclass(frozen=True)
class Evaluation:
    """A rating as it was recorded."""

    application_no: str
    score: int
    comment: str
    evaluated_at: datetime


async def evaluate(session: AsyncSession, outbox: Outbox, command: Evaluate) -> Evaluation:
    application = await session.get(ApplicationRow, command.application_no)
    if application is None or not may_follow(command.by, application):
        raise NotFound(
            "application_not_found",
            _("No application {application_no}.", application_no=command.application_no),
        )
    if application.bundle_no is not None:
        # 一件事: one rating for the whole bundle (bundle_evaluation.py), not one per child.
        raise Conflict(
            "rate_the_bundle",
            _(
                "{application_no} is rated with its bundle {bundle_no}, once.",
                application_no=application.application_no,
                bundle_no=application.bundle_no,
            ),
        )
    return await record(session, outbox, application, command)


async def record(
    session: AsyncSession, outbox: Outbox, application: ApplicationRow, command: Evaluate
) -> Evaluation:
    """The rating of a finished application, once, announced (ApplicationEvaluated)."""
    if application.status not in domain.FINISHED:
        raise Conflict(
            "not_finished",
            _("An application is rated once it is delivered or rejected."),
            {"status": application.status},
        )
    evaluated_at = clock.now()
    evaluation = {
        "application_no": application.application_no,
        "score": command.score,
        "comment": command.comment,
        "item_code": application.item_code,
        "window_id": application.window_id,
        "receiving_locality": application.receiving_locality,
        "competent_locality": application.competent_locality,
        "evaluated_at": evaluated_at,
        "evaluated_by": command.by.sub,
    }
    if not await insert_if_absent(session, EvaluationRow, **evaluation):
        raise Conflict("already_evaluated", _("This application has been rated already."))
    rated = events.ApplicationEvaluated(
        application_no=application.application_no,
        item_code=application.item_code,
        receiving_locality=application.receiving_locality,
        window_id=application.window_id,
        competent_locality=application.competent_locality,
        score=command.score,
        has_comment=bool(command.comment.strip()),
        evaluated_at=evaluated_at,
    )
    await outbox.add(session, rated)
    return Evaluation(
        application_no=application.application_no,
        score=command.score,
        comment=command.comment,
        evaluated_at=evaluated_at,
    )


GROUPINGS = {
    "window": EvaluationRow.window_id,
    "locality": EvaluationRow.receiving_locality,
    "item": EvaluationRow.item_code,
}


async def evaluation_statistics(
    session: AsyncSession, viewer: Principal, by: str
) -> list[dict[str, Any]]:
    """Ratings per window, receiving locality or item, of the applications the viewer's
    locality received or decides."""
    key = GROUPINGS[by]
    pattern = within_pattern(viewer.locality)
    scores = [func.count().filter(EvaluationRow.score == n).label(f"s{n}") for n in range(1, 6)]
    rows = await session.execute(
        select(key, func.count(), func.avg(EvaluationRow.score), *scores)
        .where(
            or_(
                EvaluationRow.receiving_locality.like(pattern, escape=LIKE_ESCAPE),
                EvaluationRow.competent_locality.like(pattern, escape=LIKE_ESCAPE),
            )
        )
        .group_by(key)
        .order_by(key)
    )
    return [
        {
            "key": group,
            "count": count,
            "average": round(float(average), 2),
            "scores": {str(n): counts[n - 1] for n in range(1, 6)},
        }
        for group, count, average, *counts in rows
    ]
