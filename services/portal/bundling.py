"""一件事一次办 online: the bundles' guides (L0), the combined form (L3: the shared fields once,
each scan once, commitments, deferred materials and delivery as on an item's form), the combined
one-time notice on the same page or the bundle's receipt, and the applicant's own bundles (L2)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from services.portal.deps import BackendDep, Optional, SignedIn, check_csrf
from services.portal.pages import render
from services.portal.usecases import bundles, submission
from shared.errors import NotFound
from shared.i18n import _
from shared.reference.localities import LOCALITIES
from shared.reference.windows import window_registry

router = APIRouter()


@router.get("/bundles", summary="一件事一次办")
async def list_bundles(
    request: Request, session: Optional, q: Annotated[str, Query(max_length=64)] = ""
) -> HTMLResponse:
    return render(request, "bundles.html", session, bundles=bundles.search(q), query=q)


@router.get("/bundles/{bundle_id}", summary="一件事指南")
async def show_bundle(request: Request, bundle_id: str, session: Optional) -> HTMLResponse:
    return render(request, "bundle.html", session, guide=bundles.the_guide(bundle_id))


def _form_page(
    request: Request,
    session: Any,
    guide: bundles.BundleGuide,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    windows = sorted(
        window_registry(request.app.state.settings.windows_file).values(),
        key=lambda w: w.window_id,
    )
    return render(
        request,
        "bundle_apply.html",
        session,
        status,
        guide=guide,
        windows=windows,
        localities=LOCALITIES,
        key=context.pop("key", str(uuid.uuid4())),
        **context,
    )


@router.get("/bundles/{bundle_id}/apply", summary="一件事网上申报")
async def apply_form(request: Request, bundle_id: str, session: SignedIn) -> HTMLResponse:
    return _form_page(request, session, bundles.the_guide(bundle_id), filled={})


@router.post("/bundles/{bundle_id}/apply", summary="提交一件事申报")
async def apply(
    request: Request, bundle_id: str, session: SignedIn, backend: BackendDep
) -> Response:
    guide = bundles.the_guide(bundle_id)
    form = await request.form()
    check_csrf(session, str(form.get("csrf", "")))
    resident = request.app.state.signin.residents.find(session.applicant.id_digest)
    if resident is None:
        raise NotFound("unknown_resident", _("No registered resident for this sign-in."))
    scans: dict[str, submission.Scan] = {}
    for slot in guide.scans:
        upload = form.get(f"file_{slot.slot}")
        if isinstance(upload, UploadFile) and upload.filename:
            content = await upload.read()
            if content:
                scans[slot.slot] = submission.Scan(slot.name, upload.filename[:128], content)
    method = str(form.get("delivery_method", "window_pickup"))
    address = None
    if method == "postal":
        address = {
            "recipient": str(form.get("recipient", "")) or resident.name,
            "phone": str(form.get("address_phone", "")) or resident.phone,
            "locality": str(form.get("address_locality", "")),
            "line": str(form.get("address_line", "")),
        }
    filled = {
        shared.field: str(form.get(f"field_{shared.field}", "")).strip()[:200]
        for shared in guide.bundle.shared_fields
    }
    online = bundles.OnlineBundle(
        guide=guide,
        window_id=str(form.get("window_id", "")),
        optional={
            m.item.item_code
            for m in guide.members
            if not m.required and form.get(f"member_{m.item.item_code}") == "yes"
        },
        shared_fields=filled,
        scans=scans,
        commitments={s.slot for s in guide.scans if form.get(f"commit_{s.slot}") == "yes"},
        delivery_method=method,
        address=address,
        key=str(form.get("key", ""))[:64] or str(uuid.uuid4()),
    )
    outcome = await bundles.submit(backend, resident, session.applicant.id_digest, online)
    if outcome.bundle_no is not None:
        # One acceptance SMS for the bundle, by its number (its children are not texted alone).
        await request.app.state.notifier.submitted(
            outcome.bundle_no, session.applicant.id_digest, bundle_id, guide.bundle.name
        )
        return RedirectResponse(f"/bundle-applications/{outcome.bundle_no}", status_code=303)
    # The combined notice on the form, the fields kept; a new key: the corrected form is a new
    # submission, the notice stays on record.
    return _form_page(
        request,
        session,
        guide,
        422,
        outcome=outcome,
        filled=filled,
        chosen=online.window_id,
        optional=online.optional,
    )


@router.get("/bundle-applications/{bundle_no}", summary="一件事办件进度")
async def my_bundle(
    request: Request, bundle_no: str, session: SignedIn, backend: BackendDep
) -> HTMLResponse:
    found = await bundles.one(backend, session.applicant.id_digest, bundle_no)
    guide = bundles.guide(str(found.get("bundle_id", "")))
    names = {m.item.item_code: m.item.name for m in guide.members} if guide else {}
    return render(request, "bundle_application.html", session, bundle=found, names=names)
