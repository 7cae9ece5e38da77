"""The application form of an item (L3): scans from the phone, commitments (告知承诺), deferred
materials (容缺: left empty where the guide allows), and delivery by post or pickup at a chosen
window of the province; the one-time notice on the same page when intake finds problems."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from services.portal.deps import BackendDep, SignedIn, check_csrf
from services.portal.pages import render
from services.portal.usecases import guides, submission, wallet
from shared.errors import NotFound
from shared.i18n import _
from shared.reference.catalog import CatalogItem, get_item
from shared.reference.localities import LOCALITIES
from shared.reference.windows import window_registry

router = APIRouter()


def _item(item_code: str) -> CatalogItem:
    item = get_item(item_code)
    if item is None:
        raise NotFound("unknown_item", _("No catalog item {item_code}.", item_code=item_code))
    return item


def _form_page(
    request: Request, session: Any, item: CatalogItem, status: int = 200, **context: Any
) -> HTMLResponse:
    windows = sorted(
        window_registry(request.app.state.settings.windows_file).values(),
        key=lambda w: w.window_id,
    )
    return render(
        request,
        "apply.html",
        session,
        status,
        guide=guides.guide(item.item_code, context.pop("own", None)),
        windows=windows,
        localities=LOCALITIES,
        key=context.pop("key", str(uuid.uuid4())),
        **context,
    )


@router.get("/guides/{item_code}/apply", summary="网上申报")
async def apply_form(
    request: Request, item_code: str, session: SignedIn, backend: BackendDep
) -> HTMLResponse:
    # 免证办: the applicant's own valid certificates are offered where they prove a material.
    own = await wallet.citable(backend, session.applicant.id_digest)
    return _form_page(request, session, _item(item_code), own=own)


@router.post("/guides/{item_code}/apply", summary="提交申报")
async def apply(
    request: Request, item_code: str, session: SignedIn, backend: BackendDep
) -> Response:
    item = _item(item_code)
    form = await request.form()
    check_csrf(session, str(form.get("csrf", "")))
    resident = request.app.state.signin.residents.find(session.applicant.id_digest)
    if resident is None:
        raise NotFound("unknown_resident", _("No registered resident for this sign-in."))
    scans = []
    for material in item.materials:
        upload = form.get(f"file_{material.material_code}")
        if isinstance(upload, UploadFile) and upload.filename:
            content = await upload.read()
            if content:
                scans.append(
                    submission.Scan(material.material_code, upload.filename[:128], content)
                )
    method = str(form.get("delivery_method", "window_pickup"))
    address = None
    if method == "postal":
        address = {
            "recipient": str(form.get("recipient", "")) or resident.name,
            "phone": str(form.get("address_phone", "")) or resident.phone,
            "locality": str(form.get("address_locality", "")),
            "line": str(form.get("address_line", "")),
        }
    online = submission.OnlineApplication(
        item=item,
        window_id=str(form.get("window_id", "")),
        scans=scans,
        commitments=[
            m.material_code
            for m in item.materials
            if m.commitment_allowed and form.get(f"commit_{m.material_code}") == "yes"
        ],
        certificates={
            m.material_code: str(form.get(f"cite_{m.material_code}"))
            for m in item.materials
            if form.get(f"cite_{m.material_code}")
        },
        delivery_method=method,
        address=address,
        key=str(form.get("key", ""))[:64] or str(uuid.uuid4()),
    )
    outcome = await submission.submit(backend, resident, session.applicant.id_digest, online)
    if outcome.application_no is not None:
        # Whose it is, and the acceptance's SMS (the portal's notifications).
        await request.app.state.notifier.submitted(
            outcome.application_no, session.applicant.id_digest, item.item_code, item.name
        )
        return RedirectResponse(f"/applications/{outcome.application_no}", status_code=303)
    # A new key: the corrected form is a new submission; the notice stays on record. The form
    # comes back with her certificates offered again and her window still chosen.
    own = await wallet.citable(backend, session.applicant.id_digest)
    return _form_page(
        request, session, item, 422, outcome=outcome, own=own, chosen=online.window_id
    )
