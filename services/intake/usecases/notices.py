"""The one-time notice (一次性告知): every problem of a refused application or supplement at once,
under a number the window prints it by and reads it back with (GET /v1/notices/{no}). Built
here only, for both."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from services.intake import domain
from shared import clock
from shared.auth import Principal
from shared.errors import error_body


@dataclass(frozen=True)
class OneTimeNotice:
    """A notice as it is stored (`row`: the columns of a NoticeRow) and as it is answered
    (`body`: the 422 incomplete_application error, whose details name it and list every
    problem)."""

    status_code: ClassVar[int] = 422

    row: dict[str, Any]
    body: dict[str, Any]


def one_time_notice(
    clerk: Principal, item_code: str, message: str, problems: Iterable[domain.Problem]
) -> OneTimeNotice:
    """The notice a window hands the applicant for `item_code`, issued now. `message` and the
    problems are answered in the request's language; the stored problems are translated again
    whenever the notice is read."""
    now = clock.now()
    notice_no = notice_number(clerk.locality, now)
    problems = list(problems)
    listed = [p.as_dict() for p in problems]
    row = {
        "notice_no": notice_no,
        "item_code": item_code,
        "window_id": clerk.window_id,
        "receiving_locality": clerk.locality,
        # Each problem's English source and parameters: read again in the reader's language.
        "problems": [p.stored() for p in problems],
        "issued_at": now,
    }
    body = error_body(
        "incomplete_application", message, {"notice_no": notice_no, "problems": listed}
    )
    return OneTimeNotice(row, body)


def problems_in(locale: str, stored: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """A stored notice's problems as `locale` reads them. Those of notices issued before
    problems were stored with their parameters are shown as they were written."""
    return [
        {
            **{name: value for name, value in problem.items() if name != "params"},
            "message": domain.shown_in(locale, problem["message"], problem.get("params")),
        }
        for problem in stored
    ]


def notice_number(locality: str, now: datetime) -> str:
    return f"N{locality}{now:%Y%m%d}{secrets.token_hex(4).upper()}"
