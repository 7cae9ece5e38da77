"""What the console shows, gathered from the other services' REST APIs (with the operator's own
token, so each service applies its own access rules) and from Kafka (consumer lag, dead
letters). The console keeps no data and reads no service's tables."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from shared.i18n import HTTP_TAGS, _, current_locale
from shared.messaging import deadletters
from shared.messaging.lag import PartitionLag, committed_lag
from shared.settings import Settings

log = logging.getLogger(__name__)

# Consumer groups of the Tongban services (tongban.intake.progress, tongban.routing, ...).
OUTBOX_SERVICES = ("intake", "routing", "approval", "delivery")


class ServiceUnavailable(RuntimeError):
    """A service did not answer (or answered with a server error); the message says which."""


class Refused(RuntimeError):
    """A service refused the operator's request (4xx); its error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class OutboxView:
    service: str
    pending: int | None = None
    parked: int | None = None
    oldest_pending_seconds: float | None = None
    parked_events: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None


@dataclass(frozen=True)
class LedgerEntryView:
    entry: dict[str, Any]
    verified: bool
    # Appended after the last verification, which found nothing wrong: the next one checks it.
    pending: bool = False


@dataclass(frozen=True)
class ApplicationView:
    application: dict[str, Any]
    ledger: list[LedgerEntryView]
    ledger_ok: bool | None
    ledger_problem: str | None
    trace_id: str | None
    trace_url: str | None
    # When routing last verified its ledger, None before the first verification.
    ledger_verified_at: str | None = None


@dataclass(frozen=True)
class Overview:
    outboxes: list[OutboxView]
    lag: list[PartitionLag]
    lag_problem: str | None
    dead_letter_count: int | None
    dead_letter_problem: str | None
    # Routing's last verdict on its ledger; empty before the first verification, or when
    # routing did not answer.
    ledger: dict[str, Any]
    # `make run`'s processes as its supervisor last wrote them (name, state, restarts, last
    # exit); empty outside `make run` (Kubernetes shows restarts itself).
    processes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total_lag(self) -> int:
        return sum(partition.lag for partition in self.lag)


class Backend:
    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.http = http or httpx.AsyncClient(timeout=10)
        self.urls: Mapping[str, str] = {
            "intake": settings.intake_url,
            "routing": settings.routing_url,
            "approval": settings.approval_url,
            "delivery": settings.delivery_url,
        }

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _call(
        self,
        method: str,
        service: str,
        path: str,
        token: str,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        url = self.urls[service].rstrip("/") + path
        try:
            response = await self.http.request(
                method,
                url,
                params={k: v for k, v in (params or {}).items() if v is not None},
                # The services word their answers (a timeline's notes, an error's message) in
                # the operator's language too.
                headers={
                    "Authorization": f"Bearer {token}",
                    "Accept-Language": HTTP_TAGS[current_locale()],
                },
            )
        except httpx.HTTPError as error:
            raise ServiceUnavailable(
                _(
                    "The {service} service cannot be reached ({error}).",
                    service=service,
                    error=type(error).__name__,
                )
            ) from error
        if response.status_code >= 500:
            raise ServiceUnavailable(
                _(
                    "The {service} service failed (HTTP {status}).",
                    service=service,
                    status=response.status_code,
                )
            )
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            refusal = body.get("error", {}) if isinstance(body, dict) else {}
            raise Refused(
                response.status_code,
                str(refusal.get("code", "refused")),
                str(refusal.get("message", response.reason_phrase)),
            )
        return response.json()

    # --- 概览 ----------------------------------------------------------------------------------

    async def overview(self, token: str) -> Overview:
        """The outboxes, the consumer lag, how many dead letters wait, and routing's last verdict
        on its ledger (verified in the background, not recomputed here). What cannot be read is
        said, and the rest shown."""
        outboxes = await self.outboxes(token)
        lag, lag_problem = [], None
        try:
            lag = await self.consumer_lag()
        except Exception as error:
            lag_problem = _("Cannot read the consumer lag: {error}", error=type(error).__name__)
        dead_letter_count, dead_letter_problem = None, None
        try:
            dead_letter_count = len(await self.dead_letters(limit=10_000))
        except Exception as error:
            dead_letter_problem = _(
                "Cannot read the dead letters: {error}", error=type(error).__name__
            )
        ledger: dict[str, Any] = {}
        with contextlib.suppress(ServiceUnavailable, Refused):
            ledger = await self.ledger_verification(token)
        return Overview(
            processes=self.supervised_processes(),
            outboxes=outboxes,
            lag=lag,
            lag_problem=lag_problem,
            dead_letter_count=dead_letter_count,
            dead_letter_problem=dead_letter_problem,
            ledger=ledger,
        )

    def supervised_processes(self) -> list[dict[str, Any]]:
        """What `make run`'s supervisor last wrote (SUPERVISOR_STATE_FILE); empty when there is
        no such file or it cannot be read."""
        path = self.settings.supervisor_state_file
        if path is None:
            return []
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        processes = document.get("processes") if isinstance(document, dict) else None
        return [p for p in processes if isinstance(p, dict)] if isinstance(processes, list) else []

    # --- 办件查询 ------------------------------------------------------------------------------

    async def application(self, application_no: str, token: str) -> ApplicationView:
        """The application (status, timeline, trace id) from intake, and its audit-ledger
        entries from routing, each marked verified when routing's last verification (run in the
        background, shown with its time; not recomputed for a page view) checked up to it."""
        number = quote(application_no, safe="")
        application, ledger, verdict = await asyncio.gather(
            self._call("GET", "intake", f"/v1/applications/{number}", token),
            self._call("GET", "routing", f"/v1/audit/applications/{number}", token),
            self.ledger_verification(token),
        )
        first_bad = verdict.get("first_bad_seq")
        head = int(verdict.get("head_seq", 0))
        intact = verdict.get("ok") is True
        entries = [
            LedgerEntryView(
                entry,
                verified=entry["seq"] <= head and (first_bad is None or entry["seq"] < first_bad),
                pending=intact and entry["seq"] > head,
            )
            for entry in ledger.get("entries", [])
        ]
        trace_id = application.get("trace_id")
        return ApplicationView(
            application=application,
            ledger=entries,
            ledger_ok=verdict.get("ok"),
            ledger_problem=verdict.get("problem"),
            trace_id=trace_id,
            trace_url=self.trace_url(trace_id),
            ledger_verified_at=verdict.get("verified_at"),
        )

    async def ledger_verification(self, token: str) -> dict[str, Any]:
        """Routing's last verdict on its ledger; empty before the first verification."""
        try:
            verdict: dict[str, Any] = await self._call(
                "GET", "routing", "/v1/audit/verification", token
            )
        except Refused as refusal:
            if refusal.status == 404:
                return {}
            raise
        return verdict

    def trace_url(self, trace_id: str | None) -> str | None:
        base = self.settings.jaeger_ui_url
        if not (base and trace_id):
            return None
        return f"{base.rstrip('/')}/trace/{trace_id}"

    # --- 各地队列 ------------------------------------------------------------------------------

    async def queue(
        self, token: str, *, locality: str | None, overdue: bool | None
    ) -> list[dict[str, Any]]:
        page = await self._call(
            "GET",
            "approval",
            "/v1/ops/cases",
            token,
            {"locality": locality, "overdue": None if overdue is None else str(overdue).lower()},
        )
        cases: list[dict[str, Any]] = page.get("cases", [])
        return cases

    # --- outboxes, parked events ---------------------------------------------------------------

    async def bundles(self, token: str, *, status: str | None) -> list[dict[str, Any]]:
        """一件事: the bundle applications of the operator's locality, with their stuck members
        (intake decides which)."""
        answer = await self._call(
            "GET", "intake", "/v1/bundle-applications", token, {"status": status}
        )
        found: list[dict[str, Any]] = answer["bundles"]
        return found

    async def outboxes(self, token: str) -> list[OutboxView]:
        async def one(service: str) -> OutboxView:
            try:
                body = await self._call("GET", service, "/v1/ops/outbox", token)
            except (ServiceUnavailable, Refused) as error:
                return OutboxView(service, problem=str(error))
            return OutboxView(
                service,
                pending=body["pending"],
                parked=body["parked"],
                oldest_pending_seconds=body["oldest_pending_seconds"],
                parked_events=body["parked_events"],
            )

        return list(await asyncio.gather(*(one(service) for service in OUTBOX_SERVICES)))

    async def requeue(self, token: str, service: str, seq: int) -> None:
        if service not in OUTBOX_SERVICES:
            raise Refused(404, "unknown_service", _("No service {service}.", service=service))
        await self._call("POST", service, f"/v1/ops/outbox/{seq}/requeue", token)

    # --- Kafka: consumer lag, dead letters -----------------------------------------------------

    async def consumer_lag(self) -> list[PartitionLag]:
        """Committed offsets of the Tongban consumer groups against the partitions' end
        offsets (with the console's own Kafka credentials)."""
        return await committed_lag(self.settings)

    async def dead_letters(self, limit: int = 100) -> list[deadletters.DeadLetter]:
        letters = await deadletters.list_dead_letters(self.settings, limit=limit)
        return list(reversed(letters))  # the newest first

    async def replay(self, dead_letter_id: str) -> deadletters.ReplayResult:
        return await deadletters.replay(self.settings, dead_letter_id)
