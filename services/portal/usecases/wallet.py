"""The applicant's e-certificate wallet (电子证照), as delivery's registry holds it for the keyed
ID digest: to show or share with their verification codes, and to mark the materials of a
guide they prove (免证办)."""

from __future__ import annotations

import logging
from typing import Any

from services.portal.backend import Backend, ServiceUnavailable
from shared.errors import NotFound
from shared.i18n import _

log = logging.getLogger(__name__)


async def certificates(backend: Backend, id_digest: str) -> list[dict[str, Any]]:
    return await backend.certificates(id_digest)


async def citable(backend: Backend, id_digest: str) -> dict[str, str]:
    """{item_code: certificate_no} of the applicant's valid certificates (the newest of each
    item), what a guide's `certificate_items` may be proven by. Without delivery the guide and
    the form still serve, only without the marks (the applicant may still type a number)."""
    own: dict[str, str] = {}
    try:
        listed = await backend.certificates(id_digest)
    except ServiceUnavailable:
        log.warning("the wallet could not be read: guides shown without 免证办 marks")
        return own
    for held in listed:
        if held.get("valid"):
            own.setdefault(held["item_code"], held["certificate_no"])
    return own


async def pdf(backend: Backend, id_digest: str, certificate_no: str) -> bytes:
    content = await backend.certificate_pdf(id_digest, certificate_no)
    if content is None:
        raise NotFound(
            "certificate_not_found", _("No certificate {number}.", number=certificate_no)
        )
    return content
