"""An applicant at the portal (全程网办) over HTTP, as `make demo` drives it: real-name sign-in
with the code the SMS gateway simulator was given (its control API), an online application from
the form the portal serves, and the applicant's own view of it through `/v1/me`. Only the
portal's public pages and API, and the simulator's control API: nothing of the service itself.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from tooling.journey import JourneyError, poll_until
from tooling.sms_gateway.control import SmsGatewayControl

COOKIE = "tongban_portal_session"
# Chinese, as a phone in the province asks.
CHINESE = {"Accept-Language": "zh-CN"}


def _field(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    if found is None:
        raise JourneyError(f"the portal's page has no field {name}")
    return found.group(1)


@dataclass
class OnlineApplicant:
    """One resident of the portal's registry, signing in and applying from a browser's forms."""

    portal_url: str
    sms: SmsGatewayControl
    id_number: str
    name: str
    phone: str
    http: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.AsyncClient(base_url=self.portal_url, headers=CHINESE, timeout=30)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def sign_in(self) -> str:
        """Level L3 (ID number, name, the code); the SMS that carried the code."""
        page = await self.http.post("/signin", data={"id_number": self.id_number})
        _expect(page, 200)
        challenge = _field(page.text, "challenge_id")

        async def sent() -> dict[str, Any] | None:
            messages = await self.sms.messages(to=self.phone, reference=challenge)
            return messages[0] if messages else None

        message = await poll_until(sent, within=15, failure="no SMS with a sign-in code")
        code = re.search(r"\d{6}", message["text"])
        if code is None:
            raise JourneyError(f"no code in the SMS: {message['text']}")
        answer = await self.http.post(
            "/signin/code",
            data={"challenge_id": challenge, "code": code.group(0), "name": self.name},
        )
        _expect(answer, 303)
        text: str = message["text"]
        return text

    async def apply(
        self,
        item_code: str,
        window_id: str,
        scans: dict[str, tuple[str, bytes]],
        *,
        commitments: tuple[str, ...] = (),
    ) -> str:
        """The item's form filled in and posted: scans by material, commitments, pickup at
        `window_id`. The application's number, or JourneyError with the one-time notice."""
        form = await self.http.get(f"/guides/{item_code}/apply")
        _expect(form, 200)
        data = {
            "csrf": _field(form.text, "csrf"),
            "key": str(uuid.uuid4()),
            "delivery_method": "window_pickup",
            "window_id": window_id,
            **{f"commit_{code}": "yes" for code in commitments},
        }
        files = {
            f"file_{code}": (filename, content, "application/pdf")
            for code, (filename, content) in scans.items()
        }
        answer = await self.http.post(f"/guides/{item_code}/apply", data=data, files=files)
        if answer.status_code != 303:
            notice = re.sub(r"<[^>]+>|\s+", " ", answer.text)
            raise JourneyError(f"the portal answered {answer.status_code}: {notice[-600:]}")
        return answer.headers["location"].rsplit("/", 1)[1]

    async def mine(self, application_no: str) -> dict[str, Any]:
        """The application as the applicant's app reads it (`/v1/me`, the session as bearer)."""
        token = self.http.cookies.get(COOKIE)
        answer = await self.http.get(
            f"/v1/me/applications/{application_no}",
            headers={"Authorization": f"Bearer {token}"},
        )
        _expect(answer, 200)
        found: dict[str, Any] = answer.json()
        return found

    async def texts_about(self, application_no: str, *, at_least: int = 1) -> list[str]:
        """The SMS sent to the applicant that name the application, once `at_least` came."""

        async def told() -> list[str] | None:
            texts = [
                str(m["text"])
                for m in await self.sms.messages(to=self.phone)
                if application_no in m["text"]
            ]
            return texts if len(texts) >= at_least else None

        return await poll_until(
            told, within=30, failure=f"fewer than {at_least} SMS about {application_no}"
        )


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise JourneyError(
            f"the portal's {response.request.method} {response.request.url.path} answered "
            f"{response.status_code}"
        )
