"""The one-time notice (一次性告知): every problem of a refused submission, at once."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from services.intake.db import (
    bound,
)
from services.intake.usecases.judging import Answer, Notify, SubmitApplication
from shared import clock
from shared.errors import (
    error_body,
)


def notice_of(command: SubmitApplication, verdict: Notify) -> tuple[Answer, dict[str, Any]]:
    clerk = command.clerk
    now = clock.now()
    notice_no = notice_number(clerk.locality, now)
    listed = [p.as_dict() for p in verdict.problems]
    notice = {
        "notice_no": notice_no,
        "item_code": verdict.item.item_code,
        "window_id": clerk.window_id,
        "receiving_locality": clerk.locality,
        "problems": listed,
        "issued_at": now,
    }
    answer = Answer(
        422,
        error_body(
            "incomplete_application",
            f"The application for {verdict.item.name} is incomplete: every problem is listed.",
            {"notice_no": notice_no, "problems": listed},
        ),
    )
    return answer, bound("notice_", notice)


def notice_number(locality: str, now: datetime) -> str:
    return f"N{locality}{now:%Y%m%d}{secrets.token_hex(4).upper()}"
