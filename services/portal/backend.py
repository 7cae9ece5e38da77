"""The portal's calls to intake's online routes (services/intake/applicant_api.py) and
delivery's holder routes (services/delivery/holder_api.py), with its own service credential
(role `portal`) and the applicant's keyed ID digest. The portal keeps no application and no
certificate; the services' answers are what the applicant sees."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx

from shared.auth import mint_token
from shared.i18n import HTTP_TAGS, _, current_locale
from shared.settings import Settings

MINTED_LIFETIME = timedelta(hours=1)


class ServiceUnavailable(RuntimeError):
    """Intake or delivery did not answer, or answered with a server error."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


class Backend:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._minted_at = 0.0
        self._token = ""
        self._http = httpx.AsyncClient(base_url=settings.intake_url, timeout=10.0)

    @property
    def token(self) -> str:
        """PORTAL_SERVICE_TOKEN; in development, a token the portal signs itself, made again
        well before it expires."""
        given = self.settings.portal_service_token
        if given is not None:
            return given.get_secret_value()
        if time.monotonic() - self._minted_at > MINTED_LIFETIME.total_seconds() / 2:
            self._token = mint_token(
                self.settings,
                role="portal",
                locality=self.settings.province,
                sub="portal",
                ttl=MINTED_LIFETIME,
            )
            self._minted_at = time.monotonic()
        return self._token

    async def aclose(self) -> None:
        await self._http.aclose()

    def _headers(self, applicant: str | None = None) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept-Language": HTTP_TAGS[current_locale()],
        }
        if applicant is not None:
            headers["X-Applicant-Digest"] = applicant
        return headers

    async def _call(self, method: str, path: str, **options: Any) -> Answer:
        try:
            response = await self._http.request(method, path, **options)
        except httpx.HTTPError as error:
            raise ServiceUnavailable(
                _("A service the portal needs could not be reached.")
            ) from error
        if response.status_code >= 500:
            raise ServiceUnavailable(
                _("A service the portal needs could not answer; try again shortly.")
            )
        body = response.json() if response.content else {}
        return Answer(response.status_code, body if isinstance(body, dict) else {"items": body})

    async def upload(self, window_id: str, filename: str, content: bytes) -> Answer:
        return await self._call(
            "POST",
            "/v1/online/materials",
            params={"window_id": window_id},
            files={"file": (filename, content)},
            headers=self._headers(),
        )

    async def submit(
        self, applicant: str, window_id: str, body: dict[str, Any], key: str | None = None
    ) -> Answer:
        headers = self._headers(applicant) | {"Idempotency-Key": key or str(uuid.uuid4())}
        return await self._call(
            "POST",
            "/v1/online/applications",
            params={"window_id": window_id},
            json=body,
            headers=headers,
        )

    async def submit_bundle(
        self, applicant: str, window_id: str, body: dict[str, Any], key: str
    ) -> Answer:
        """一件事: one combined notice or one receipt (intake's online_bundle_api.py)."""
        return await self._call(
            "POST",
            "/v1/online/bundle-applications",
            params={"window_id": window_id},
            json=body,
            headers=self._headers(applicant) | {"Idempotency-Key": key},
        )

    async def bundles(self, applicant: str) -> Answer:
        return await self._call(
            "GET", "/v1/online/bundle-applications", headers=self._headers(applicant)
        )

    async def bundle(self, applicant: str, bundle_no: str) -> Answer:
        return await self._call(
            "GET",
            f"/v1/online/bundle-applications/{quote(bundle_no, safe='')}",
            headers=self._headers(applicant),
        )

    async def applications(self, applicant: str) -> Answer:
        return await self._call("GET", "/v1/online/applications", headers=self._headers(applicant))

    async def application(self, applicant: str, application_no: str) -> Answer:
        return await self._call(
            "GET",
            f"/v1/online/applications/{quote(application_no, safe='')}",
            headers=self._headers(applicant),
        )

    async def supplement(
        self, applicant: str, application_no: str, materials: list[dict[str, Any]]
    ) -> Answer:
        return await self._call(
            "POST",
            f"/v1/online/applications/{quote(application_no, safe='')}/supplements",
            json={"materials": materials},
            headers=self._headers(applicant),
        )

    async def rate(self, applicant: str, application_no: str, score: int, comment: str) -> Answer:
        return await self._call(
            "POST",
            f"/v1/online/applications/{quote(application_no, safe='')}/evaluation",
            json={"score": score, "comment": comment},
            headers=self._headers(applicant),
        )

    async def certificates(self, applicant: str) -> list[dict[str, Any]]:
        """The applicant's own e-certificates, from delivery's holder route."""
        answer = await self._call(
            "GET",
            f"{self.settings.delivery_url}/v1/holder/certificates",
            headers=self._headers(applicant),
        )
        listed = answer.body.get("certificates", []) if answer.status == 200 else []
        return listed if isinstance(listed, list) else []

    async def certificate_pdf(self, applicant: str, certificate_no: str) -> bytes | None:
        try:
            response = await self._http.get(
                f"{self.settings.delivery_url}/v1/holder/certificates/"
                f"{quote(certificate_no, safe='')}.pdf",
                headers=self._headers(applicant),
            )
        except httpx.HTTPError as error:
            raise ServiceUnavailable(
                _("A service the portal needs could not be reached.")
            ) from error
        if response.status_code >= 500:
            raise ServiceUnavailable(
                _("A service the portal needs could not answer; try again shortly.")
            )
        return response.content if response.status_code == 200 else None
