"""The JSON API's answers (`/v1/me/...`): the public contract of contracts/portal.md."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class MeOut(BaseModel):
    """Who is signed in, as much as an app needs: the assurance level reached (no ID number)."""

    level: Literal["L2", "L3"]


class ApplicationListed(BaseModel):
    application_no: str
    item_code: str
    status: str
    accepted_at: str


class ApplicationsOut(BaseModel):
    applications: list[ApplicationListed]
