"""My applications (我的办件): only the applicant's own, as intake answers for the keyed ID
digest; another applicant's number is 404 there, and so here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.portal.backend import Answer, Backend
from shared.errors import NotFound
from shared.i18n import _


def _not_found(application_no: str) -> NotFound:
    return NotFound(
        "application_not_found",
        _("No application {application_no}.", application_no=application_no),
    )


async def mine(backend: Backend, id_digest: str) -> list[dict[str, Any]]:
    answer = await backend.applications(id_digest)
    listed = answer.body.get("applications", [])
    return listed if isinstance(listed, list) else []


async def one(backend: Backend, id_digest: str, application_no: str) -> dict[str, Any]:
    answer = await backend.application(id_digest, application_no)
    if answer.status != 200:
        raise _not_found(application_no)
    return answer.body


@dataclass(frozen=True)
class Result:
    ok: bool
    message: str | None = None
    problems: list[dict[str, Any]] | None = None


def _result(answer: Answer, application_no: str) -> Result:
    if answer.status == 404:
        raise _not_found(application_no)
    if answer.status == 201:
        return Result(True)
    error = answer.body.get("error", {})
    details = error.get("details")
    problems = details.get("problems") if isinstance(details, dict) else details
    return Result(False, error.get("message"), problems if isinstance(problems, list) else None)


async def supplement(
    backend: Backend,
    id_digest: str,
    application_no: str,
    scans: list[tuple[str, str, bytes]],
    window_id: str,
) -> Result:
    """Upload each (material_code, filename, content) for the application's window, then hand
    them in as its supplement (补正 or 容缺)."""
    materials = []
    for code, filename, content in scans:
        uploaded = await backend.upload(window_id, filename, content)
        if uploaded.status != 201:
            return Result(False, uploaded.body.get("error", {}).get("message"))
        materials.append({"material_code": code, "sha256": uploaded.body["sha256"]})
    if not materials:
        return Result(False, _("Choose at least one file."))
    return _result(await backend.supplement(id_digest, application_no, materials), application_no)


async def rate(
    backend: Backend, id_digest: str, application_no: str, score: int, comment: str
) -> Result:
    answer = await backend.rate(id_digest, application_no, score, comment)
    return _result(answer, application_no)
