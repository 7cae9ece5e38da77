"""The reference journey through the public APIs only, as a window terminal, an approver and a
window clerk would drive it. `make demo` prints it; the end-to-end tests assert on it.

A 阜阳 (341200) window accepts a 合肥-registered resident's household item; 合肥 (340100)
approves remotely; the certificate is printed and handed over back at the 阜阳 window.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

import httpx

from shared.auth import mint_token
from shared.identity import sample_resident_id
from shared.settings import Settings

T = TypeVar("T")

WINDOW_ID = "W341200-01"
RECEIVING_LOCALITY = "341200"
ITEM_CODE = "GA-HJ-001"


def sample_applicant(locality: str = "340104", sequence: int = 1) -> dict[str, Any]:
    return {
        "kind": "person",
        "name": "张晓明",
        "id_type": "resident_id",
        "id_number": sample_resident_id(locality, date(1990, 5, 17), sequence),
        "phone": "13805510000",
        "locality": locality,
    }


def sample_pdf(text: str) -> bytes:
    """A small, valid one-page PDF showing `text` (ASCII): what a window's scanner would send,
    for the demo and the tests."""
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = f"BT /F1 18 Tf 72 720 Td ({escaped}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def scan_digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


# The scans of the reference journey: uploaded once (POST /v1/materials) before applications
# reference them by sha256.
ID_CARD_SCAN = sample_pdf("Resident identity card of the applicant (scan)")
HOUSEHOLD_REGISTER_SCAN = sample_pdf("Household register, copy (scan)")
AUTHORIZATION_SCAN = sample_pdf("Letter of authorization for an agent (scan)")
SAMPLE_SCANS = (ID_CARD_SCAN, HOUSEHOLD_REGISTER_SCAN, AUTHORIZATION_SCAN)


def household_application(applicant: Mapping[str, Any]) -> dict[str, Any]:
    """GA-HJ-001 with the ID card's original checked, a commitment instead of the kinship proof,
    and the household register copy deferred (容缺受理)."""
    return {
        "item_code": ITEM_CODE,
        "applicant": dict(applicant),
        "materials": [
            {
                "material_code": "M01",
                "sha256": scan_digest(ID_CARD_SCAN),
                "original_verified": True,
            }
        ],
        "commitments": ["M03"],
        "delivery": {"method": "window_pickup"},
    }


# 免证办: the household register copy of GA-HJ-001 may be proven by citing a certificate of
# 户口登记项目变更 (GA-HJ-002, the updated register page) instead of a scan.
CITABLE_MATERIAL = "M02"
CITABLE_CERTIFICATE_ITEM = "GA-HJ-002"


def household_application_citing(
    applicant: Mapping[str, Any], certificate_no: str
) -> dict[str, Any]:
    """household_application with the household register copy proven by the applicant's
    certificate `certificate_no` (免证办) instead of deferred: nothing is left to hand in."""
    body = household_application(applicant)
    body["materials"] = [
        *body["materials"],
        {"material_code": CITABLE_MATERIAL, "certificate_no": certificate_no},
    ]
    return body


class JourneyError(RuntimeError):
    pass


@dataclass
class Journey:
    """Drives one application from window to hand-over over HTTP."""

    settings: Settings
    urls: Mapping[str, str]  # service name -> base URL
    window_id: str = WINDOW_ID
    receiving_locality: str = RECEIVING_LOCALITY
    timeout: float = 30.0

    def _client(self, service: str, token: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.urls[service], headers={"Authorization": f"Bearer {token}"}, timeout=15
        )

    @property
    def clerk_token(self) -> str:
        return mint_token(
            self.settings,
            role="window_clerk",
            locality=self.receiving_locality,
            window_id=self.window_id,
        )

    def approver_token(self, locality: str) -> str:
        return mint_token(
            self.settings, role="approver", locality=locality, sub=f"approver-{locality}"
        )

    async def upload_scan(self, content: bytes, filename: str = "scan.pdf") -> dict[str, Any]:
        """Upload one scan at this window; the answer names it by sha256."""
        async with self._client("intake", self.clerk_token) as intake:
            response = await intake.post("/v1/materials", files={"file": (filename, content)})
            _expect(response, 201)
            stored: dict[str, Any] = response.json()
            return stored

    async def upload_sample_scans(self) -> None:
        for content in SAMPLE_SCANS:
            await self.upload_scan(content)

    async def submit(
        self, body: Mapping[str, Any], idempotency_key: str | None = None
    ) -> httpx.Response:
        async with self._client("intake", self.clerk_token) as intake:
            return await intake.post(
                "/v1/applications",
                json=dict(body),
                headers={"Idempotency-Key": idempotency_key or str(uuid.uuid4())},
            )

    async def application(self, application_no: str) -> dict[str, Any]:
        async with self._client("intake", self.clerk_token) as intake:
            response = await intake.get(f"/v1/applications/{application_no}")
            _expect(response, 200)
            result: dict[str, Any] = response.json()
            return result

    async def wait_for_status(self, application_no: str, status: str) -> dict[str, Any]:
        async def reached() -> dict[str, Any] | None:
            current = await self.application(application_no)
            return current if status in {e["status"] for e in current["timeline"]} else None

        return await poll_until(
            reached, within=self.timeout, failure=f"{application_no} never reached {status}"
        )

    async def wait_for_case(
        self, application_no: str, locality: str, service: str = "approval"
    ) -> dict[str, Any]:
        async with self._client(service, self.approver_token(locality)) as approval:

            async def opened() -> dict[str, Any] | None:
                response = await approval.get(f"/v1/cases/{application_no}")
                return response.json() if response.status_code == 200 else None

            return await poll_until(
                opened, within=self.timeout, failure=f"no case {application_no} at {service}"
            )

    async def approve(
        self,
        application_no: str,
        locality: str,
        service: str = "approval",
        *,
        override_reason: str = "容缺材料已承诺限期补交，不影响审批结论",
    ) -> dict[str, Any]:
        """Claim (again) and approve. The reference application defers M02 (容缺): approving
        before it comes is an explicit choice, on record as `override_reason`."""
        await self.wait_for_case(application_no, locality, service)
        async with self._client(service, self.approver_token(locality)) as approval:
            _expect(await approval.post(f"/v1/cases/{application_no}/claim"), 200)
            response = await approval.post(
                f"/v1/cases/{application_no}/decision",
                json={
                    "decision": "approve",
                    "reason": "材料齐全，符合规定",
                    "override_reason": override_reason,
                },
            )
            _expect(response, 200)
            decided: dict[str, Any] = response.json()
            return decided

    async def claim(self, application_no: str, locality: str, service: str = "approval") -> None:
        async with self._client(service, self.approver_token(locality)) as approval:
            _expect(await approval.post(f"/v1/cases/{application_no}/claim"), 200)

    async def request_supplement(
        self, application_no: str, locality: str, materials: list[str], reason: str
    ) -> dict[str, Any]:
        """补正: the approver (holding the case) asks for materials; the clock pauses."""
        async with self._client("approval", self.approver_token(locality)) as approval:
            response = await approval.post(
                f"/v1/cases/{application_no}/decision",
                json={"decision": "request_supplement", "materials": materials, "reason": reason},
            )
            _expect(response, 200)
            case: dict[str, Any] = response.json()
            return case

    async def hand_in_supplement(
        self, application_no: str, materials: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """Materials handed in at this journey's window."""
        async with self._client("intake", self.clerk_token) as intake:
            response = await intake.post(
                f"/v1/applications/{application_no}/supplements", json={"materials": materials}
            )
            _expect(response, 201)
            handed_in: dict[str, Any] = response.json()
            return handed_in

    async def read_scan(self, application_no: str, locality: str, sha256: str) -> bytes:
        """An approver of the competent locality downloads one of the case's scans."""
        async with self._client("approval", self.approver_token(locality)) as approval:
            response = await approval.get(f"/v1/cases/{application_no}/materials/{sha256}")
            _expect(response, 200)
            return response.content

    async def read_scan_on_request(
        self, application_no: str, locality: str, sha256: str
    ) -> tuple[str, bytes]:
        """A scan of a partner province's application (跨省通办): the first read asks that
        province for it (202, the message saying so), later reads return it once it crossed,
        checked against its digest. The first answer's message, and the bytes."""
        async with self._client("approval", self.approver_token(locality)) as approval:
            path = f"/v1/cases/{application_no}/materials/{sha256}"
            first = await approval.get(path)
            message = first.json().get("message", "") if first.status_code == 202 else ""
            if first.status_code == 200:
                return message, first.content

            async def arrived() -> bytes | None:
                response = await approval.get(path)
                if response.status_code == 202:
                    return None
                _expect(response, 200)
                return response.content

            content = await poll_until(
                arrived, within=self.timeout, failure=f"scan {sha256[:12]}… never crossed"
            )
            return message, content

    async def wait_for_case_status(
        self, application_no: str, locality: str, status: str, service: str = "approval"
    ) -> dict[str, Any]:
        async with self._client(service, self.approver_token(locality)) as approval:

            async def reached() -> dict[str, Any] | None:
                response = await approval.get(f"/v1/cases/{application_no}")
                case: dict[str, Any] = response.json()
                return case if response.status_code == 200 and case["status"] == status else None

            return await poll_until(
                reached, within=self.timeout, failure=f"case {application_no} never {status}"
            )

    async def wait_in_print_queue(self, application_no: str) -> dict[str, Any]:
        async with self._client("delivery", self.clerk_token) as delivery:

            async def queued() -> dict[str, Any] | None:
                cursor: str | None = None
                while True:  # page by page (at most 100 jobs each)
                    params = {"cursor": cursor} if cursor else {}
                    response = await delivery.get("/v1/print-queue", params=params)
                    _expect(response, 200)
                    page = response.json()
                    found = next(
                        (j for j in page["items"] if j["application_no"] == application_no), None
                    )
                    cursor = page["next_cursor"]
                    if found is not None or cursor is None:
                        return found

            return await poll_until(
                queued, within=self.timeout, failure=f"{application_no} never reached the queue"
            )

    async def hand_over(self, application_no: str, id_number: str) -> httpx.Response:
        async with self._client("delivery", self.clerk_token) as delivery:
            return await delivery.post(
                f"/v1/deliveries/{application_no}/handover", json={"recipient_id_number": id_number}
            )


async def poll_until(
    look: Callable[[], Awaitable[T | None]], *, within: float, failure: str, every: float = 0.2
) -> T:
    """Ask again until `look` finds something: events take a moment to cross the services."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = await look()
        if found is not None:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise JourneyError(f"{failure} (waited {within:.0f}s)")
        await asyncio.sleep(every)


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise JourneyError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:500]}"
        )
