"""A certificate's whole life through the real services: issued and sealed by approval,
verified at delivery (at its QR code's URL), cited by a later application instead of a scan
(免证办), revoked by its issuer and from then on neither valid nor citable; and a rejection's
sealed notice printed at the receiving window (not publicly verifiable). No event is made up
by the test: every one comes from the services."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests import factories
from tests.harness import Stack, eventually
from tests.integration.test_certificate_documents import pdf_text
from tooling.journey import (
    CITABLE_MATERIAL,
    Journey,
    household_application,
    household_application_citing,
    sample_pdf,
)

pytestmark = pytest.mark.integration

COUNTY = "340104"  # 蜀山区 (合肥): decides GA-HJ-002 for its residents
COUNTY_WINDOW = "W340104-01"


async def _issue_register_certificate(stack: Stack, applicant: dict[str, Any]) -> tuple[str, str]:
    """GA-HJ-002 (户口登记项目变更) handed in at the county's own window and approved there:
    the certificate number approval issues, and the verification URL its QR code carries (the
    window prints it)."""
    county = stack.journey(window_id=COUNTY_WINDOW, locality=COUNTY)
    scans = [
        await county.upload_scan(sample_pdf(f"GA-HJ-002 {code}")) for code in ("M01", "M02", "M03")
    ]
    response = await county.submit(
        {
            "item_code": "GA-HJ-002",
            "applicant": applicant,
            "materials": [
                {"material_code": code, "sha256": scan["sha256"], "original_verified": True}
                for code, scan in zip(("M01", "M02", "M03"), scans, strict=True)
            ],
            "commitments": ["M04"],
            "delivery": {"method": "window_pickup"},
        }
    )
    assert response.status_code == 201, response.text
    number = response.json()["application_no"]
    assert response.json()["competent_locality"] == COUNTY
    await county.approve(number, COUNTY)
    job = await county.wait_in_print_queue(number)
    certificate_no: str = job["certificate_no"]
    async with stack.client("delivery", county.clerk_token) as delivery:

        async def printed() -> httpx.Response | None:
            response = await delivery.get(f"/v1/certificates/{certificate_no}.pdf")
            return response if response.status_code == 200 else None

        pdf = await eventually(printed)
    assert isinstance(pdf, httpx.Response)
    return certificate_no, pdf.headers["X-Tongban-Verify-Url"]


async def _verify(stack: Stack, url: str) -> dict[str, Any]:
    """The public answer at a QR code's URL."""
    parts = urlsplit(url)
    async with stack.client("delivery") as delivery:
        response = await delivery.get(f"{parts.path}?{parts.query}")
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def _cite(journey: Journey, applicant: dict[str, Any], certificate_no: str) -> httpx.Response:
    return await journey.submit(household_application_citing(applicant, certificate_no))


async def test_an_issued_certificate_verifies_is_cited_instead_of_a_scan_and_revoked_no_longer(
    stack: Stack,
) -> None:
    applicant = factories.applicant(COUNTY)
    certificate_no, url = await _issue_register_certificate(stack, applicant)

    verified = await _verify(stack, url)
    assert verified["valid"] is True
    assert verified["issuer_locality"] == COUNTY
    assert verified["item_code"] == "GA-HJ-002"
    assert verified["holder_name_masked"] == "张**"

    # 免证办 at a 阜阳 window: the register copy is proven by the certificate, no scan of it.
    journey = stack.journey()

    async def accepted() -> httpx.Response | None:
        response = await _cite(journey, applicant, certificate_no)
        return response if response.status_code == 201 else None  # intake's replica may lag

    response = await eventually(accepted)
    assert isinstance(response, httpx.Response)
    cited = response.json()
    assert cited["deferred"] == []  # the register copy is not owed: the certificate stands in
    shown = await journey.application(cited["application_no"])
    assert [c["certificate_no"] for c in shown["certificates"]] == [certificate_no]
    assert [c["material_code"] for c in shown["certificates"]] == [CITABLE_MATERIAL]
    await journey.wait_for_case(cited["application_no"], "340100")

    # Someone else cannot cite it.
    stranger = factories.applicant(COUNTY)
    refused = await _cite(journey, stranger, certificate_no)
    assert refused.status_code == 422, refused.text
    codes = {p["code"] for p in refused.json()["error"]["details"]["problems"]}
    assert "certificate_not_applicants" in codes

    # The issuer revokes it: verification and citation both refuse it from then on.
    approver = stack.token("approver", COUNTY, sub="approver-340104")
    async with stack.client("approval", approver) as approval:
        revoked = await approval.post(
            f"/v1/certificates/{certificate_no}/revoke", json={"reason": "以欺骗手段取得"}
        )
    assert revoked.status_code == 200, revoked.text

    async def refused_as_revoked() -> dict[str, Any] | None:
        answer = await _verify(stack, url)
        return answer if answer["reason"] == "revoked" else None

    answer = await eventually(refused_as_revoked)
    assert isinstance(answer, dict) and answer["valid"] is False

    async def citation_refused() -> set[str] | None:
        response = await _cite(journey, applicant, certificate_no)
        if response.status_code != 422:
            return None
        return {p["code"] for p in response.json()["error"]["details"]["problems"]}

    later = await eventually(citation_refused)
    assert isinstance(later, set) and "certificate_revoked" in later


async def test_a_rejection_gives_a_sealed_notice_the_receiving_window_prints(
    stack: Stack, tmp_path: Path
) -> None:
    journey = stack.journey()
    applicant = factories.applicant()
    response = await journey.submit(household_application(applicant))
    assert response.status_code == 201, response.text
    number = response.json()["application_no"]
    await journey.wait_for_case(number, "340100")
    async with stack.client("approval", journey.approver_token("340100")) as approval:
        assert (await approval.post(f"/v1/cases/{number}/claim")).status_code == 200
        decided = await approval.post(
            f"/v1/cases/{number}/decision",
            json={"decision": "reject", "reason": "申请人不符合迁入条件"},
        )
        assert decided.status_code == 200, decided.text

    # The timeline names the sealed notice; the receiving window prints it.
    rejected = await journey.wait_for_status(number, "rejected")
    notes = [entry["note"] for entry in rejected["timeline"]]
    notice_no = next(
        n.split("不予许可决定书 ")[1].split()[0] for n in notes if "不予许可决定书" in n
    )

    async with stack.client("delivery", journey.clerk_token) as delivery:

        async def printed() -> httpx.Response | None:
            response = await delivery.get(f"/v1/certificates/{notice_no}.pdf")
            return response if response.status_code == 200 else None

        pdf = await eventually(printed)
    assert isinstance(pdf, httpx.Response)
    path = tmp_path / "notice.pdf"
    path.write_bytes(pdf.content)
    text = pdf_text(path)
    assert "不予许可决定书" in text
    assert "申请人不符合迁入条件" in text
    assert notice_no in text

    # The notice is the applicant's, not publicly verifiable: no QR code, and its number
    # answers what an unknown one does.
    assert "X-Tongban-Verify-Url" not in pdf.headers
    async with stack.client("delivery") as public:
        answer = await public.get(f"/v1/certificates/{notice_no}/verify")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "certificate_not_found"
