"""The gateway's side, simulated: messages taken once per reference (a known reference answers
the same message id and sends nothing), the failures the control API orders (the next n sends
answer 503, or are taken but answered late), and the delivery reports posted to the report URL,
signed, again with backoff until taken."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from shared.sms import (
    MAX_REFERENCE_LENGTH,
    MAX_TEXT_LENGTH,
    MOBILE_NUMBER,
    SIGNATURE_HEADER,
    ReportStatus,
    report_signature,
)

log = logging.getLogger("tongban.sms_gateway")

DEFAULT_REPORT_DELAY_SECONDS = 0.2
# A report the receiver never takes is given up after this long (logged).
REPORT_GIVE_UP_SECONDS = 600.0
# The simulator keeps this many messages (the oldest go first): a long `make run` stays small.
MAX_MESSAGES = 10_000


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(pattern=MOBILE_NUMBER.pattern)
    text: str = Field(min_length=1, max_length=MAX_TEXT_LENGTH)
    reference: str = Field(min_length=1, max_length=MAX_REFERENCE_LENGTH)


@dataclass
class SimulatedMessage:
    message_id: str
    to: str
    text: str
    reference: str
    sent_at: datetime
    status: str = "accepted"
    # How often the reference was presented: 1 unless a sender retried.
    requests: int = 1
    reported: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "to": self.to,
            "text": self.text,
            "reference": self.reference,
            "status": self.status,
            "sent_at": self.sent_at.isoformat(),
            "requests": self.requests,
        }


class Gateway:
    def __init__(
        self,
        *,
        secret: bytes,
        report_url: str | None = None,
        report_delay_seconds: float = DEFAULT_REPORT_DELAY_SECONDS,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.secret = secret
        self.report_url = report_url
        self.report_delay_seconds = report_delay_seconds
        self.report_outcome: ReportStatus = "delivered"
        # Orders of the control API: the next `failing` sends answer 503 and take nothing; the
        # next `slow` sends are taken but answered after `slow_seconds`.
        self.failing = 0
        self.slow = 0
        self.slow_seconds = 0.0
        # By reference, oldest first.
        self.messages: OrderedDict[str, SimulatedMessage] = OrderedDict()
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        # Reports go out through this client (made at the first report unless given).
        self._http = http

    # -- orders of the control API -----------------------------------------------------------

    def fail_next(self, count: int) -> None:
        self.failing = count
        log.info("the next %d sends fail", count)

    def slow_next(self, count: int, seconds: float) -> None:
        self.slow, self.slow_seconds = count, seconds
        log.info("the next %d sends are answered after %.1f s", count, seconds)

    def take_failure(self) -> bool:
        """Whether this send is one of those told to fail (and counts it)."""
        if self.failing > 0:
            self.failing -= 1
            return True
        return False

    def take_delay(self) -> float:
        """How long to hold this send's answer (0: answer at once)."""
        if self.slow > 0:
            self.slow -= 1
            return self.slow_seconds
        return 0.0

    def reset(self) -> None:
        """Forget every message and order; the report URL stays (the launcher set it)."""
        for task in list(self._tasks):
            task.cancel()
        self.messages.clear()
        self.failing = self.slow = 0
        self.slow_seconds = 0.0
        self.report_outcome = "delivered"
        self.report_delay_seconds = DEFAULT_REPORT_DELAY_SECONDS
        log.info("reset")

    def listed(self, to: str | None = None, reference: str | None = None) -> list[dict[str, Any]]:
        return [
            m.as_json()
            for m in self.messages.values()
            if (to is None or m.to == to) and (reference is None or m.reference == reference)
        ]

    # -- messages -----------------------------------------------------------------------------

    async def accept(self, message: MessageIn) -> tuple[SimulatedMessage, bool]:
        """The message for this reference, and whether it is new (sent now)."""
        async with self._lock:
            known = self.messages.get(message.reference)
            if known is not None:
                known.requests += 1
                return known, False
            taken = SimulatedMessage(
                message_id="SM" + secrets.token_hex(8).upper(),
                to=message.to,
                text=message.text,
                reference=message.reference,
                sent_at=datetime.now(UTC),
            )
            self.messages[message.reference] = taken
            while len(self.messages) > MAX_MESSAGES:
                self.messages.popitem(last=False)
        log.info("message %s sent for %s", taken.message_id, taken.reference)
        # Its fate is the one ordered when it was sent: an order given later (POST
        # /control/reports) applies to the messages sent after it, not to a report still due.
        self._spawn(self._deliver(taken, self.report_outcome, self.report_delay_seconds))
        return taken, True

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- delivery reports -----------------------------------------------------------------------

    async def _deliver(
        self, message: SimulatedMessage, outcome: ReportStatus, delay_seconds: float
    ) -> None:
        await asyncio.sleep(delay_seconds)
        message.status = outcome
        if not self.report_url:
            return  # nobody to tell: the status shows in the control listing only
        body = json.dumps(
            {
                "message_id": message.message_id,
                "reference": message.reference,
                "status": message.status,
                "at": datetime.now(UTC).isoformat(),
            }
        ).encode()
        deadline = time.monotonic() + REPORT_GIVE_UP_SECONDS
        wait = 0.2
        while True:
            problem = await self._post_report(body)
            if problem is None:
                message.reported.append(message.status)
                return
            if time.monotonic() > deadline:
                log.error("report of %s given up: %s", message.message_id, problem)
                return
            log.info("report of %s not taken (%s); again", message.message_id, problem)
            await asyncio.sleep(wait)
            wait = min(wait * 2, 2.0)

    async def _post_report(self, body: bytes) -> str | None:
        """None when the receiver took the report; otherwise why not."""
        if not self.report_url:
            return "no report URL any more"
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: report_signature(self.secret, body),
        }
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=5)
        try:
            response = await self._http.post(self.report_url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return type(exc).__name__
        if 200 <= response.status_code < 300:
            return None
        return f"answered {response.status_code}"

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
