"""The error shape of API.md: `{"error": {"code", "message", "details"}}` for every 4xx/5xx.

Use cases raise `DomainError`s in their own words (`NotFound`, `Conflict`, `Forbidden`,
`Invalid`, `Unavailable`); they know nothing of HTTP. The mapping to status codes and to the
contract's body happens once, here. `Invalid` always carries its details as a list of problems
`[{"field" or "material_code", "code", "message"}]`, whichever service raises it.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    413: "payload_too_large",
    503: "unavailable",
}


class DomainError(Exception):
    """A use case's refusal: `code` is the contract's snake_case error code."""

    status_code: ClassVar[int] = 400

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class Forbidden(DomainError):
    status_code = 403


class Invalid(DomainError):
    """The input breaks a rule; `details` lists every problem."""

    status_code = 422

    @classmethod
    def of_field(cls, code: str, message: str, field: str) -> Invalid:
        return cls(code, message, [problem(code, message, field=field)])


class Unavailable(DomainError):
    """Something this answer needs is not there yet; the same request may succeed later."""

    status_code = 503


class ApiError(DomainError):
    """An error of the HTTP layer itself (authentication, request shape), status given."""

    def __init__(self, status_code: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(code, message, details)
        self.status_code = status_code  # type: ignore[misc]


def problem(
    code: str, message: str, *, field: str | None = None, material_code: str | None = None
) -> dict[str, str]:
    """One entry of an `Invalid` error's details (and of the one-time notice)."""
    where = {"material_code": material_code} if material_code else {"field": field or "body"}
    return {**where, "code": code, "message": message}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def _field_path(location: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "applicant", "id_number") -> "applicant.id_number"; headers keep their prefix.
    parts = [str(p) for p in location]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.details), exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "field": "body" if error["type"] == "json_invalid" else _field_path(error["loc"]),
                "code": error["type"],
                "message": error["msg"],
            }
            for error in exc.errors()
        ]
        if any(p["code"] == "json_invalid" for p in problems):
            return JSONResponse(
                error_body("malformed_json", "The request body is not valid JSON.", problems), 422
            )
        return JSONResponse(
            error_body("invalid_request", "The request has invalid fields.", problems), 422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        return JSONResponse(error_body(code, str(exc.detail)), exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def server_error(_: Request, exc: Exception) -> JSONResponse:
        # Logged in full for operators; the client never sees a stack trace.
        log.exception("unhandled error: %s", type(exc).__name__)
        return JSONResponse(error_body("internal_error", "Internal server error."), 500)
