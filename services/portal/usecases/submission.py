"""Online submission (网上申报): the applicant's scans uploaded for the window they chose, then
the application handed to intake, which judges it by its own rules. What comes back is intake's
answer: the acceptance, or the one-time notice (一次性告知) with every problem."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.portal.backend import Answer, Backend
from services.portal.residents import Resident
from shared.reference.catalog import CatalogItem


@dataclass(frozen=True)
class Scan:
    material_code: str
    filename: str
    content: bytes


@dataclass(frozen=True)
class OnlineApplication:
    """What the applicant filled in on the form."""

    item: CatalogItem
    window_id: str
    scans: list[Scan]
    commitments: list[str]
    # 免证办: material code -> the applicant's own certificate cited for it.
    certificates: dict[str, str]
    delivery_method: str
    address: dict[str, str] | None
    # The form's own key: submitting it twice (a double tap, a retry) is one application.
    key: str


@dataclass(frozen=True)
class Outcome:
    application_no: str | None = None
    # 一件事: the bundle's number (one receipt for its children).
    bundle_no: str | None = None
    # The one-time notice: every problem, as intake (or the upload) states it.
    problems: list[dict[str, Any]] = field(default_factory=list)
    notice_no: str | None = None
    message: str | None = None


async def submit(
    backend: Backend, resident: Resident, id_digest: str, form: OnlineApplication
) -> Outcome:
    problems: list[dict[str, Any]] = []
    materials: list[dict[str, Any]] = []
    for scan in form.scans:
        answer = await backend.upload(form.window_id, scan.filename, scan.content)
        if answer.status != 201:
            error = answer.body.get("error", {})
            problems.append(
                {"material_code": scan.material_code, "message": error.get("message", "")}
            )
            continue
        materials.append({"material_code": scan.material_code, "sha256": answer.body["sha256"]})
    if problems:
        return Outcome(problems=problems)
    materials += [
        {"material_code": code, "certificate_no": number}
        for code, number in form.certificates.items()
    ]
    delivery: dict[str, Any] = {"method": form.delivery_method}
    if form.address is not None:
        delivery["address"] = form.address
    body = {
        "item_code": form.item.item_code,
        "applicant": applicant_of(resident),
        "materials": materials,
        "commitments": form.commitments,
        "delivery": delivery,
    }
    answer = await backend.submit(id_digest, form.window_id, body, form.key)
    if answer.status == 201:
        return Outcome(application_no=answer.body["application_no"])
    return notice_of(answer)


def applicant_of(resident: Resident) -> dict[str, Any]:
    """The signed-in resident as intake's applicant: only they apply for themself online."""
    return {
        "kind": "person",
        "name": resident.name,
        "id_type": "resident_id",
        "id_number": resident.id_number,
        "phone": resident.phone,
        # The household's division: the first six digits of a resident ID number.
        "locality": resident.id_number[:6],
    }


def notice_of(answer: Answer) -> Outcome:
    """Intake's refusal as the page shows it: the one-time notice with every problem."""
    error = answer.body.get("error", {})
    details = error.get("details")
    notice = details if isinstance(details, dict) else {}
    listed = notice.get("problems") if notice else details
    return Outcome(
        problems=list(listed) if isinstance(listed, list) else [],
        notice_no=notice.get("notice_no") if notice else None,
        message=error.get("message"),
    )
