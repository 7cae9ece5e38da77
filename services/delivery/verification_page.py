"""The public verification as a page for the citizen who scanned the QR code: the registry's
answer in words (有效, 已吊销 with the reason and date, 已过期, 未找到), the issuing office's
full name, the item's name, the holder's masked name and the dates, in Chinese (English on
Accept-Language: en). Programs keep the JSON answer: the page is served only when the request's
Accept ranks text/html above application/json, as a browser's does.

Every value is escaped by the template (Jinja autoescape): the item's name and the revocation's
reason come from the issuer, not from us. The page names no key id and links nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from babel.dates import format_date
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from starlette.requests import Request
from starlette.responses import Response

from services.delivery.usecases.verification import Verification
from shared.clock import CHINA_TZ
from shared.i18n import HTTP_TAGS, _, current_locale

templates = Jinja2Templates(
    env=Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True)
)

# The page loads nothing and may be framed by no one; its style is inline.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",  # the URL carries the verification code
    "Cache-Control": "no-store",  # every verification is counted, and a revocation shows at once
}
# One URL, two representations: caches must tell them apart.
VARY = {"Vary": "Accept, Accept-Language"}


# --- content negotiation ----------------------------------------------------------------------


def _quality(accept: str, media_type: str) -> float:
    """The q Accept gives `media_type`, by its most specific matching range (RFC 9110 12.5.1)."""
    kind = media_type.split("/")[0]
    specificity, quality = -1, 0.0
    for part in accept.split(","):
        media_range, _sep, params = part.partition(";")
        media_range = media_range.strip().lower()
        matches = {media_type: 2, f"{kind}/*": 1, "*/*": 0}
        if media_range not in matches or matches[media_range] <= specificity:
            continue
        specificity, quality = matches[media_range], 1.0
        for param in params.split(";"):
            name, _eq, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
    return quality


def wants_page(accept: str | None) -> bool:
    """True when Accept ranks text/html above application/json (a browser's); a program's
    (application/json, */*, or none) gets JSON."""
    if not accept:
        return False
    return _quality(accept, "text/html") > _quality(accept, "application/json")


# --- what the page says -----------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """One answer as the template shows it: `state` (a CSS class) and words for people."""

    state: str  # valid | revoked | expired | invalid | not_found | limited
    verdict: str
    explanation: str
    rows: list[tuple[str, str]] = field(default_factory=list)
    note: str | None = None


def _date(value: date | datetime) -> str:
    """A date as the reader writes it (2026年12月2日, or December 2, 2026), in China time."""
    if isinstance(value, datetime):
        value = value.astimezone(CHINA_TZ).date()
    return format_date(value, format="long", locale=current_locale())


def _flaw(reason: str | None) -> str:
    """Why a certificate whose seal or revocation does not hold vouches for nothing."""
    explanations = {
        "signature_invalid": _(
            "The registry's record does not match the issuing office's seal: it may have been "
            "altered."
        ),
        "unknown_seal": _("The certificate carries a seal the registry does not know."),
        "not_issuers_seal": _("The certificate carries a seal that is not its issuing office's."),
        "seal_revoked": _("The seal on the certificate was not in use on the day of issue."),
        "revocation_invalid": _(
            "The record of this certificate's revocation was altered: its state cannot be "
            "confirmed."
        ),
    }
    return explanations.get(reason or "", _("The certificate does not verify."))


def _details(result: Verification) -> list[tuple[str, str]]:
    rows = [
        (_("Certificate number"), result.number),
        (_("Item"), result.item_name or ""),
        (_("Holder"), result.holder_name_masked or ""),
        (_("Issued by"), result.issuer_name or ""),
    ]
    if result.issued_at is not None:
        rows.append((_("Issued on"), _date(result.issued_at)))
    valid_until = _date(result.valid_until) if result.valid_until else _("No expiry")
    rows.append((_("Valid until"), valid_until))
    if result.reason == "revoked":
        if result.revoked_at is not None:
            rows.append((_("Revoked on"), _date(result.revoked_at)))
        rows.append((_("Reason for revocation"), result.revoked_reason or ""))
    return rows


def answer_page(result: Verification) -> Page:
    """The registry's answer about a certificate asked with its number and code."""
    note = _("Verified {count} times, this time included.", count=result.verifications or 1)
    if result.valid:
        verdict, state = _("Valid"), "valid"
        explanation = _("This certificate is genuine and in force, as the registry holds it.")
    elif result.reason == "revoked":
        verdict, state = _("Revoked"), "revoked"
        explanation = _("The issuing office revoked this certificate: it is no longer valid.")
    elif result.reason == "expired":
        verdict, state = _("Expired"), "expired"
        explanation = _("This certificate's validity has ended.")
    else:
        # The row vouches for nothing: no details, whatever it holds.
        return Page("invalid", _("Not valid"), _flaw(result.reason), note=note)
    return Page(state, verdict, explanation, _details(result), note)


def not_found_page() -> Page:
    # The same words whatever was asked (as the JSON answer): nothing tells a registered
    # number from an unknown one.
    return Page(
        "not_found",
        _("Not found"),
        _(
            "No certificate matches this number and verification code. Scan the QR code on "
            "the certificate again, or ask the issuing office."
        ),
    )


def limited_page(retry_after: int) -> Page:
    return Page(
        "limited",
        _("Too many verifications"),
        _(
            "Too many verifications from this address; try again in {seconds} s.",
            seconds=retry_after,
        ),
    )


def render(request: Request, page: Page, status_code: int = 200) -> Response:
    """The page as HTML, in the request's language."""
    headers = {**PAGE_HEADERS, **VARY}
    return templates.TemplateResponse(
        request,
        "verification.html",
        {
            "lang": HTTP_TAGS[current_locale()],
            "title": _("Certificate verification"),
            "footer": _(
                "The answer comes from the province's certificate registry, checked against "
                "the issuing office's seal at this moment."
            ),
            "page": page,
        },
        status_code=status_code,
        headers=headers,
    )
